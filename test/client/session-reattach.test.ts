/**
 * A holder process restarts (same holderId) while the coordinator still holds its previous
 * eviction session, whose connection died without a FIN. The new session is refused with
 * FAILED_PRECONDITION ("another session of this holder is open") until the coordinator's
 * PINGs find the old connection dead; the client retries with back-off, says so once, and the
 * lease becomes evictable as soon as the session is accepted, even though register() had
 * already timed out. Eviction then works for it.
 */
import { ResourceCoordinator, VRAMSlot } from "../../client/index.js";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { startTestCoordinator } from "../support/coordinator.js";
import { startFrozenProxy } from "../server/frozen-proxy.js";
import { captureLogger, waitFor } from "./helpers.js";

jest.setTimeout(30_000);

test("a reconnecting eviction session refused while the old one is open retries until accepted", async () => {
  const c: RunningCoordinator = await startTestCoordinator({
    pingIntervalMs: 1000,
    pingTimeoutMs: 1000,
  });
  const proxy = await startFrozenProxy(c.port);
  const holderId = "kiwi.box.1";
  const before = new ResourceCoordinator({
    url: `http://127.0.0.1:${proxy.port}`,
    service: "kiwi",
    holderId,
    ttlMs: 2000,
    logger: captureLogger().logger,
  });
  const log = captureLogger();
  const after = new ResourceCoordinator({
    url: c.url,
    service: "kiwi",
    holderId,
    registerTimeoutMs: 300,
    retry: { initialMs: 100, maxMs: 400 },
    logger: log.logger,
  });
  const preemptor = new ResourceCoordinator({
    url: c.url,
    service: "urgent",
    logger: captureLogger().logger,
  });
  try {
    const old = await before.lease(
      new VRAMSlot({ service: "kiwi", vramMb: 1024, gpu: "local/0" }),
      {
        checkpoint: async () => undefined,
      },
    );
    expect(old.evictable).toBe(true);
    proxy.freeze(); // the old process's machine hangs: no FIN, no RST

    const checkpoints: string[] = [];
    const lease = await after.lease(
      new VRAMSlot({ service: "kiwi", vramMb: 8192, gpu: "local/1", priority: "low" }),
      { checkpoint: async (l) => void checkpoints.push(l.id) },
    );
    // register() gave up after 300 ms: the old session is still open on the coordinator.
    expect(lease.evictable).toBe(false);
    const refusals = () => log.lines.filter((l) => /previous session open/.test(l.msg));
    await waitFor("a refused attempt", () => refusals().length > 0, { attempts: 100, everyMs: 20 });

    // Once PINGs (1 s + 1 s) end the old session, the retry gets in and registers the lease.
    await waitFor("the lease to become evictable", () => lease.evictable, {
      attempts: 150,
      everyMs: 50,
    });
    expect(c.scheduler.getLease(lease.id)?.evictable).toBe(true);
    // Retried several times; said once at info, the further attempts at debug.
    expect(refusals().length).toBeGreaterThan(1);
    expect(refusals().filter((l) => l.level >= 30)).toHaveLength(1);
    expect(refusals()[0]!.level).toBe(30);
    expect(log.lines.some((l) => l.msg === "cf-orch eviction session re-attached")).toBe(true);
    expect(log.lines.filter((l) => l.level >= 40 && /eviction session broke/.test(l.msg))).toEqual(
      [],
    );

    // And it is a working eviction session.
    await preemptor.withLease(
      new VRAMSlot({ service: "urgent", vramMb: 8192, gpu: "local/1", priority: "high" }),
      async () => {
        expect(checkpoints).toEqual([lease.id]);
        expect(lease.state).toBe("paused");
      },
    );
    await lease.release();
  } finally {
    await proxy.close();
    await Promise.all([before.close(), after.close(), preemptor.close()]);
    await c.close();
  }
});
