/**
 * The coordinator process dies (SIGKILL) while a lease is held: the lease's signal fires with
 * LeaseLostError("unreachable") once the TTL has passed since the last keep-alive, i.e. within
 * TTL + one keep-alive interval (TTL/3) of the kill. The wait below is bounded but generous:
 * the test checks that the signal fires, not how fast.
 */
import {
  LeaseLostError,
  ResourceCoordinator,
  VRAMSlot,
  renewIntervalMs,
} from "../../client/index.js";
import { spawnCoordinator, type SpawnedCoordinator } from "../support/coordinator.js";
import { aborted, captureLogger } from "./helpers.js";

const TTL_MS = 1_500;

test("SIGKILL of the coordinator aborts the held lease's signal", async () => {
  const spawned: SpawnedCoordinator = await spawnCoordinator();
  const coordinator = new ResourceCoordinator({
    url: spawned.url,
    service: "kiwi",
    logger: captureLogger().logger,
    ttlMs: TTL_MS,
  });
  try {
    const lease = await coordinator.lease(new VRAMSlot({ service: "kiwi", vramGb: 2 }));
    expect(lease.mode).toBe("coordinated");
    expect(lease.ttlMs).toBe(TTL_MS);
    const lost: string[] = [];
    lease.on("lost", (err) => lost.push(err.reason));

    spawned.kill("SIGKILL");
    await spawned.exited;

    const documentedMs = TTL_MS + renewIntervalMs(TTL_MS); // 2000 ms
    const reason = await aborted(lease.signal, documentedMs + 10_000);
    expect(reason).toBeInstanceOf(LeaseLostError);
    expect((reason as LeaseLostError).reason).toBe("unreachable");
    expect(lost).toEqual(["unreachable"]);
    expect(lease.state).toBe("lost");

    // With the coordinator gone, new work falls back to local mode.
    await expect(
      coordinator.withLease({ service: "kiwi", vramGb: 2 }, async (l) => l.mode),
    ).resolves.toBe("local");
  } finally {
    await coordinator.close();
    spawned.kill("SIGKILL");
  }
});
