/** Scenario tests for placement and the order of service (PRODUCT.md §2 rules 1-5, §6). */
import type { CoreEvent, QueueEntryView } from "../../coordinator/core/index.js";
import { acq, gpu, harness, leaseOf } from "./helpers.js";

const granted = (events: CoreEvent[]): string[] =>
  events.flatMap((e) => (e.type === "granted" ? [`${e.lease.requestId}@${e.lease.gpuId}`] : []));

describe("placement", () => {
  test("best fit: the GPU with the least free memory that fits, ties by GPU id", () => {
    const h = harness([gpu("b/0", 24576), gpu("a/0", 16384), gpu("a/1", 16384)]);
    const a = acq(h, 8192);
    expect(a.result.kind === "granted" && a.result.lease.gpuId).toBe("a/0"); // tie a/0 = a/1 < b/0
    const b = acq(h, 8192);
    expect(b.result.kind === "granted" && b.result.lease.gpuId).toBe("a/0"); // 8192 free left there
    const c = acq(h, 12288);
    expect(c.result.kind === "granted" && c.result.lease.gpuId).toBe("a/1");
  });

  test("constraints are always honoured: pinned GPU, node, capabilities", () => {
    const h = harness([
      gpu("a/0", 8192, { capabilities: ["fp16", "int8"] }),
      gpu("b/0", 24576, { capabilities: ["fp16", "bf16", "int4"] }),
      gpu("c/0", 24576), // capabilities unknown: never satisfies `requires`
    ]);
    const pinned = acq(h, 1024, 3, { gpuId: "b/0" });
    expect(pinned.result.kind === "granted" && pinned.result.lease.gpuId).toBe("b/0");
    const node = acq(h, 1024, 3, { node: "c" });
    expect(node.result.kind === "granted" && node.result.lease.gpuId).toBe("c/0");
    const int4 = acq(h, 1024, 3, { requires: ["int4"] });
    expect(int4.result.kind === "granted" && int4.result.lease.gpuId).toBe("b/0");
    // The pinned GPU is full: the request waits rather than going elsewhere.
    acq(h, 24576 - 2048, 3, { gpuId: "b/0" });
    const wait = acq(h, 4096, 3, { gpuId: "b/0" });
    expect(wait.result.kind).toBe("queued");
  });

  test("a request that can never fit fails at once instead of waiting", () => {
    const h = harness([gpu("a/0", 8192), gpu("b/0", 16384, { capabilities: ["fp16"] })]);
    expect(() => acq(h, 32768)).toThrow(
      expect.objectContaining({ code: "not-fittable", field: "slot.vram_mb" }),
    );
    expect(() => acq(h, 12288, 3, { gpuId: "a/0" })).toThrow(
      expect.objectContaining({ code: "not-fittable", field: "slot.vram_mb" }),
    );
    expect(() => acq(h, 1024, 3, { requires: ["int4"] })).toThrow(
      expect.objectContaining({ code: "not-fittable", field: "slot.requires" }),
    );
    expect(() => acq(h, 1024, 3, { gpuId: "a/0", node: "b" })).toThrow(
      expect.objectContaining({ code: "not-fittable", field: "slot.node" }),
    );
    expect(() => acq(h, 1024, 3, { gpuId: "z/9" })).toThrow(
      expect.objectContaining({ code: "not-found", field: "slot.gpu_id" }),
    );
    expect(() => acq(h, 1024, 3, { node: "zz" })).toThrow(
      expect.objectContaining({ code: "not-found", field: "slot.node" }),
    );
    expect(h.s.queue()).toEqual([]);
  });
});

describe("order of service", () => {
  test("priority first: a higher class is served before earlier lower-class requests", () => {
    const h = harness([gpu("a/0", 8192)]);
    const big = acq(h, 8192);
    const low = acq(h, 8192, 2);
    const normal = acq(h, 8192, 3);
    const critical = acq(h, 8192, 5);
    expect(h.s.queue().map((q) => q.requestId)).toEqual([
      critical.requestId,
      normal.requestId,
      low.requestId,
    ]);
    h.take();
    h.s.release(leaseOf(big));
    expect(granted(h.take())).toEqual([`${critical.requestId}@a/0`]);
  });

  test("FIFO within a class, and no backfilling on a GPU an earlier request waits for", () => {
    const h = harness([gpu("a/0", 16384)]);
    const hold = acq(h, 12288);
    const first = acq(h, 8192); // needs 8192, 4096 free: waits
    const small = acq(h, 2048); // would fit now, but would delay `first`
    expect(small.result.kind).toBe("queued");
    const q = h.s.queue();
    expect(q.map((e) => [e.requestId, e.reason])).toEqual([
      [first.requestId, "no-gpu-free"],
      [small.requestId, "behind-earlier"],
    ]);
    expect(q[0]!.reasonText).toBe("no GPU has 8192 MiB free (largest free: 4096 MiB on a/0)");
    expect(q[1]!.reasonText).toBe("behind 1 earlier request");
    h.take();
    h.s.release(leaseOf(hold));
    expect(granted(h.take())).toEqual([`${first.requestId}@a/0`, `${small.requestId}@a/0`]);
  });

  test("a later request goes first where the earlier one can never go", () => {
    const h = harness([gpu("a/0", 16384), gpu("b/0", 8192)]);
    acq(h, 16384); // fills a/0
    const pinned = acq(h, 4096, 3, { gpuId: "a/0" }); // pinned elsewhere
    const tooBig = acq(h, 12288); // only a/0 is big enough
    const later = acq(h, 4096); // may use b/0: neither earlier request can ever run there
    expect(pinned.result.kind).toBe("queued");
    expect(tooBig.result.kind).toBe("queued");
    expect(later.result.kind === "granted" && later.result.lease.gpuId).toBe("b/0");
  });

  test("a lower class goes first only where no higher-class waiter is eligible", () => {
    const h = harness([gpu("a/0", 8192), gpu("b/0", 8192)]);
    acq(h, 8192, 3, { gpuId: "a/0" });
    const high = acq(h, 4096, 4, { gpuId: "a/0" });
    const batch = acq(h, 4096, 1);
    expect(high.result.kind).toBe("queued");
    expect(batch.result.kind === "granted" && batch.result.lease.gpuId).toBe("b/0");
    const batch2 = acq(h, 2048, 1, { gpuId: "a/0" });
    expect(batch2.result.kind).toBe("queued");
  });

  test("no lost wake-ups: one release grants everything that now fits", () => {
    const h = harness([gpu("a/0", 16384)]);
    const hold = acq(h, 16384);
    const ids = [acq(h, 4096), acq(h, 4096), acq(h, 8192), acq(h, 4096)].map((r) => r.requestId);
    h.take();
    h.s.release(leaseOf(hold));
    expect(granted(h.take())).toEqual(ids.slice(0, 3).map((id) => `${id}@a/0`));
    expect(h.s.queue().map((q) => q.requestId)).toEqual([ids[3]]);
  });

  test("queued events only for entries whose view changed", () => {
    const h = harness([gpu("a/0", 8192), gpu("b/0", 8192)]);
    acq(h, 8192, 3, { gpuId: "a/0" });
    acq(h, 8192, 3, { gpuId: "b/0" });
    const w = [1, 2, 3, 4].map(() => acq(h, 8192, 3, { gpuId: "a/0" }));
    h.take();
    // A new request at the back changes nobody else's position.
    const tail = acq(h, 4096, 3, { gpuId: "a/0" });
    let q = h.take("queued") as Extract<CoreEvent, { type: "queued" }>[];
    expect(q.map((e) => e.entry.requestId)).toEqual([tail.requestId]);
    expect(q[0]!.entry).toMatchObject({
      position: 5,
      vramAheadMb: 4 * 8192,
      reason: "behind-earlier",
    });
    // Cancelling the third moves only the ones behind it.
    h.s.cancel(w[2]!.requestId);
    q = h.take("queued") as Extract<CoreEvent, { type: "queued" }>[];
    expect(q.map((e) => [e.entry.requestId, e.entry.position])).toEqual([
      [w[3]!.requestId, 3],
      [tail.requestId, 4],
    ]);
    // A higher class joining ahead moves everybody.
    acq(h, 8192, 4, { gpuId: "a/0" });
    q = h.take("queued") as Extract<CoreEvent, { type: "queued" }>[];
    expect(q.map((e) => e.entry.position)).toEqual([1, 2, 3, 4, 5]);
  });

  test("views are consistent: positions 1..n and VRAM ahead as a running sum", () => {
    const h = harness([gpu("a/0", 8192)]);
    acq(h, 8192);
    for (const [v, p] of [
      [1024, 1],
      [2048, 5],
      [4096, 3],
      [512, 5],
    ] as const)
      acq(h, v, p);
    const q: QueueEntryView[] = h.s.queue();
    expect(q.map((e) => [e.slot.vramMb, e.position, e.vramAheadMb])).toEqual([
      [2048, 1, 0],
      [512, 2, 2048],
      [4096, 3, 2560],
      [1024, 4, 6656],
    ]);
  });
});

describe("measured usage (§6)", () => {
  test("usage no lease accounts for is not granted, and frees up when measured again", () => {
    const h = harness([gpu("a/0", 16384)]);
    const a = acq(h, 4096);
    h.s.setMeasuredUsage("a/0", 4096 + 8192); // a desktop uses 8 GiB
    expect(h.s.gpus()[0]).toMatchObject({ leasedMb: 4096, unaccountedMb: 8192, freeMb: 4096 });
    const b = acq(h, 8192);
    expect(b.result.kind).toBe("queued");
    // On a measured GPU released memory is reusable once a new measurement shows it free.
    h.s.release(leaseOf(a));
    expect(h.s.getEntry(b.requestId)).toBeDefined();
    expect(h.s.gpus()[0]).toMatchObject({ leasedMb: 0, unaccountedMb: 12288, freeMb: 4096 });
    // The new measurement does not resurrect the released lease's usage.
    h.s.setMeasuredUsage("a/0", 8192);
    expect(h.s.getEntry(b.requestId)).toBeUndefined(); // granted on the measurement
    expect(h.s.gpus()[0]).toMatchObject({ leasedMb: 8192, unaccountedMb: 8192, freeMb: 0 });
    h.take();
    h.s.setMeasuredUsage("a/0", 8192 + 16384); // grossly over: nothing more is granted
    expect(h.s.gpus()[0]!.freeMb).toBe(0);
    expect(acq(h, 1024).result.kind).toBe("queued");
    h.s.setMeasuredUsage("a/0", 8192);
    expect(granted(h.take())).toHaveLength(1);
  });

  test("bad measurements are rejected", () => {
    const h = harness([gpu("a/0", 16384)]);
    expect(() => h.s.setMeasuredUsage("a/0", -1)).toThrow(
      expect.objectContaining({ field: "used_mb" }),
    );
    expect(() => h.s.setMeasuredUsage("a/0", NaN)).toThrow(
      expect.objectContaining({ field: "used_mb" }),
    );
    expect(() => h.s.setMeasuredUsage("x/0", 1)).toThrow(
      expect.objectContaining({ code: "not-found" }),
    );
  });
});

describe("GPU set changes", () => {
  test("addGpu wakes waiters; re-adding the same spec is a no-op", () => {
    const h = harness([gpu("a/0", 8192)]);
    acq(h, 8192);
    const w = acq(h, 4096);
    h.take();
    expect(h.s.addGpu(gpu("b/0", 4096))).toBe(true);
    expect(granted(h.take())).toEqual([`${w.requestId}@b/0`]);
    expect(h.s.addGpu(gpu("b/0", 4096))).toBe(false);
    expect(() => h.s.addGpu(gpu("b/0", 2048))).toThrow(
      expect.objectContaining({ code: "failed-precondition", field: "gpu.capacity_mb" }),
    );
  });

  test("removeGpu needs an idle GPU and fails the waiters that can no longer fit", () => {
    const h = harness([
      gpu("a/0", 8192),
      gpu("b/0", 16384, { capabilities: ["fp16"] }),
      gpu("c/0", 16384),
    ]);
    acq(h, 8192, 3, { gpuId: "a/0" });
    acq(h, 16384, 3, { gpuId: "c/0" });
    h.s.setMeasuredUsage("b/0", 16384); // idle but full (an unmanaged process)
    const pinnedB = acq(h, 1024, 3, { gpuId: "b/0" });
    const fp16 = acq(h, 12288, 3, { requires: ["fp16"] });
    const big = acq(h, 12288);
    const small = acq(h, 4096);
    h.take();
    expect(() => h.s.removeGpu("a/0")).toThrow(
      expect.objectContaining({ code: "failed-precondition" }),
    );
    h.s.removeGpu("b/0");
    const failed = h.take("request-failed");
    expect(failed).toEqual([
      expect.objectContaining({ requestId: pinnedB.requestId, code: "unknown-gpu" }),
      expect.objectContaining({ requestId: fp16.requestId, code: "not-fittable" }),
    ]);
    expect(h.s.queue().map((q) => [q.requestId, q.position])).toEqual([
      [big.requestId, 1],
      [small.requestId, 2],
    ]);
    // A retry of a failed request id reports that it ended.
    expect(
      h.s.acquire({
        requestId: fp16.requestId,
        holderId: "h1",
        slot: { service: "svc", taskType: "t", vramMb: 12288, priority: 3, requires: ["fp16"] },
      }),
    ).toEqual({ kind: "existing" });
  });
});
