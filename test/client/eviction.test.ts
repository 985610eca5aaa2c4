/**
 * Cooperative eviction between two products: a high-priority request makes the low-priority
 * holder checkpoint (callback), pause, and later resume (callback), in that order.
 */
import { ResourceCoordinator, VRAMSlot, type Lease } from "../../client/index.js";
import { GPU1, startHarness, type Harness } from "./harness.js";
import { captureLogger, waitFor } from "./helpers.js";

describe("eviction callbacks", () => {
  let h: Harness;
  let low: ResourceCoordinator;
  let high: ResourceCoordinator;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(() => {
    low = new ResourceCoordinator({ url: h.url, service: "snipe", logger: captureLogger().logger });
    high = new ResourceCoordinator({ url: h.url, service: "kiwi", logger: captureLogger().logger });
  });
  afterEach(async () => {
    await Promise.all([low.close(), high.close()]);
  });

  test("high priority checkpoints the low one, which pauses and later resumes", async () => {
    const log: string[] = [];
    const lowSlot = new VRAMSlot({
      service: "snipe",
      taskType: "embeddings",
      vramMb: 6144,
      gpu: GPU1,
      priority: "batch",
    });
    const highSlot = new VRAMSlot({
      service: "kiwi",
      taskType: "chat",
      vramMb: 6144,
      gpu: GPU1,
      priority: "high",
    });

    const lowLease: Lease = await low.lease(lowSlot, {
      checkpoint: async (_lease, info) => {
        log.push(`low checkpoint (by ${info.preemptorService}, ${info.preemptorPriority})`);
      },
      resume: async (lease) => {
        log.push(`low resume on ${lease.gpuId}`);
      },
    });
    expect(lowLease.evictable).toBe(true);
    const firstToken = lowLease.fencingToken;
    lowLease.on("paused", () => log.push(`low paused (${lowLease.state})`));
    lowLease.on("resumed", () => log.push(`low resumed (${lowLease.state})`));
    log.push("low granted");

    await high.withLease(highSlot, async (lease) => {
      log.push(`high granted on ${lease.gpuId}`);
      expect(lowLease.state).toBe("paused");
      const status = await h.cluster.getStatus({});
      const paused = status.leases.find((l) => l.leaseId === lowLease.id);
      expect(paused?.pausedByRequestId).toBe(lease.requestId);
      log.push("high done"); // withLease releases right after this
    });

    await waitFor("the low lease to resume", () => log.some((l) => l.startsWith("low resumed")));
    expect(log).toEqual([
      "low granted",
      "low checkpoint (by kiwi, high)",
      "low paused (paused)",
      `high granted on ${GPU1}`,
      "high done",
      `low resume on ${GPU1}`,
      "low resumed (active)",
    ]);
    expect(lowLease.state).toBe("active");
    expect(lowLease.fencingToken).toBeGreaterThan(firstToken);
    expect(lowLease.signal.aborted).toBe(false);
    await lowLease.release();
    await waitFor("no leases left", async () => (await h.liveLeases()) === 0);
  });

  test("a checkpoint callback that throws refuses: the lease stays active", async () => {
    const lowLease = await low.lease(
      { service: "snipe", vramMb: 6144, gpu: GPU1, priority: "low" },
      {
        checkpoint: () => {
          throw new Error("mid-batch, cannot stop now");
        },
      },
    );
    expect(lowLease.evictable).toBe(true);
    const waiting = high.lease(
      { service: "kiwi", vramMb: 6144, gpu: GPU1, priority: "critical" },
      { timeoutMs: 1_500 },
    );
    await expect(waiting).rejects.toMatchObject({ name: "CancelledError", reason: "timeout" });
    expect(lowLease.state).toBe("active");
    expect(lowLease.signal.aborted).toBe(false);
    expect(await h.liveLeases(low.holderId)).toBe(1);
    await lowLease.release();
  });

  test("an evictable lease released by someone else is reported lost over the session", async () => {
    const lease = await low.lease(
      { service: "snipe", vramMb: 1024, priority: "low" },
      { checkpoint: () => undefined },
    );
    expect(lease.evictable).toBe(true);
    const lost: string[] = [];
    lease.on("lost", (err) => lost.push(err.reason));
    await h.leases.release({ target: { case: "leaseId", value: lease.id } }); // an operator, say
    await waitFor("the loss", () => lease.signal.aborted);
    // Default TTL 30 s: the next keep-alive is 10 s away, so this came over the session.
    expect(lost).toEqual(["revoked"]);
    expect(lease.state).toBe("lost");
    await lease.release();
  });
});
