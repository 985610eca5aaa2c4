/**
 * Measured usage and released memory (PRODUCT.md §2 rule 1, §6). On a GPU measured at least
 * once, memory that leaves by release, expiry or holder gone is counted as unaccounted until the
 * next measurement shows it free: the process may still hold it, and its lease may have used
 * less than its vramMb while an unmanaged process used more. A checkpointed victim's memory is
 * trusted to be free. GPUs never measured hand released memory over at once.
 */
import type { CoreEvent, GpuView, Lease, Priority } from "../../coordinator/core/index.js";
import { gpu, harness, slot, type Harness } from "./helpers.js";

function lease(
  h: Harness,
  id: string,
  vramMb: number,
  priority: Priority = 3,
  extra: { gpuId?: string; ttlMs?: number } = {},
): Lease {
  const { ttlMs, ...constraints } = extra;
  const r = h.s.acquire({
    requestId: id,
    holderId: `h-${id}`,
    slot: slot(vramMb, priority, constraints),
    ...(ttlMs !== undefined ? { ttlMs } : {}),
  });
  if (r.kind !== "granted") throw new Error(`${id} was not granted`);
  return r.lease;
}

function wait(h: Harness, id: string, vramMb: number, priority: Priority = 3, gpuId?: string) {
  const r = h.s.acquire({
    requestId: id,
    holderId: `h-${id}`,
    slot: slot(vramMb, priority, gpuId !== undefined ? { gpuId } : {}),
  });
  expect(r.kind).toBe("queued");
}

const view = (h: Harness, id: string): GpuView => h.s.gpus().find((g) => g.spec.id === id)!;

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

describe("released memory on a measured GPU", () => {
  test("the H100 case: a released lease's unused slack is not handed out", () => {
    // 81559 MiB GPU; an unmanaged process holds 20980 MiB; job1 leases 40960 MiB and its
    // process uses 39647 MiB. The measurement sees 60627 MiB: 19667 MiB unaccounted (an
    // underestimate of the unmanaged use by job1's slack, 1313 MiB).
    const h = harness([gpu("h/0", 81559)]);
    const job1 = lease(h, "job1", 40960);
    h.s.setMeasuredUsage("h/0", 60627);
    expect(view(h, "h/0")).toMatchObject({ leasedMb: 40960, unaccountedMb: 19667, freeMb: 20932 });
    wait(h, "job2", 61440);
    h.take();
    // Before the fix: capacity - 0 - 19667 = 61892 >= 61440 and job2 was granted into an OOM.
    h.s.release(job1.leaseId);
    expect(summary(h.take())).toEqual(["released job1 (released)"]);
    expect(view(h, "h/0")).toMatchObject({ leasedMb: 0, unaccountedMb: 60627, freeMb: 20932 });
    // job1's process is gone: 60579 MiB is really free, still not enough.
    h.s.setMeasuredUsage("h/0", 20980);
    expect(view(h, "h/0")).toMatchObject({ unaccountedMb: 20980, freeMb: 60579 });
    expect(summary(h.take())).toEqual([]);
    expect(h.s.getEntry("job2")).toMatchObject({ reason: "no-gpu-free" });
    h.s.setMeasuredUsage("h/0", 0); // the unmanaged process exits
    expect(summary(h.take())).toEqual(["granted job2@h/0"]);
  });

  test("release: not re-grantable until a new measurement shows the memory free", () => {
    const h = harness([gpu("a/0", 16384)]);
    const a = lease(h, "a", 12288);
    h.s.setMeasuredUsage("a/0", 12288);
    wait(h, "w", 8192);
    h.take();
    h.s.release(a.leaseId);
    expect(summary(h.take())).toEqual(["released a (released)"]);
    expect(view(h, "a/0")).toMatchObject({ leasedMb: 0, unaccountedMb: 12288, freeMb: 4096 });
    // Releasing again changes nothing (idempotent, not counted twice).
    expect(h.s.release(a.leaseId)).toEqual({ released: false });
    expect(view(h, "a/0")).toMatchObject({ unaccountedMb: 12288 });
    // The process has not let go yet: still held back.
    h.s.setMeasuredUsage("a/0", 12000);
    expect(summary(h.take())).toEqual([]);
    expect(view(h, "a/0")).toMatchObject({ unaccountedMb: 12000, freeMb: 4384 });
    h.s.setMeasuredUsage("a/0", 300);
    expect(summary(h.take())).toEqual(["granted w@a/0"]);
    expect(view(h, "a/0")).toMatchObject({ leasedMb: 8192, unaccountedMb: 300, freeMb: 7892 });
  });

  test("expiry: a hung holder's memory waits for a measurement that shows it free", () => {
    const h = harness([gpu("a/0", 16384)]);
    lease(h, "x", 16384, 3, { ttlMs: 5000 });
    h.s.setMeasuredUsage("a/0", 16000);
    wait(h, "w", 16384);
    h.take();
    h.clock.tick(5000);
    h.s.advance();
    expect(summary(h.take())).toEqual(["released x (expired)"]);
    expect(view(h, "a/0")).toMatchObject({ leasedMb: 0, unaccountedMb: 16384, freeMb: 0 });
    h.s.setMeasuredUsage("a/0", 16000); // the process hangs on to it
    expect(summary(h.take())).toEqual([]);
    h.s.setMeasuredUsage("a/0", 0);
    expect(summary(h.take())).toEqual(["granted w@a/0"]);
  });

  test("a checkpointed victim's memory goes to the preemptor at once", () => {
    const h = harness([gpu("a/0", 16384)]);
    const v = lease(h, "victim", 8192, 2);
    h.s.registerEvictable(v.leaseId, v.holderId);
    lease(h, "normal", 8192, 3);
    h.s.setMeasuredUsage("a/0", 16384);
    h.take();
    wait(h, "p", 8192, 4);
    expect(summary(h.take())).toEqual(["checkpoint victim for p"]);
    h.s.checkpointed(v.leaseId);
    expect(summary(h.take())).toEqual(["paused victim@a/0", "granted p@a/0"]);
    expect(view(h, "a/0")).toMatchObject({ leasedMb: 16384, reservedMb: 0, unaccountedMb: 0 });
    // Releasing the paused victim frees nothing: it holds no memory.
    h.s.release(v.leaseId);
    expect(summary(h.take())).toEqual(["released victim (released)"]);
    expect(view(h, "a/0")).toMatchObject({ leasedMb: 16384, unaccountedMb: 0 });
  });

  test("a victim released mid-eviction: its memory is held back, not handed to the preemptor", () => {
    const h = harness([gpu("a/0", 16384)]);
    const v = lease(h, "victim", 8192, 2);
    h.s.registerEvictable(v.leaseId, v.holderId);
    lease(h, "normal", 8192, 3);
    h.s.setMeasuredUsage("a/0", 16384);
    wait(h, "p", 8192, 4);
    h.take();
    h.s.release(v.leaseId);
    const events = h.take();
    expect(summary(events)).toEqual([
      "released victim (released)",
      `abandoned ${v.leaseId} for p (victim-gone)`,
    ]);
    expect(events.find((e) => e.type === "eviction-abandoned")).toMatchObject({
      detail: expect.stringContaining("new measurement"),
    });
    expect(h.s.evictions()).toEqual([]);
    expect(view(h, "a/0")).toMatchObject({ leasedMb: 8192, reservedMb: 0, unaccountedMb: 8192 });
    expect(h.s.getEntry("p")).toMatchObject({ reason: "no-gpu-free" });
    h.s.setMeasuredUsage("a/0", 8192); // only "normal" is left on the GPU
    expect(summary(h.take())).toEqual(["granted p@a/0"]);
  });

  test("a GPU never measured hands released and expired memory over at once, next to a measured one", () => {
    const h = harness([gpu("a/0", 8192), gpu("b/0", 8192)]);
    const x = lease(h, "x", 8192, 3, { gpuId: "a/0", ttlMs: 5000 });
    const y = lease(h, "y", 8192, 3, { gpuId: "b/0" });
    h.s.setMeasuredUsage("b/0", 8192);
    wait(h, "wa", 8192, 3, "a/0");
    wait(h, "wa2", 8192, 3, "a/0");
    wait(h, "wb", 8192, 3, "b/0");
    h.take();
    h.s.release(x.leaseId);
    expect(summary(h.take())).toEqual(["released x (released)", "granted wa@a/0"]);
    expect(view(h, "a/0")).toMatchObject({ leasedMb: 8192, unaccountedMb: 0 });
    h.s.release(y.leaseId);
    expect(summary(h.take())).toEqual(["released y (released)"]);
    expect(view(h, "b/0")).toMatchObject({ leasedMb: 0, unaccountedMb: 8192, freeMb: 0 });
    // wa's lease expires on the unmeasured GPU: wa2 gets it at once.
    h.clock.tick(30_000);
    h.s.advance();
    expect(summary(h.take())).toEqual(["released wa (expired)", "granted wa2@a/0"]);
    h.s.setMeasuredUsage("b/0", 0);
    expect(summary(h.take())).toEqual(["granted wb@b/0"]);
  });
});
