/** Scenario tests for the lease lifecycle: TTL, keep-alive, release, cancel, idempotency. */
import { CoreError, Scheduler, type CoreEvent } from "../../coordinator/core/index.js";
import { acq, FakeClock, gpu, harness, leaseOf, slot } from "./helpers.js";

describe("TTL and keep-alive", () => {
  test("a dead holder's VRAM comes back exactly at its TTL and goes to the next waiter", () => {
    const h = harness([gpu("a/0", 8192)]);
    const a = h.s.acquire({ requestId: "a", holderId: "dead", slot: slot(8192), ttlMs: 5000 });
    const b = acq(h, 8192);
    expect(b.result.kind).toBe("queued");
    expect(h.s.nextDeadline()).toBe(h.clock.t + 5000);
    h.take();
    h.clock.tick(4999);
    h.s.advance();
    expect(h.take()).toEqual([]);
    h.clock.tick(1);
    h.s.advance();
    const ev = h.take();
    expect(ev.map((e) => e.type)).toEqual(["released", "granted"]);
    expect(ev[0]).toMatchObject({
      reason: "expired",
      lease: { leaseId: a.kind === "granted" && a.lease.leaseId },
    });
    expect(ev[1]).toMatchObject({ lease: { requestId: b.requestId }, waitedMs: 5000 });
  });

  test("keepAlive extends by the lease's TTL; keepAliveHolder renews all of a holder's leases", () => {
    const h = harness([gpu("a/0", 16384)]);
    const x = h.s.acquire({ requestId: "x", holderId: "hx", slot: slot(1024), ttlMs: 2000 });
    const y = h.s.acquire({ requestId: "y", holderId: "hx", slot: slot(1024), ttlMs: 10_000 });
    const z = h.s.acquire({ requestId: "z", holderId: "other", slot: slot(1024), ttlMs: 2000 });
    if (x.kind !== "granted" || y.kind !== "granted" || z.kind !== "granted")
      throw new Error("grant");
    h.clock.tick(1500);
    expect(h.s.keepAlive(x.lease.leaseId).expiresAt).toBe(h.clock.t + 2000);
    h.clock.tick(1500);
    expect(h.s.keepAliveHolder("hx")).toBe(2);
    expect(h.s.keepAliveHolder("nobody")).toBe(0);
    h.clock.tick(1000);
    h.s.advance();
    expect(
      h.s
        .leases()
        .map((l) => l.requestId)
        .sort(),
    ).toEqual(["x", "y"]); // z expired
    expect(() => h.s.keepAlive(z.lease.leaseId)).toThrow(
      expect.objectContaining({ code: "not-found" }),
    );
  });

  test("a call after the TTL sees the lease gone even before the server's timer fires", () => {
    const h = harness([gpu("a/0", 8192)]);
    const a = h.s.acquire({ requestId: "a", holderId: "h", slot: slot(8192), ttlMs: 1000 });
    h.clock.tick(1000);
    const b = acq(h, 8192);
    expect(b.result.kind).toBe("granted");
    expect(() => h.s.keepAlive(a.kind === "granted" ? a.lease.leaseId : "")).toThrow(CoreError);
  });

  test("ttl bounds are enforced; 0 means the default", () => {
    const h = harness([gpu("a/0", 8192)], { defaultTtlMs: 7000, minTtlMs: 1000, maxTtlMs: 60_000 });
    const r = h.s.acquire({ requestId: "a", holderId: "h", slot: slot(1), ttlMs: 0 });
    expect(r.kind === "granted" && r.lease.ttlMs).toBe(7000);
    for (const ttlMs of [999, 60_001, 1.5, -5, NaN])
      expect(() => h.s.acquire({ requestId: "b", holderId: "h", slot: slot(1), ttlMs })).toThrow(
        expect.objectContaining({ field: "ttl_ms" }),
      );
  });
});

describe("release and cancel", () => {
  test("release is idempotent: a remembered id says released:false, an unknown id is not-found", () => {
    const h = harness([gpu("a/0", 8192)], { releasedMemory: 2 });
    const ids = [acq(h, 1024), acq(h, 1024), acq(h, 1024)].map(leaseOf);
    expect(h.s.release(ids[0]!)).toMatchObject({ released: true, lease: { leaseId: ids[0] } });
    expect(h.s.release(ids[0]!)).toEqual({ released: false });
    expect(() => h.s.release("L999")).toThrow(
      expect.objectContaining({ code: "not-found", field: "lease_id" }),
    );
    // Tombstones are bounded: the oldest is forgotten first.
    h.s.release(ids[1]!);
    h.s.release(ids[2]!);
    expect(() => h.s.release(ids[0]!)).toThrow(expect.objectContaining({ code: "not-found" }));
    expect(h.s.release(ids[2]!)).toEqual({ released: false });
  });

  test("cancel leaves the queue at once and nothing is granted to the gone caller", () => {
    const h = harness([gpu("a/0", 8192)]);
    const hold = acq(h, 8192);
    const w1 = acq(h, 8192);
    const w2 = acq(h, 8192);
    h.take();
    expect(h.s.cancel(w1.requestId)).toBe(true);
    expect(h.s.cancel(w1.requestId)).toBe(false);
    expect(h.s.cancel(hold.requestId)).toBe(false); // granted: cancel does not release
    expect(h.take().map((e) => e.type)).toEqual(["cancelled", "queued"]);
    h.s.release(leaseOf(hold));
    expect(h.take("granted")).toEqual([
      expect.objectContaining({ lease: expect.objectContaining({ requestId: w2.requestId }) }),
    ]);
  });

  test("releaseByRequestId covers a grant that raced the cancel", () => {
    const h = harness([gpu("a/0", 8192)]);
    const a = acq(h, 4096);
    const b = acq(h, 8192);
    expect(h.s.releaseByRequestId(a.requestId)).toMatchObject({
      kind: "released",
      lease: { requestId: a.requestId },
    });
    expect(h.s.releaseByRequestId(b.requestId).kind).toBe("released"); // b was granted by a's release
    const c = acq(h, 8192);
    const d = acq(h, 8192);
    expect(h.s.releaseByRequestId(d.requestId)).toEqual({ kind: "cancelled" });
    expect(h.s.releaseByRequestId(d.requestId)).toEqual({ kind: "none" });
    expect(h.s.releaseByRequestId("never-seen")).toEqual({ kind: "none" });
    void c;
  });
});

describe("idempotent acquire", () => {
  test("a retried request id never creates a second lease or entry", () => {
    const h = harness([gpu("a/0", 8192)]);
    const input = { requestId: "req-1", holderId: "h", slot: slot(8192) };
    const first = h.s.acquire(input);
    expect(first.kind).toBe("granted");
    h.take();
    expect(h.s.acquire(input)).toEqual({
      kind: "existing",
      lease: first.kind === "granted" && first.lease,
    });
    const waiting = { requestId: "req-2", holderId: "h", slot: slot(8192) };
    const q = h.s.acquire(waiting);
    expect(q.kind).toBe("queued");
    expect(h.s.acquire(waiting)).toEqual({
      kind: "existing",
      entry: q.kind === "queued" && q.entry,
    });
    expect(h.take().filter((e) => e.type !== "queued")).toEqual([]);
    expect(h.s.leases()).toHaveLength(1);
    expect(h.s.queue()).toHaveLength(1);
    // Ended: the retry says so instead of starting over.
    h.s.release(first.kind === "granted" ? first.lease.leaseId : "");
    h.s.release(h.s.leases()[0]!.leaseId);
    expect(h.s.acquire(input)).toEqual({ kind: "existing" });
    expect(h.s.acquire(waiting)).toEqual({ kind: "existing" });
  });

  test("the same request id from another holder or with another slot is rejected", () => {
    const h = harness([gpu("a/0", 8192)]);
    h.s.acquire({ requestId: "r", holderId: "h", slot: slot(1024) });
    expect(() => h.s.acquire({ requestId: "r", holderId: "evil", slot: slot(1024) })).toThrow(
      expect.objectContaining({ code: "already-exists", field: "request_id" }),
    );
    expect(() => h.s.acquire({ requestId: "r", holderId: "h", slot: slot(2048) })).toThrow(
      expect.objectContaining({ code: "already-exists", field: "request_id" }),
    );
  });
});

describe("fencing tokens and ids", () => {
  test("tokens strictly increase across every grant and resume; lease ids are unique", () => {
    const clock = new FakeClock();
    const s = new Scheduler({ clock, gpus: [gpu("a/0", 8192)] });
    const tokens: bigint[] = [];
    const ids = new Set<string>();
    s.onEvent((e) => {
      if (e.type === "granted" || e.type === "resumed") {
        tokens.push(e.lease.fencingToken);
        ids.add(e.lease.leaseId);
      }
    });
    for (let i = 0; i < 20; i++) {
      const r = s.acquire({ requestId: `q${i}`, holderId: "h", slot: slot(8192) });
      if (r.kind === "granted") {
        expect(r.lease.leaseId).toMatch(/^lease_[0-9a-f-]{36}$/);
        s.release(r.lease.leaseId);
      }
    }
    expect(tokens).toHaveLength(20);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]! > tokens[i - 1]!).toBe(true);
    expect(ids.size).toBe(20);
  });
});

describe("listeners", () => {
  test("a throwing listener does not break the core; re-entrant calls are refused", () => {
    const errors: unknown[] = [];
    const h = harness([gpu("a/0", 8192)], { onListenerError: (err) => errors.push(err) });
    let reentry: unknown;
    const off = h.s.onEvent((e: CoreEvent) => {
      if (e.type === "granted") {
        try {
          h.s.advance();
        } catch (err) {
          reentry = err;
        }
        throw new Error("listener bug");
      }
    });
    const r = acq(h, 1024);
    expect(r.result.kind).toBe("granted");
    expect(errors).toHaveLength(1);
    expect(reentry).toMatchObject({ code: "failed-precondition" });
    off();
    acq(h, 1024);
    expect(errors).toHaveLength(1);
  });
});
