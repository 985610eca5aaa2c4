/** Scenario tests for cooperative eviction (PRODUCT.md §3): every path a victim can take. */
import type { CoreEvent, Lease, Priority } from "../../coordinator/core/index.js";
import { gpu, harness, slot, type Harness } from "./helpers.js";

const DEADLINE = 30_000;

/** Acquire and expect a grant; returns the lease. */
function lease(
  h: Harness,
  id: string,
  vramMb: number,
  priority: Priority,
  holderId = `h-${id}`,
  extra = {},
): Lease {
  const r = h.s.acquire({ requestId: id, holderId, slot: slot(vramMb, priority, extra) });
  if (r.kind !== "granted") throw new Error(`${id} was not granted`);
  return r.lease;
}

function evictable(
  h: Harness,
  id: string,
  vramMb: number,
  priority: Priority,
  workLostMs?: number,
): Lease {
  const l = lease(h, id, vramMb, priority);
  return h.s.registerEvictable(
    l.leaseId,
    l.holderId,
    workLostMs !== undefined ? { workLostMs } : undefined,
  );
}

const summary = (events: CoreEvent[]): string[] =>
  events.flatMap((e) => {
    switch (e.type) {
      case "queued":
        return [];
      case "granted":
      case "resumed":
      case "paused":
        return [`${e.type} ${e.lease.requestId}@${e.lease.gpuId}`];
      case "released":
      case "paused-dropped":
        return [`${e.type} ${e.lease.requestId} (${e.reason})`];
      case "checkpoint-requested":
        return [`checkpoint ${e.victim.requestId} for ${e.preemptorRequestId}`];
      case "eviction-abandoned":
        return [`abandoned ${e.victimLeaseId} for ${e.preemptorRequestId} (${e.reason})`];
      default:
        return [e.type];
    }
  });

/** a/0 (16 GiB): a low-class evictable victim and a normal lease that cannot be evicted. */
function crowded(): { h: Harness; victim: Lease } {
  const h = harness([gpu("a/0", 16384)]);
  const victim = evictable(h, "victim", 8192, 2);
  lease(h, "normal", 8192, 3);
  h.take();
  return { h, victim };
}

describe("cooperative eviction", () => {
  test("success: checkpoint requested, checkpointed -> paused, memory to the preemptor, resumed later", () => {
    const { h, victim } = crowded();
    const p = h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 4) });
    expect(p.kind).toBe("queued");
    const asked = h.take();
    expect(summary(asked)).toEqual(["checkpoint victim for p"]);
    expect(asked[0]).toMatchObject({
      deadline: h.clock.t + DEADLINE,
      victim: { state: "checkpointing" },
    });
    expect(h.s.evictions()).toEqual([
      {
        preemptorRequestId: "p",
        victimLeaseId: victim.leaseId,
        victimHolderId: victim.holderId,
        gpuId: "a/0",
        vramMb: 8192,
        deadline: h.clock.t + DEADLINE,
        startedAt: h.clock.t,
        state: "requested",
      },
    ]);
    expect(h.s.getEntry("p")).toMatchObject({
      reason: "waiting-for-eviction",
      reasonText: "waiting for 1 eviction on a/0",
    });
    // Never grant memory a victim still uses.
    expect(h.s.gpus()[0]).toMatchObject({ leasedMb: 16384, reservedMb: 0, freeMb: 0 });

    h.clock.tick(500);
    h.s.checkpointed(victim.leaseId);
    const ev = h.take();
    expect(summary(ev)).toEqual(["paused victim@a/0", "granted p@a/0"]);
    const paused = h.s.getLease(victim.leaseId)!;
    expect(paused).toMatchObject({
      state: "paused",
      pausedBy: "p",
      pausedAt: h.clock.t,
      pauseCount: 1,
      gpuId: "a/0",
    });
    expect(h.s.getEntry("victim")).toMatchObject({
      reason: "paused",
      pausedLeaseId: victim.leaseId,
      position: 1,
    });
    expect(h.s.getEntry("victim")!.reasonText).toMatch(
      /^paused for request p; no GPU has 8192 MiB free/,
    );
    expect(h.s.evictions()).toEqual([]);
    expect(h.s.gpus()[0]).toMatchObject({ leasedMb: 16384, reservedMb: 0 });

    // When the preemptor is done, the paused lease is re-granted first, with a new token.
    const pl = h.s.leases().find((l) => l.requestId === "p")!;
    h.s.release(pl.leaseId);
    const resumed = h.take().find((e) => e.type === "resumed");
    expect(resumed).toMatchObject({
      lease: { leaseId: victim.leaseId, state: "active", pauseCount: 1 },
    });
    if (resumed?.type !== "resumed") throw new Error("no resume");
    expect(resumed.lease.fencingToken > pl.fencingToken).toBe(true);
    expect(resumed.lease.pausedBy).toBeUndefined();
  });

  test("a paused lease is served before earlier requests of its class and may resume on another GPU", () => {
    const h = harness([gpu("a/0", 8192), gpu("b/0", 8192)]);
    const victim = evictable(h, "victim", 8192, 2);
    lease(h, "filler", 8192, 3);
    const earlier = h.s.acquire({ requestId: "earlier-low", holderId: "x", slot: slot(8192, 2) });
    expect(earlier.kind).toBe("queued");
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 5, { gpuId: victim.gpuId }) });
    h.s.checkpointed(victim.leaseId);
    expect(h.s.queue().map((q) => q.requestId)).toEqual(["victim", "earlier-low"]);
    h.take();
    h.s.release(h.s.leases().find((l) => l.requestId === "filler")!.leaseId);
    const other = victim.gpuId === "a/0" ? "b/0" : "a/0";
    expect(summary(h.take())).toEqual(["released filler (released)", `resumed victim@${other}`]);
  });

  test("refusal: the victim keeps its lease, another victim is tried, the refuser is not asked again", () => {
    const h = harness([gpu("a/0", 16384)]);
    const v1 = evictable(h, "v1", 8192, 1, 0);
    const v2 = evictable(h, "v2", 8192, 2);
    h.take();
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 4) });
    expect(summary(h.take())).toEqual(["checkpoint v1 for p"]); // lowest class first
    h.s.refused(v1.leaseId, "busy writing");
    const ev = h.take();
    expect(summary(ev)).toEqual([`abandoned ${v1.leaseId} for p (refused)`, "checkpoint v2 for p"]);
    expect(ev[0]).toMatchObject({ detail: "busy writing" });
    expect(h.s.getLease(v1.leaseId)).toMatchObject({ state: "active", evictable: true });
    h.s.refused(v2.leaseId, "no");
    expect(summary(h.take())).toEqual([`abandoned ${v2.leaseId} for p (refused)`]);
    // Nobody left to ask: p simply waits, and nothing is reserved for it.
    expect(h.s.getEntry("p")).toMatchObject({ reason: "no-gpu-free" });
    expect(h.s.gpus()[0]).toMatchObject({ reservedMb: 0, leasedMb: 16384 });
    h.s.release(v2.leaseId);
    expect(summary(h.take())).toEqual(["released v2 (released)", "granted p@a/0"]);
  });

  test("deadline: a silent victim keeps its lease and the preemptor gives up on it", () => {
    const { h, victim } = crowded();
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 4) });
    h.take();
    expect(h.s.nextDeadline()).toBe(h.clock.t + DEADLINE);
    h.s.keepAliveHolder(victim.holderId);
    h.clock.tick(DEADLINE - 1);
    h.s.keepAliveHolder(victim.holderId);
    h.s.keepAliveHolder("h-normal");
    h.s.advance();
    expect(h.take().filter((e) => e.type !== "queued")).toEqual([]);
    h.clock.tick(1);
    h.s.advance();
    expect(summary(h.take())).toEqual([`abandoned ${victim.leaseId} for p (deadline)`]);
    expect(h.s.getLease(victim.leaseId)).toMatchObject({ state: "active" });
    expect(h.s.getEntry("p")).toMatchObject({ reason: "no-gpu-free" });
    // A late answer is refused: the eviction is over.
    expect(() => h.s.checkpointed(victim.leaseId)).toThrow(
      expect.objectContaining({ code: "failed-precondition" }),
    );
  });

  test("victim dies mid-eviction: its memory goes to the preemptor", () => {
    const { h, victim } = crowded();
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 4) });
    h.take();
    h.s.release(victim.leaseId);
    expect(summary(h.take())).toEqual([
      "released victim (released)",
      `abandoned ${victim.leaseId} for p (victim-gone)`,
      "granted p@a/0",
    ]);
  });

  test("victim expires mid-eviction: same, via the TTL", () => {
    const h = harness([gpu("a/0", 8192)]);
    const v = h.s.acquire({ requestId: "v", holderId: "hv", slot: slot(8192, 1), ttlMs: 5000 });
    if (v.kind !== "granted") throw new Error();
    h.s.registerEvictable(v.lease.leaseId, "hv");
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 3) });
    h.take();
    h.clock.tick(5000);
    h.s.advance();
    expect(summary(h.take())).toEqual([
      "released v (expired)",
      `abandoned ${v.lease.leaseId} for p (victim-gone)`,
      "granted p@a/0",
    ]);
  });

  test("preemptor cancels mid-eviction: pending checkpoints abandoned, paused victims resume", () => {
    const h = harness([gpu("a/0", 16384)]);
    const v1 = evictable(h, "v1", 4096, 1);
    const v2 = evictable(h, "v2", 4096, 1);
    lease(h, "n", 8192, 3);
    h.take();
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 4) });
    expect(summary(h.take()).sort()).toEqual(["checkpoint v1 for p", "checkpoint v2 for p"]);
    h.s.checkpointed(v1.leaseId);
    expect(summary(h.take())).toEqual(["paused v1@a/0"]);
    expect(h.s.gpus()[0]).toMatchObject({ leasedMb: 12288, reservedMb: 4096, freeMb: 0 });
    expect(
      h.s
        .evictions()
        .map((e) => e.state)
        .sort(),
    ).toEqual(["checkpointed", "requested"]);
    h.s.cancel("p");
    expect(summary(h.take())).toEqual([
      "cancelled",
      `abandoned ${v2.leaseId} for p (preemptor-gone)`,
      "resumed v1@a/0",
    ]);
    expect(h.s.gpus()[0]).toMatchObject({ leasedMb: 16384, reservedMb: 0 });
    expect(h.s.getLease(v2.leaseId)).toMatchObject({ state: "active" });
  });

  test("nested evictions: no double reservation, no deadlock, everything resumes in class order", () => {
    const h = harness([gpu("a/0", 16384)]);
    const batch = evictable(h, "batch", 8192, 1);
    const low = evictable(h, "low", 8192, 2);
    h.take();
    // high evicts the batch lease (lowest class first).
    h.s.acquire({ requestId: "high", holderId: "hh", slot: slot(8192, 4) });
    expect(summary(h.take())).toEqual(["checkpoint batch for high"]);
    // critical arrives for the same GPU: it may not take high's victim twice; it asks the other one.
    h.s.acquire({ requestId: "crit", holderId: "hc", slot: slot(8192, 5) });
    expect(summary(h.take())).toEqual(["checkpoint low for crit"]);
    expect(
      h.s
        .evictions()
        .map((e) => `${e.victimLeaseId}->${e.preemptorRequestId}`)
        .sort(),
    ).toEqual([`${batch.leaseId}->high`, `${low.leaseId}->crit`]);
    h.s.checkpointed(low.leaseId);
    expect(summary(h.take())).toEqual(["paused low@a/0", "granted crit@a/0"]);
    h.s.checkpointed(batch.leaseId);
    expect(summary(h.take())).toEqual(["paused batch@a/0", "granted high@a/0"]);
    // high becomes a victim itself for a second critical request.
    const highLease = h.s.leases().find((l) => l.requestId === "high")!;
    h.s.registerEvictable(highLease.leaseId, "hh");
    h.s.acquire({ requestId: "crit2", holderId: "hc2", slot: slot(8192, 5) });
    expect(summary(h.take())).toEqual(["checkpoint high for crit2"]);
    h.s.checkpointed(highLease.leaseId);
    expect(summary(h.take())).toEqual(["paused high@a/0", "granted crit2@a/0"]);
    expect(h.s.queue().map((q) => q.requestId)).toEqual(["high", "low", "batch"]);
    const crit = h.s.leases().find((l) => l.requestId === "crit")!;
    const crit2 = h.s.leases().find((l) => l.requestId === "crit2")!;
    h.s.release(crit.leaseId);
    h.s.release(crit2.leaseId);
    expect(summary(h.take()).filter((s) => s.startsWith("resumed"))).toEqual([
      "resumed high@a/0",
      "resumed low@a/0",
    ]);
    expect(h.s.queue().map((q) => q.requestId)).toEqual(["batch"]);
  });

  test("a paused lease waiting to resume may itself evict a lower class", () => {
    const h = harness([gpu("a/0", 8192), gpu("b/0", 8192)]);
    const normal = evictable(h, "normal", 8192, 3);
    const batch = evictable(h, "batch", 8192, 1);
    expect([normal.gpuId, batch.gpuId]).toEqual(["a/0", "b/0"]);
    h.take();
    h.s.acquire({ requestId: "crit", holderId: "hc", slot: slot(8192, 5, { gpuId: "a/0" }) });
    expect(summary(h.take())).toEqual(["checkpoint normal for crit"]);
    h.s.checkpointed(normal.leaseId);
    expect(summary(h.take())).toEqual([
      "paused normal@a/0",
      "granted crit@a/0",
      "checkpoint batch for normal",
    ]);
    h.s.checkpointed(batch.leaseId);
    expect(summary(h.take())).toEqual(["paused batch@b/0", "resumed normal@b/0"]);
    expect(h.s.queue().map((q) => q.requestId)).toEqual(["batch"]);
  });

  test("victim choice: lowest class, then least work lost, then fewest victims; best GPU wins", () => {
    const h = harness([gpu("a/0", 16384), gpu("b/0", 16384)]);
    // a/0: two batch leases; b/0: one low lease (a higher class than batch).
    const b1 = evictable(h, "b1", 8192, 1, 5000);
    const b2 = evictable(h, "b2", 8192, 1, 100);
    const lo = lease(h, "lo", 16384, 2);
    h.s.registerEvictable(lo.leaseId, lo.holderId, { workLostMs: 0 });
    expect([b1.gpuId, b2.gpuId, lo.gpuId]).toEqual(["a/0", "a/0", "b/0"]);
    h.take();
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 4) });
    expect(summary(h.take())).toEqual(["checkpoint b2 for p"]); // batch before low, least work lost
    h.s.cancel("p");
    h.take();
    // Lowest class first even when it takes more victims: two batch leases, not the one low lease.
    h.s.acquire({ requestId: "p2", holderId: "hp", slot: slot(16384, 4) });
    expect(summary(h.take()).sort()).toEqual(["checkpoint b1 for p2", "checkpoint b2 for p2"]);
  });

  test("fewest victims among equally cheap ones", () => {
    const h = harness([gpu("a/0", 16384)]);
    evictable(h, "s1", 2048, 1, 0);
    evictable(h, "s2", 2048, 1, 0);
    evictable(h, "big", 6144, 1, 0);
    lease(h, "rest", 6144, 3);
    h.take();
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(6144, 3) });
    expect(summary(h.take())).toEqual(["checkpoint big for p"]);
  });

  test("never the same or a higher class, never a lease that is not evictable", () => {
    const h = harness([gpu("a/0", 16384)]);
    evictable(h, "same", 8192, 3);
    lease(h, "low-not-evictable", 8192, 2);
    h.take();
    const p = h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 3) });
    expect(p.kind).toBe("queued");
    expect(summary(h.take())).toEqual([]);
    expect(h.s.getEntry("p")).toMatchObject({ reason: "no-gpu-free" });
  });

  test("no eviction on a GPU an earlier waiting request is eligible for", () => {
    const h = harness([gpu("a/0", 16384)]);
    evictable(h, "batch", 8192, 1);
    lease(h, "normal", 8192, 3);
    h.take();
    // `big` cannot be helped by evicting (8 GiB evictable < 16 GiB needed) and waits first.
    h.s.acquire({ requestId: "big", holderId: "x", slot: slot(16384, 4) });
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 4) });
    expect(summary(h.take())).toEqual([]);
    expect(h.s.getEntry("p")).toMatchObject({ reason: "behind-earlier" });
  });

  test("a preemptor placed elsewhere hands its reservation straight to earlier waiters", () => {
    const h = harness([gpu("a/0", 16384), gpu("b/0", 8192)]);
    const onB = lease(h, "onB", 8192, 3, "hb", { gpuId: "b/0" });
    evictable(h, "v", 4096, 1);
    lease(h, "keep", 8192, 3, "hk", { gpuId: "a/0" });
    h.take();
    // p (high, 8 GiB) reserves a/0's free 4 GiB and asks v for the rest.
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 4) });
    expect(h.s.gpus()[0]).toMatchObject({ reservedMb: 4096, freeMb: 0 });
    // crit (4 GiB, pinned a/0) arrives: nothing free, no victim left to ask.
    h.s.acquire({ requestId: "crit", holderId: "hc", slot: slot(4096, 5, { gpuId: "a/0" }) });
    h.take();
    // b/0 frees up: p goes there, and its 4 GiB reservation on a/0 goes to crit in the same call.
    h.s.release(onB.leaseId);
    expect(summary(h.take())).toEqual([
      "released onB (released)",
      expect.stringMatching(/^abandoned L\d+ for p \(not-needed\)$/),
      "granted p@b/0",
      "granted crit@a/0",
    ]);
  });

  test("victim's holder disconnects or unregisters: abandoned, the lease stays until its TTL", () => {
    const { h, victim } = crowded();
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 4) });
    h.take();
    h.s.holderDisconnected(victim.holderId);
    expect(summary(h.take())).toEqual([`abandoned ${victim.leaseId} for p (victim-gone)`]);
    expect(h.s.getLease(victim.leaseId)).toMatchObject({ state: "active", evictable: false });

    const c = crowded();
    c.h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 4) });
    c.h.take();
    c.h.s.unregisterEvictable(c.victim.leaseId);
    expect(summary(c.h.take())).toEqual([`abandoned ${c.victim.leaseId} for p (refused)`]);
  });

  test("a disconnected holder's paused leases are dropped; an unrenewed paused lease expires", () => {
    const h = harness([gpu("a/0", 16384)]);
    const v1 = evictable(h, "v1", 8192, 1);
    const v2 = h.s.acquire({ requestId: "v2", holderId: "h2", slot: slot(8192, 1), ttlMs: 3000 });
    if (v2.kind !== "granted") throw new Error();
    h.s.registerEvictable(v2.lease.leaseId, "h2");
    h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(16384, 5) });
    h.s.checkpointed(v1.leaseId);
    h.s.checkpointed(v2.lease.leaseId);
    h.take();
    h.s.holderDisconnected(v1.holderId);
    expect(summary(h.take())).toEqual(["paused-dropped v1 (holder-gone)"]);
    h.clock.tick(3000);
    h.s.keepAliveHolder("hp");
    expect(summary(h.take())).toEqual(["paused-dropped v2 (expired)"]);
    expect(h.s.queue()).toEqual([]);
  });

  test("holder-side calls are checked", () => {
    const { h, victim } = crowded();
    expect(() => h.s.registerEvictable(victim.leaseId, "someone-else")).toThrow(
      expect.objectContaining({ code: "failed-precondition", field: "holder_id" }),
    );
    expect(() => h.s.checkpointed(victim.leaseId)).toThrow(
      expect.objectContaining({ code: "failed-precondition" }),
    );
    expect(() => h.s.refused("L404", "x")).toThrow(expect.objectContaining({ code: "not-found" }));
    expect(() =>
      h.s.registerEvictable(victim.leaseId, victim.holderId, { workLostMs: -1 }),
    ).toThrow(expect.objectContaining({ field: "work_lost_ms" }));
  });
});
