/** exportState / restore (PRODUCT.md §8: a restart must not double-book VRAM). */
import { Scheduler, type PersistedState } from "../../coordinator/core/index.js";
import { FakeClock, gpu, harness, slot } from "./helpers.js";

describe("restore from exportState", () => {
  test("leases come back with the same ids, GPUs and tokens, a fresh TTL, and nothing is double-booked", () => {
    const h = harness([gpu("a/0", 16384), gpu("b/0", 8192)]);
    const v = h.s.acquire({ requestId: "v", holderId: "hv", slot: slot(8192, 1), ttlMs: 5000 });
    const n = h.s.acquire({ requestId: "n", holderId: "hn", slot: slot(8192, 3) });
    const c = h.s.acquire({ requestId: "c", holderId: "hc", slot: slot(8192, 3) });
    if (v.kind !== "granted" || n.kind !== "granted" || c.kind !== "granted") throw new Error();
    h.s.registerEvictable(v.lease.leaseId, "hv", { workLostMs: 42 });
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 5, { gpuId: v.lease.gpuId }) });
    h.s.checkpointed(v.lease.leaseId); // v paused, p granted
    h.s.acquire({ requestId: "waiting", holderId: "hw", slot: slot(8192, 3) });
    h.s.release(c.lease.leaseId);
    h.s.acquire({ requestId: "w2", holderId: "hw", slot: slot(16384, 3) }); // waits
    const state = JSON.parse(JSON.stringify(h.s.exportState())) as PersistedState; // survives JSON

    const clock = new FakeClock(h.clock.t + 60_000);
    let k = 100;
    const r = Scheduler.restore(
      { clock, gpus: [gpu("a/0", 16384)], newLeaseId: () => `R${++k}` },
      state,
    );
    expect(r.restoreWarnings).toEqual([]);
    expect(r.gpus().map((g) => g.spec.id)).toEqual(["a/0", "b/0"]); // b/0 from the persisted state
    const before = new Map(h.s.leases().map((l) => [l.leaseId, l]));
    const after = r.leases();
    expect(after.map((l) => l.leaseId).sort()).toEqual([...before.keys()].sort());
    for (const l of after) {
      const b = before.get(l.leaseId)!;
      expect(l).toMatchObject({
        requestId: b.requestId,
        holderId: b.holderId,
        gpuId: b.gpuId,
        state: b.state === "checkpointing" ? "active" : b.state,
        fencingToken: b.fencingToken,
        evictable: b.evictable,
        pauseCount: b.pauseCount,
        expiresAt: clock.t + b.ttlMs,
      });
    }
    expect(r.getLease(v.lease.leaseId)).toMatchObject({
      state: "paused",
      pausedBy: "p",
      workLostMs: 42,
    });
    // Waiting requests are not persisted; paused leases wait again, at the head of their class.
    expect(r.queue().map((q) => q.requestId)).toEqual(["v"]);
    expect(r.gpus().map((g) => g.leasedMb)).toEqual(h.s.gpus().map((g) => g.leasedMb));

    // New grants continue the fencing counter; released ids stay tombstoned; retried ids stay known.
    const events: string[] = [];
    r.onEvent((e) => events.push(e.type));
    const more = r.acquire({ requestId: "fresh", holderId: "hf", slot: slot(1, 3) });
    expect(more.kind).toBe("queued"); // everything is full
    expect(r.release(c.lease.leaseId)).toEqual({ released: false });
    expect(r.acquire({ requestId: "c", holderId: "hc", slot: slot(8192, 3) })).toEqual({
      kind: "existing",
    });
    r.cancel("fresh"); // (it is of a higher class than the paused batch lease)
    const p = r.leases().find((l) => l.requestId === "p")!;
    r.release(p.leaseId);
    const resumed = r.getLease(v.lease.leaseId)!;
    expect(resumed.state).toBe("active");
    expect(resumed.fencingToken > BigInt(state.fencingCounter)).toBe(true);
    expect(events).toContain("resumed");
  });

  test("restored leases still expire if their holders never come back", () => {
    const h = harness([gpu("a/0", 8192)]);
    h.s.acquire({ requestId: "a", holderId: "h", slot: slot(8192), ttlMs: 2000 });
    const clock = new FakeClock(h.clock.t + 1_000_000);
    const r = Scheduler.restore({ clock, gpus: [gpu("a/0", 8192)] }, h.s.exportState());
    expect(r.nextDeadline()).toBe(clock.t + 2000);
    clock.tick(2000);
    r.advance();
    expect(r.leases()).toEqual([]);
  });

  test("a lease on a GPU that is now smaller is kept and reported", () => {
    const h = harness([gpu("a/0", 8192)]);
    h.s.acquire({ requestId: "a", holderId: "h", slot: slot(8192) });
    const r = Scheduler.restore(
      { clock: new FakeClock(), gpus: [gpu("a/0", 4096)] },
      h.s.exportState(),
    );
    expect(r.leases()).toHaveLength(1);
    expect(r.restoreWarnings).toEqual([expect.stringContaining("over-committed")]);
    expect(() =>
      Scheduler.restore({ clock: new FakeClock(), gpus: [] }, { version: 2 } as never),
    ).toThrow(expect.objectContaining({ code: "invalid-argument" }));
  });
});

test("a paused lease whose last GPU is gone survives a restart and resumes elsewhere", () => {
  const h = harness([gpu("a/0", 8192), gpu("b/0", 8192)]);
  const v = h.s.acquire({ requestId: "v", holderId: "hv", slot: slot(8192, 1, { gpuId: "a/0" }) });
  const v2 = h.s.acquire({ requestId: "v2", holderId: "hv", slot: slot(8192, 1) });
  if (v.kind !== "granted" || v2.kind !== "granted" || v2.lease.gpuId !== "b/0") throw new Error();
  h.s.registerEvictable(v2.lease.leaseId, "hv");
  h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 5, { gpuId: "b/0" }) });
  h.s.checkpointed(v2.lease.leaseId);
  // Restart without b/0 (its host is gone, and so is the lease that ran there).
  const state = h.s.exportState();
  const st = {
    ...state,
    gpus: state.gpus.filter((g) => g.id !== "b/0"),
    leases: state.leases.filter((l) => l.gpuId !== "b/0" || l.state === "paused"),
  };
  const r = Scheduler.restore({ clock: new FakeClock(h.clock.t), gpus: [gpu("a/0", 8192)] }, st);
  expect(r.restoreWarnings).toEqual([]);
  expect(r.getLease(v2.lease.leaseId)).toMatchObject({ state: "paused", gpuId: "b/0" });
  r.release(v.lease.leaseId);
  expect(r.getLease(v2.lease.leaseId)).toMatchObject({ state: "active", gpuId: "a/0" });
});
