/**
 * Leasing against a real coordinator: every exit path releases (checked on the server),
 * waiting is observable and cancellable, loss aborts the lease's signal.
 */
import {
  CancelledError,
  GpuProfileNotFoundError,
  LeaseLostError,
  NotFittableError,
  ResourceCoordinator,
  VRAMSlot,
  type QueueUpdate,
} from "../../client/index.js";
import { GPU1, startHarness, type Harness } from "./harness.js";
import { aborted, captureLogger, waitFor } from "./helpers.js";

describe("ResourceCoordinator against a coordinator", () => {
  let h: Harness;
  let coordinator: ResourceCoordinator;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(() => {
    coordinator = new ResourceCoordinator({
      url: h.url,
      service: "kiwi",
      logger: captureLogger().logger,
      ttlMs: 3_000,
    });
  });
  afterEach(async () => {
    await coordinator.close();
    await waitFor("no leases left on the server", async () => (await h.liveLeases()) === 0);
  });

  const slot = new VRAMSlot({ service: "kiwi", taskType: "recipe_llm", vramGb: 4.0 });
  /** Fills GPU 1 (8192 MiB) so that the next request pinned there waits. */
  const fullGpu1 = new VRAMSlot({ service: "kiwi", taskType: "filler", vramMb: 8192, gpu: GPU1 });
  const onGpu1 = new VRAMSlot({ service: "kiwi", taskType: "waiter", vramMb: 1024, gpu: GPU1 });

  test("withLease: the lease exists while fn runs and is released when it returns", async () => {
    const result = await coordinator.withLease(slot, async (lease) => {
      expect(lease.mode).toBe("coordinated");
      expect(lease.vramMb).toBe(4096);
      expect(lease.gpuId).toMatch(/^local\/\d$/);
      expect(lease.fencingToken).toBeGreaterThan(0n);
      expect(lease.state).toBe("active");
      expect(await h.liveLeases(coordinator.holderId)).toBe(1);
      return "done";
    });
    expect(result).toBe("done");
    expect(await h.liveLeases(coordinator.holderId)).toBe(0);
  });

  test("withLease: released when fn throws", async () => {
    let leaseId = "";
    await expect(
      coordinator.withLease(slot, async (lease) => {
        leaseId = lease.id;
        throw new Error("inference failed");
      }),
    ).rejects.toThrow("inference failed");
    expect(leaseId).not.toBe("");
    expect(await h.liveLeases(coordinator.holderId)).toBe(0);
  });

  test("abort while waiting: the request leaves the server's queue", async () => {
    const filler = await coordinator.lease(fullGpu1);
    const controller = new AbortController();
    const updates: QueueUpdate[] = [];
    const ran = jest.fn();
    const waiting = coordinator.withLease(onGpu1, ran, {
      signal: controller.signal,
      onQueued: (u) => updates.push(u),
    });
    await waitFor("the request to queue", () => updates.length > 0);
    expect(await h.queueLength()).toBe(1);
    expect(updates[0]).toMatchObject({ mode: "coordinated", position: 1 });
    expect(updates[0]?.reasonText).not.toBe("");
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: "CancelledError", reason: "aborted" });
    await waitFor("the queue to shrink", async () => (await h.queueLength()) === 0);
    expect(ran).not.toHaveBeenCalled();
    await filler.release();
    expect(await h.liveLeases(coordinator.holderId)).toBe(0);
  });

  test("timeoutMs while waiting: CancelledError, and the queue shrinks", async () => {
    const filler = await coordinator.lease(fullGpu1);
    await expect(coordinator.lease(onGpu1, { timeoutMs: 200 })).rejects.toBeInstanceOf(
      CancelledError,
    );
    await waitFor("the queue to shrink", async () => (await h.queueLength()) === 0);
    await filler.release();
  });

  test("the async-iterator form yields queue updates until the grant", async () => {
    const filler = await coordinator.lease(fullGpu1);
    const request = coordinator.acquire(onGpu1);
    const seen: QueueUpdate[] = [];
    for await (const update of request.updates()) {
      seen.push(update);
      if (seen.length === 1) await filler.release(); // frees GPU 1: the request is granted
    }
    const lease = await request.lease;
    expect(seen[0]?.requestId).toBe(request.requestId);
    expect(lease.requestId).toBe(request.requestId);
    expect(lease.gpuId).toBe(GPU1);
    await lease.release();
  });

  test("abort while holding: lease.signal aborts, and the lease is released when fn settles", async () => {
    const controller = new AbortController();
    const events: string[] = [];
    const run = coordinator.withLease(
      slot,
      async (lease) => {
        events.push("started");
        controller.abort();
        const reason = await aborted(lease.signal, 5_000);
        events.push(reason instanceof CancelledError ? "told to stop" : "other");
        throw reason;
      },
      { signal: controller.signal },
    );
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(events).toEqual(["started", "told to stop"]);
    expect(await h.liveLeases(coordinator.holderId)).toBe(0);
  });

  test("await using releases at the end of the scope", async () => {
    let leaseId = "";
    {
      await using lease = await coordinator.lease(slot);
      leaseId = lease.id;
      expect(await h.liveLeases(coordinator.holderId)).toBe(1);
    }
    expect(leaseId).toMatch(/\S/);
    expect(await h.liveLeases(coordinator.holderId)).toBe(0);
  });

  test("release is idempotent", async () => {
    const lease = await coordinator.lease(slot);
    await lease.release();
    await lease.release();
    expect(lease.state).toBe("released");
    expect(await h.liveLeases(coordinator.holderId)).toBe(0);
  });

  test("a slot that can never fit fails at once with NotFittableError", async () => {
    await expect(coordinator.lease({ service: "kiwi", vramGb: 100 })).rejects.toBeInstanceOf(
      NotFittableError,
    );
    await expect(
      coordinator.lease({ service: "kiwi", vramGb: 1, gpu: "local/9" }),
    ).rejects.toBeInstanceOf(NotFittableError);
    expect(await h.queueLength()).toBe(0);
  });

  test("a lease the coordinator no longer knows is lost: signal aborts with LeaseLostError", async () => {
    const lease = await coordinator.lease(slot, { ttlMs: 1_500 });
    const lost: string[] = [];
    lease.on("lost", (err) => lost.push(err.reason));
    await h.leases.release({ target: { case: "leaseId", value: lease.id } }); // someone else
    const reason = await aborted(lease.signal, 10_000);
    expect(reason).toBeInstanceOf(LeaseLostError);
    expect((reason as LeaseLostError).reason).toBe("not_found");
    expect(lost).toEqual(["not_found"]);
    expect(lease.state).toBe("lost");
    await lease.release(); // still harmless
  });

  test("keep-alive holds a lease past its TTL", async () => {
    const lease = await coordinator.lease(slot, { ttlMs: 1_000 });
    // Three TTLs of keep-alive (bounded polling, ~3 s).
    for (let i = 0; i < 12; i++) {
      await new Promise((r) => setTimeout(r, 250));
      expect(lease.signal.aborted).toBe(false);
    }
    expect(await h.liveLeases(coordinator.holderId)).toBe(1);
    await lease.release();
  });

  test("close() releases held leases and aborts their signals", async () => {
    const lease = await coordinator.lease(slot);
    await coordinator.close();
    expect(lease.signal.aborted).toBe(true);
    expect((lease.signal.reason as LeaseLostError).reason).toBe("closed");
    expect(await h.liveLeases(coordinator.holderId)).toBe(0);
    await expect(coordinator.lease(slot)).rejects.toThrow(/closed/);
  });

  test("GPU profiles and fit come from the coordinator", async () => {
    const profile = await coordinator.getGpuProfile("rtx4090");
    expect(profile.name).toBe("GeForce RTX 4090");
    expect(profile.vramMb).toBe(24576);
    const fit = await coordinator.checkFit({ gpuId: "local/0", paramsBillions: 8 });
    expect(fit.source).toBe("coordinator");
    expect(fit.fits.map((f) => f.precision)).toEqual(["fp16", "int8", "int4"]);
    const err = await coordinator.getGpuProfile("RTX 9999 Ultra").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuProfileNotFoundError);
    expect((err as GpuProfileNotFoundError).suggestions.length).toBeGreaterThan(0);
  });
});
