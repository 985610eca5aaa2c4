/**
 * Local fallback with no coordinator at all (a closed loopback port): concurrent leases run
 * one after another in request order, one warning, one mode event; fallback "error" refuses.
 */
import {
  CancelledError,
  CoordinatorUnavailableError,
  ResourceCoordinator,
  VRAMSlot,
  type CoordinatorMode,
} from "../../client/index.js";
import { captureLogger, closedPort, sleep } from "./helpers.js";

const slot = new VRAMSlot({ service: "kiwi", taskType: "recipe_llm", vramGb: 4.0 });

describe("local fallback (coordinator unreachable)", () => {
  let url: string;
  beforeAll(async () => {
    url = `http://127.0.0.1:${await closedPort()}`;
  });

  test("concurrent withLease calls run one at a time, FIFO, with one warning and one mode event", async () => {
    const log = captureLogger();
    const coordinator = new ResourceCoordinator({
      url,
      service: "kiwi",
      logger: log.logger,
      probe: { initialMs: 50, maxMs: 200 },
    });
    const modes: CoordinatorMode[] = [];
    coordinator.on("mode", (mode) => modes.push(mode));
    const events: string[] = [];
    try {
      const results = await Promise.all(
        [1, 2, 3, 4].map((n) =>
          coordinator.withLease(slot, async (lease) => {
            events.push(`enter ${n}`);
            expect(lease.mode).toBe("local");
            expect(lease.vramMb).toBe(4096);
            await sleep(15); // room for an overlap, were the mutex broken
            events.push(`exit ${n}`);
            return n * 10;
          }),
        ),
      );
      expect(results).toEqual([10, 20, 30, 40]);
      expect(events).toEqual([
        "enter 1",
        "exit 1",
        "enter 2",
        "exit 2",
        "enter 3",
        "exit 3",
        "enter 4",
        "exit 4",
      ]);
      expect(coordinator.mode).toBe("local");
      expect(modes).toEqual(["local"]);
      const warnings = log.warnings();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toMatch(/unreachable.*locally.*one at a time/);
    } finally {
      await coordinator.close();
    }
  });

  test("a throwing task frees the local mutex for the next one", async () => {
    const { logger } = captureLogger();
    const coordinator = new ResourceCoordinator({ url, service: "kiwi", logger });
    try {
      await expect(
        coordinator.withLease(slot, async () => {
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      await expect(coordinator.withLease(slot, async (lease) => lease.mode)).resolves.toBe("local");
    } finally {
      await coordinator.close();
    }
  });

  test("waiting in the local queue can be aborted and timed out", async () => {
    const { logger } = captureLogger();
    const coordinator = new ResourceCoordinator({ url, service: "kiwi", logger });
    try {
      const first = await coordinator.lease(slot);
      expect(first.mode).toBe("local");
      const controller = new AbortController();
      const queued: number[] = [];
      const second = coordinator.lease(slot, {
        signal: controller.signal,
        onQueued: (u) => queued.push(u.position),
      });
      const third = coordinator.lease(slot, { timeoutMs: 30 });
      await expect(third).rejects.toMatchObject({ name: "CancelledError", reason: "timeout" });
      controller.abort();
      await expect(second).rejects.toBeInstanceOf(CancelledError);
      expect(queued[0]).toBe(1);
      await first.release();
      await first.release(); // idempotent
      const fourth = await coordinator.lease(slot);
      expect(fourth.mode).toBe("local");
      await fourth.release();
    } finally {
      await coordinator.close();
    }
  });

  test("await using releases a local lease at the end of its scope", async () => {
    const { logger } = captureLogger();
    const coordinator = new ResourceCoordinator({ url, service: "kiwi", logger });
    try {
      {
        await using lease = await coordinator.lease(slot);
        expect(lease.state).toBe("active");
      }
      // The mutex is free again: this would wait forever otherwise (bounded by timeoutMs).
      const next = await coordinator.lease(slot, { timeoutMs: 5_000 });
      await next.release();
      expect(next.state).toBe("released");
    } finally {
      await coordinator.close();
    }
  });

  test('fallback "error" throws CoordinatorUnavailableError and stays coordinated', async () => {
    const log = captureLogger();
    const coordinator = new ResourceCoordinator({
      url,
      service: "kiwi",
      logger: log.logger,
      fallback: "error",
    });
    const modes: CoordinatorMode[] = [];
    coordinator.on("mode", (mode) => modes.push(mode));
    try {
      const ran = jest.fn();
      await expect(coordinator.withLease(slot, ran)).rejects.toBeInstanceOf(
        CoordinatorUnavailableError,
      );
      expect(ran).not.toHaveBeenCalled();
      expect(coordinator.mode).toBe("coordinated");
      expect(modes).toEqual([]);
    } finally {
      await coordinator.close();
    }
  });

  test("a DNS failure counts as unreachable too", async () => {
    const { logger } = captureLogger();
    const coordinator = new ResourceCoordinator({
      url: "http://cf-orch-does-not-exist.invalid:7700",
      service: "kiwi",
      logger,
      fallback: "error",
    });
    try {
      await expect(coordinator.lease(slot)).rejects.toBeInstanceOf(CoordinatorUnavailableError);
    } finally {
      await coordinator.close();
    }
  });

  test("offline profile queries use the bundled registry", async () => {
    const { logger } = captureLogger();
    const coordinator = new ResourceCoordinator({ url, service: "kiwi", logger });
    try {
      const profile = await coordinator.getGpuProfile("NVIDIA GeForce RTX 4090");
      expect(profile.name).toBe("GeForce RTX 4090");
      expect(profile.vramGb).toBe(24);
      const fit = await coordinator.checkFit({ gpuName: "rtx4090", paramsBillions: 8 });
      expect(fit.source).toBe("bundled");
      expect(fit.fits.map((f) => f.precision)).toEqual(["fp16", "int8", "int4"]);
      expect(fit.fits.every((f) => f.fits)).toBe(true);
    } finally {
      await coordinator.close();
    }
  });
});
