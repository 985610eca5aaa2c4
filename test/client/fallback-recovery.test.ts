/**
 * Local mode ends when the coordinator answers again: the probe finds it, the mode event says
 * "coordinated", and the next lease is granted by the coordinator while a lease that started
 * locally finishes locally.
 */
import { ResourceCoordinator, VRAMSlot, type CoordinatorMode } from "../../client/index.js";
import { startHarness, type Harness } from "./harness.js";
import { captureLogger, closedPort, waitFor } from "./helpers.js";

const slot = new VRAMSlot({ service: "kiwi", taskType: "recipe_llm", vramGb: 4.0 });

test("coordinator back on its port: the next lease is coordinated again", async () => {
  const port = await closedPort();
  const log = captureLogger();
  const coordinator = new ResourceCoordinator({
    url: `http://127.0.0.1:${port}`,
    service: "kiwi",
    logger: log.logger,
    probe: { initialMs: 50, maxMs: 200 },
  });
  const modes: CoordinatorMode[] = [];
  coordinator.on("mode", (mode) => modes.push(mode));
  let h: Harness | undefined;
  try {
    const local = await coordinator.lease(slot);
    expect(local.mode).toBe("local");
    expect(coordinator.mode).toBe("local");

    h = await startHarness(port);
    const server = h;
    await waitFor("the probe to find the coordinator", () => coordinator.mode === "coordinated", {
      attempts: 400,
      everyMs: 25,
    });

    // Granted by the coordinator although the local lease still holds the local mutex.
    const result = await coordinator.withLease(slot, async (lease) => {
      expect(lease.mode).toBe("coordinated");
      expect(lease.id).not.toMatch(/^local-/);
      return server.liveLeases(coordinator.holderId);
    });
    expect(result).toBe(1);
    expect(local.state).toBe("active"); // the local lease finishes locally
    await local.release();
    expect(modes).toEqual(["local", "coordinated"]);
    expect(log.warnings()).toHaveLength(1);
    expect(log.lines.some((l) => /reachable again/.test(l.msg))).toBe(true);
  } finally {
    await coordinator.close();
    await h?.close();
  }
});
