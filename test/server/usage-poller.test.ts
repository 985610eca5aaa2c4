/**
 * The nvidia-smi usage poller (coordinator/usage-poller.ts) with a fake query whose runs the
 * test finishes by hand: at most one run in flight, releases during a run share one follow-up,
 * retries while requests wait, periodic ticks skipped while a run is in flight, stop() is final.
 */
import pino from "pino";
import type { SmiGpu } from "../../coordinator/config/nvidia-smi.js";
import { UsagePoller, type UsagePollerOptions } from "../../coordinator/usage-poller.js";

const logger = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Lets the poller's promise callbacks run. */
const settle = () => new Promise((r) => setImmediate(r));

async function waitFor(fn: () => boolean, ms: number): Promise<void> {
  const start = Date.now();
  while (!fn()) {
    if (Date.now() - start > ms) throw new Error(`condition not met within ${ms} ms`);
    await sleep(5);
  }
}

function setup(opts: Partial<UsagePollerOptions> = {}) {
  const calls: Array<{ resolve: (v: SmiGpu[]) => void; reject: (e: Error) => void }> = [];
  const runs: string[] = [];
  let applied = 0;
  const poller = new UsagePoller({
    path: "nvidia-smi",
    periodMs: 0,
    logger,
    query: () => new Promise<SmiGpu[]>((resolve, reject) => calls.push({ resolve, reject })),
    apply: () => void applied++,
    onRun: (trigger, ok) => runs.push(`${trigger}:${ok ? "ok" : "error"}`),
    wanted: () => false,
    ...opts,
  });
  return { poller, calls, runs, applied: () => applied };
}

let stopMe: UsagePoller | undefined;
afterEach(() => stopMe?.stop());

test("one run in flight; any number of releases meanwhile share exactly one follow-up", async () => {
  const { poller, calls, runs, applied } = setup();
  stopMe = poller;
  poller.poll();
  expect(calls).toHaveLength(1);
  poller.poll();
  poller.poll();
  poller.poll();
  expect(calls).toHaveLength(1);
  calls[0]!.resolve([]);
  await settle();
  expect(calls).toHaveLength(2); // the follow-up: the first run may predate the releases
  calls[1]!.resolve([]);
  await settle();
  await sleep(50);
  expect(calls).toHaveLength(2); // nothing owed, no request waits: no retry
  expect(runs).toEqual(["release:ok", "release:ok"]);
  expect(applied()).toBe(2);
});

test("while requests wait, runs repeat at the retry delays; a new release restarts the series", async () => {
  let waiting = true;
  const { poller, calls, runs } = setup({ retryDelaysMs: [20, 40], wanted: () => waiting });
  stopMe = poller;
  poller.poll();
  calls[0]!.resolve([]);
  await waitFor(() => calls.length === 2, 2000);
  calls[1]!.reject(new Error("driver busy")); // a failed run is retried like any other
  await waitFor(() => calls.length === 3, 2000);
  calls[2]!.resolve([]);
  await sleep(150);
  expect(calls).toHaveLength(3); // the series is over
  expect(runs).toEqual(["release:ok", "retry:error", "retry:ok"]);
  // A new release: a run at once and a fresh series; nobody waiting stops it early.
  poller.poll();
  expect(calls).toHaveLength(4);
  waiting = false;
  calls[3]!.resolve([]);
  await sleep(100);
  expect(calls).toHaveLength(4);
});

test("retries never wait as long as the period, and periodic ticks skip a run in flight", async () => {
  let held: (() => void) | undefined;
  let queries = 0;
  const { poller, runs } = setup({
    periodMs: 60,
    retryDelaysMs: [10, 1000],
    wanted: () => true,
    // The first run hangs until the test lets it go; later ones answer at once.
    query: () =>
      new Promise<SmiGpu[]>((resolve) => {
        if (queries++ === 0) held = () => resolve([]);
        else setImmediate(() => resolve([]));
      }),
  });
  stopMe = poller;
  poller.start();
  poller.poll();
  await sleep(200); // about three ticks find the release run in flight
  expect(queries).toBe(1);
  held!();
  await sleep(1400);
  // After the release run: one 10 ms retry (or the follow-up it turns into when a tick is in
  // flight); the 1000 ms one is longer than the period, which takes over.
  expect(runs.filter((r) => !r.startsWith("period"))).toHaveLength(2);
  expect(runs.filter((r) => r.startsWith("period")).length).toBeGreaterThanOrEqual(5);
});

test("stop() is final: no follow-up, no retry, nothing applied after it", async () => {
  const { poller, calls, applied } = setup({ retryDelaysMs: [5], wanted: () => true });
  poller.poll();
  poller.poll();
  poller.stop();
  calls[0]!.resolve([]);
  await settle();
  await sleep(50);
  expect(calls).toHaveLength(1);
  expect(applied()).toBe(0);
  poller.poll();
  expect(calls).toHaveLength(1);
});

test("a measurement that cannot be applied is logged, and polling goes on", async () => {
  const { poller, calls, runs } = setup({
    apply: () => {
      throw new Error("store failed");
    },
  });
  stopMe = poller;
  poller.poll();
  calls[0]!.resolve([]);
  await settle();
  poller.poll();
  expect(calls).toHaveLength(2);
  expect(runs).toEqual(["release:ok"]);
});
