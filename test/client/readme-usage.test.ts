/**
 * The README's usage section, verbatim between the markers, run against a test coordinator
 * (CF_ORCH_URL points at it). If this test changes, the README must change with it.
 */
import { ResourceCoordinator, VRAMSlot } from "../../client/index.js";
import { startHarness, type Harness } from "./harness.js";

// Stand-ins for the product's own code.
const prompt = "a soup with leeks";
const loaded: string[] = [];
async function runInference(text: string, opts: { gpu: string; signal: AbortSignal }) {
  return `${text} on ${opts.gpu} (aborted: ${opts.signal.aborted})`;
}
async function loadModel(gpu: string) {
  loaded.push(`load ${gpu}`);
}
async function unloadModel() {
  loaded.push("unload");
}

describe("README usage", () => {
  let h: Harness;
  const saved = { url: process.env.CF_ORCH_URL, level: process.env.CF_ORCH_LOG_LEVEL };
  beforeAll(async () => {
    h = await startHarness();
    process.env.CF_ORCH_URL = h.url;
    process.env.CF_ORCH_LOG_LEVEL = "warn";
  });
  afterAll(async () => {
    for (const [key, value] of [
      ["CF_ORCH_URL", saved.url],
      ["CF_ORCH_LOG_LEVEL", saved.level],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await h.close();
  });

  test("the snippet runs as written", async () => {
    const modes: string[] = [];
    // --- README usage begin ---
    const coordinator = new ResourceCoordinator({ service: "kiwi" }); // CF_ORCH_URL, CF_ORCH_TOKEN
    const slot = new VRAMSlot({ service: "kiwi", taskType: "recipe_llm", vramGb: 4.0 }); // 4096 MiB

    // Released on every exit path: return, throw, abort.
    const answer = await coordinator.withLease(slot, async (lease) =>
      runInference(prompt, { gpu: lease.gpuId, signal: lease.signal }),
    );

    // Explicit resource management, a cancellable and observable wait, eviction callbacks.
    const controller = new AbortController();
    {
      await using lease = await coordinator.lease(slot, {
        signal: controller.signal,
        timeoutMs: 60_000,
        onQueued: (u) => console.log(`waiting: #${u.position}, ${u.reasonText}`),
        checkpoint: async () => unloadModel(), // a more urgent task needs this memory
        resume: async (lease) => loadModel(lease.gpuId), // possibly on another GPU
      });
      lease.on("paused", () => console.log("paused for a more urgent task"));
      await loadModel(lease.gpuId);
    } // released here

    coordinator.on("mode", (mode) => modes.push(mode)); // "local" when unreachable, then "coordinated"
    await coordinator.close();
    // --- README usage end ---
    expect(answer).toMatch(/^a soup with leeks on local\/\d \(aborted: false\)$/);
    expect(loaded).toEqual([expect.stringMatching(/^load local\/\d$/)]);
    expect(modes).toEqual([]);
    expect(await h.liveLeases()).toBe(0);
  });
});
