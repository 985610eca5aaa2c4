/**
 * An Acquire interrupted by a coordinator restart is retried with the same request id (the
 * coordinator's idempotency key) until the new process answers; no fallback happens.
 */
import { ResourceCoordinator, VRAMSlot, type QueueUpdate } from "../../client/index.js";
import { GPU1, startHarness, type Harness } from "./harness.js";
import { captureLogger, waitFor } from "./helpers.js";

test("a waiting Acquire survives a coordinator restart with the same request id", async () => {
  let h: Harness | undefined = await startHarness();
  const port = Number(new URL(h.url).port);
  const mk = (service: string) =>
    new ResourceCoordinator({
      url: h!.url,
      service,
      logger: captureLogger().logger,
      retry: { initialMs: 50, maxMs: 200 },
      reconnectWindowMs: 15_000,
    });
  const filler = mk("snipe");
  const waiter = mk("kiwi");
  const modes: string[] = [];
  waiter.on("mode", (m) => modes.push(m));
  try {
    await filler.lease(new VRAMSlot({ service: "snipe", vramMb: 8192, gpu: GPU1 }));
    const updates: QueueUpdate[] = [];
    const request = waiter.acquire(new VRAMSlot({ service: "kiwi", vramMb: 1024, gpu: GPU1 }), {
      onQueued: (u) => updates.push(u),
    });
    await waitFor("the request to queue", () => updates.length > 0);

    await h.close(); // graceful: the Acquire stream ends with UNAVAILABLE
    h = await startHarness(port); // a fresh coordinator: GPU 1 is free there

    const lease = await request.lease;
    expect(lease.requestId).toBe(request.requestId);
    expect(lease.mode).toBe("coordinated");
    expect(lease.gpuId).toBe(GPU1);
    const onServer = await h.leases.listLeases({ holderId: waiter.holderId });
    expect(onServer.leases.map((l) => l.requestId)).toEqual([request.requestId]);
    expect(modes).toEqual([]);
    await lease.release();
  } finally {
    await Promise.all([filler.close(), waiter.close()]);
    await h?.close();
  }
});

test("a coordinator that does not come back within reconnectWindowMs: the waiting request falls back to local", async () => {
  const h = await startHarness();
  const log = captureLogger();
  const mk = (service: string) =>
    new ResourceCoordinator({
      url: h.url,
      service,
      logger: log.logger,
      retry: { initialMs: 50, maxMs: 100 },
      reconnectWindowMs: 500,
      probe: { initialMs: 60_000, maxMs: 60_000 }, // no recovery during this test
    });
  const filler = mk("snipe");
  const waiter = mk("kiwi");
  try {
    await filler.lease(new VRAMSlot({ service: "snipe", vramMb: 8192, gpu: GPU1 }));
    const updates: QueueUpdate[] = [];
    const request = waiter.acquire(new VRAMSlot({ service: "kiwi", vramMb: 1024, gpu: GPU1 }), {
      onQueued: (u) => updates.push(u),
    });
    await waitFor("the request to queue", () => updates.length > 0);
    await h.close(); // and it stays down
    const lease = await request.lease;
    expect(lease.mode).toBe("local");
    expect(lease.requestId).toBe(request.requestId);
    expect(waiter.mode).toBe("local");
    expect(updates.map((u) => u.mode)).toContain("coordinated");
    await lease.release();
  } finally {
    await Promise.all([filler.close(), waiter.close()]);
  }
});
