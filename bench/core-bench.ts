/**
 * Micro-benchmark of the scheduling core: cost per scheduling event as the queue grows
 * (PRODUCT.md §9, issue 3; scenario 6 of `npm run bench`, issue 9). No network, no server.
 *
 *   npx tsx bench/core-bench.ts            # prints the two workload tables
 *   npx tsx bench/core-bench.ts --quick    # fewer repetitions
 *   npx tsx bench/core-bench.ts --json     # the full result as JSON
 *
 * Setup at 1k, 10k and 100k waiting requests: two GPUs, node-a/0 (24576 MiB) held in full and
 * node-a/1 (8192 MiB) free; the waiting requests need 16384 MiB, so only node-a/0 can ever take
 * them (one class, one eligibility group: the longest line one GPU can have). A manual clock
 * (TTLs of an hour: nothing expires) and one listener that counts "queued" events.
 *
 * Two workloads, timed in aggregate (the original micro-benchmark of the core's author):
 *  - churn: a request is acquired and granted, then released, on node-a/1, which the waiting
 *    line cannot use. Every acquire and release runs a full placement pass over the line;
 *    nobody's position changes. This is the scheduler's own cost per event and must not grow
 *    with the queue. Median of three runs.
 *  - hand-off: the running lease is released, the head of the line is granted and a new request
 *    joins at the back. Every waiter moves up one place and is told so: one "queued" event per
 *    waiter, inherently linear in the queue; reported per event and per position update.
 *
 * And single events, each timed alone (process.hrtime), the line restored to n afterwards,
 * untimed: join (acquire at the tail), leave-tail (that request cancels), keep-alive (the
 * holder renews), release-grant (the holder releases; the head is granted), leave-head (the
 * first waiter cancels; everyone behind moves up).
 */
import { Scheduler, type CoreEvent } from "../coordinator/core/index.js";

export const CORE_EVENTS = [
  "churn",
  "hand-off",
  "join",
  "leave-tail",
  "keep-alive",
  "release-grant",
  "leave-head",
] as const;
export type CoreEventName = (typeof CORE_EVENTS)[number];

export interface CoreParams {
  sizes: number[];
  /** churn: acquire+release pairs per run (three runs, median). */
  churnOps: number;
  /** hand-off: release+join pairs at n waiting = clamp(handOffWork / n, handOffMin, ...). */
  handOffWork: number;
  handOffMin: number;
  /** Single events: repetitions of the cheap ones. */
  cheapReps: number;
  /** Single events: time budget per (event, size) for those that may touch the whole line. */
  heavyBudgetMs: number;
  heavyMinReps: number;
  heavyMaxReps: number;
}

export const DEFAULT_CORE_PARAMS: CoreParams = {
  sizes: [1_000, 10_000, 100_000],
  churnOps: 20_000,
  handOffWork: 2e6,
  handOffMin: 50,
  cheapReps: 3000,
  heavyBudgetMs: 1500,
  heavyMinReps: 20,
  heavyMaxReps: 2000,
};

export const QUICK_CORE_PARAMS: CoreParams = {
  sizes: [1_000, 10_000, 100_000],
  churnOps: 4000,
  handOffWork: 4e5,
  handOffMin: 10,
  cheapReps: 300,
  heavyBudgetMs: 300,
  heavyMinReps: 5,
  heavyMaxReps: 200,
};

export interface CoreEventStats {
  /** Events timed. */
  events: number;
  /** Microseconds per event: mean (and, for single events, median and p99). */
  meanUs: number;
  p50Us?: number;
  p99Us?: number;
  /** "queued" (position) updates emitted per event. */
  updatesPerEvent: number;
  /** meanUs / updatesPerEvent, when there are updates. */
  usPerUpdate?: number;
}

export interface CoreResult {
  sizes: number[];
  /** event → size → stats. */
  events: Record<CoreEventName, Record<string, CoreEventStats>>;
  /** event → cost at the largest size / cost at the smallest (means; p50 for single events). */
  ratios: Record<CoreEventName, { mean: number; p50?: number }>;
}

const r2 = (v: number): number => Math.round(v * 100) / 100;

function slot(vramMb: number, gpuId?: string) {
  return {
    service: "bench",
    taskType: "llm",
    vramMb,
    priority: 3 as const,
    ...(gpuId ? { gpuId } : {}),
  };
}

class Bench {
  readonly s: Scheduler;
  /** "queued" events seen. */
  updates = 0;
  lastGranted: string | undefined;
  holder: string;
  /** Request ids of the line, oldest first, from `head` on (no O(n) scans needed). */
  readonly line: string[] = [];
  head = 0;
  private next = 0;
  /** The clock, in ms. It only moves when tick() is called (nothing expires: TTLs are 1 h). */
  t = 0;

  constructor(waiting: number) {
    this.s = new Scheduler({
      clock: { now: () => this.t },
      defaultTtlMs: 3_600_000,
      gpus: [
        { id: "node-a/0", node: "node-a", index: 0, capacityMb: 24576 },
        { id: "node-a/1", node: "node-a", index: 1, capacityMb: 8192 },
      ],
      maxTtlMs: 3_600_000,
    });
    this.s.onEvent((e: CoreEvent) => {
      if (e.type === "queued") this.updates++;
      else if (e.type === "granted") this.lastGranted = e.lease.leaseId;
    });
    // Fill node-a/0, then line up requests that only node-a/0 can hold.
    const r = this.s.acquire({ requestId: "hold", holderId: "h", slot: slot(24576, "node-a/0") });
    if (r.kind !== "granted") throw new Error("core bench: holder not granted");
    this.holder = r.lease.leaseId;
    for (let i = 0; i < waiting; i++) this.join();
  }

  /** A new request joins the tail of the line. */
  join(): string {
    const id = `w${this.next++}`;
    const r = this.s.acquire({ requestId: id, holderId: `h${this.next % 100}`, slot: slot(16384) });
    if (r.kind !== "queued") throw new Error("core bench: a waiter was not queued");
    this.line.push(id);
    return id;
  }

  /** The holder releases; the head of the line is granted and becomes the holder. */
  releaseGrant(): void {
    this.lastGranted = undefined;
    this.s.release(this.holder);
    if (!this.lastGranted) throw new Error("core bench: hand-off did not grant");
    this.holder = this.lastGranted;
    this.head++;
  }

  get waiting(): number {
    return this.line.length - this.head;
  }
}

function churn(b: Bench, ops: number): CoreEventStats {
  const u0 = b.updates;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const r = b.s.acquire({ requestId: `c${i}`, holderId: "c", slot: slot(4096) });
    if (r.kind !== "granted") throw new Error("churn request should be granted on node-a/1");
    b.s.release(r.lease.leaseId);
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000;
  return {
    events: 2 * ops,
    meanUs: r2(us / (2 * ops)),
    updatesPerEvent: (b.updates - u0) / (2 * ops),
  };
}

function handOff(b: Bench, ops: number): CoreEventStats {
  const u0 = b.updates;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    b.releaseGrant();
    b.join();
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000;
  const updates = (b.updates - u0) / (2 * ops);
  const mean = us / (2 * ops);
  return {
    events: 2 * ops,
    meanUs: r2(mean),
    updatesPerEvent: r2(updates),
    ...(updates > 0 ? { usPerUpdate: Math.round((mean / updates) * 1000) / 1000 } : {}),
  };
}

function timeOne(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1000;
}

function single(samples: number[], updates: number): CoreEventStats {
  const sorted = Float64Array.from(samples).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  const mean = sum / sorted.length;
  const perEvent = updates / sorted.length;
  return {
    events: sorted.length,
    meanUs: r2(mean),
    p50Us: r2(at(0.5)),
    p99Us: r2(at(0.99)),
    updatesPerEvent: r2(perEvent),
    ...(perEvent > 0 ? { usPerUpdate: Math.round((mean / perEvent) * 1000) / 1000 } : {}),
  };
}

/** Each single event timed alone; the line is restored to n entries after each, untimed. */
function singles(b: Bench, p: CoreParams, out: CoreResult["events"], n: number): void {
  const record = (name: CoreEventName, reps: number, warm: number, one: () => number): void => {
    for (let i = 0; i < warm; i++) one();
    const samples: number[] = [];
    const u0 = b.updates;
    let untimed = 0;
    for (let i = 0; i < reps; i++) {
      samples.push(one());
      untimed += restoreUpdates;
    }
    out[name][n] = single(samples, b.updates - u0 - untimed);
  };
  // Updates emitted by the untimed restoring steps, subtracted from the counts above.
  let restoreUpdates = 0;
  const restore = (): void => {
    const u = b.updates;
    b.join();
    restoreUpdates = b.updates - u;
  };

  const warmCheap = Math.ceil(p.cheapReps / 5);
  // join, then leave-tail, paired so the line stays n long.
  const joins: number[] = [];
  const leaves: number[] = [];
  let joinUpdates = 0;
  let leaveUpdates = 0;
  for (let i = 0; i < warmCheap + p.cheapReps; i++) {
    let u = b.updates;
    let id = "";
    const tj = timeOne(() => {
      id = b.join();
    });
    const uj = b.updates - u;
    u = b.updates;
    const tl = timeOne(() => {
      if (!b.s.cancel(id)) throw new Error("core bench: tail was not waiting");
    });
    b.line.pop();
    if (i >= warmCheap) {
      joins.push(tj);
      leaves.push(tl);
      joinUpdates += uj;
      leaveUpdates += b.updates - u;
    }
  }
  out["join"][n] = single(joins, joinUpdates);
  out["leave-tail"][n] = single(leaves, leaveUpdates);

  restoreUpdates = 0;
  // The clock moves 1 ms per renewal: with a frozen clock every renewal would push a deadline
  // identical to the live one, which the deadline heap cannot tell apart from it.
  record("keep-alive", p.cheapReps, warmCheap, () => {
    b.t++;
    return timeOne(() => b.s.keepAlive(b.holder));
  });

  const heavyReps = (oneUs: number): number =>
    Math.max(
      p.heavyMinReps,
      Math.min(p.heavyMaxReps, Math.floor((p.heavyBudgetMs * 1000) / Math.max(oneUs, 1))),
    );
  const releaseGrant = (): number => {
    const us = timeOne(() => b.releaseGrant());
    restore();
    return us;
  };
  record("release-grant", heavyReps(releaseGrant()), 3, releaseGrant);

  const leaveHead = (): number => {
    const id = b.line[b.head]!;
    const us = timeOne(() => {
      if (!b.s.cancel(id)) throw new Error("core bench: head was not waiting");
    });
    b.head++;
    restore();
    return us;
  };
  record("leave-head", heavyReps(leaveHead()), 3, leaveHead);
  if (b.waiting !== n) throw new Error("core bench: the line length drifted");
}

async function measure(p: CoreParams): Promise<CoreResult["events"]> {
  const events = Object.fromEntries(CORE_EVENTS.map((e) => [e, {}])) as CoreResult["events"];
  for (const n of p.sizes) {
    // Median of three runs: the machine is shared and GC pauses land unevenly.
    const runs = [0, 1, 2].map(() => churn(new Bench(n), p.churnOps));
    events["churn"][n] = runs.sort((a, b) => a.meanUs - b.meanUs)[1]!;
    events["hand-off"][n] = handOff(
      new Bench(n),
      Math.max(p.handOffMin, Math.round(p.handOffWork / n)),
    );
    singles(new Bench(n), p, events, n);
    await new Promise((r) => setImmediate(r));
  }
  return events;
}

export async function coreBench(p: CoreParams = DEFAULT_CORE_PARAMS): Promise<CoreResult> {
  // Warm up the JIT on the smallest size before anything is recorded.
  const lo = Math.min(...p.sizes);
  await measure({
    ...p,
    sizes: [lo],
    churnOps: Math.ceil(p.churnOps / 2),
    cheapReps: Math.max(200, Math.floor(p.cheapReps / 3)),
  });
  const events = await measure(p);
  const hi = Math.max(...p.sizes);
  const ratios = Object.fromEntries(
    CORE_EVENTS.map((e) => {
      const a = events[e][lo]!;
      const z = events[e][hi]!;
      const q: { mean: number; p50?: number } = { mean: r2(z.meanUs / a.meanUs) };
      if (a.p50Us !== undefined && z.p50Us !== undefined) q.p50 = r2(z.p50Us / a.p50Us);
      return [e, q];
    }),
  ) as CoreResult["ratios"];
  return { sizes: p.sizes, events, ratios };
}

export function formatCore(r: CoreResult): string {
  const lines: string[] = [];
  const lo = Math.min(...r.sizes);
  const hi = Math.max(...r.sizes);
  lines.push(
    "event          waiting   µs/event (mean)   p50 µs   queued-updates/event   µs/update",
  );
  for (const e of CORE_EVENTS) {
    for (const n of r.sizes) {
      const s = r.events[e][n]!;
      lines.push(
        `${e.padEnd(13)}  ${String(n).padStart(7)}   ${s.meanUs.toFixed(2).padStart(15)}   ${(s.p50Us !== undefined ? s.p50Us.toFixed(2) : "-").padStart(6)}   ${s.updatesPerEvent.toFixed(1).padStart(20)}   ${s.usPerUpdate !== undefined ? s.usPerUpdate.toFixed(3).padStart(9) : "        -"}`,
      );
    }
    const q = r.ratios[e];
    lines.push(
      `${"".padEnd(13)}  ratio ${hi / 1000}k/${lo / 1000}k: ${q.mean.toFixed(2)}x${q.p50 !== undefined ? ` (p50 ${q.p50.toFixed(2)}x)` : ""}`,
    );
  }
  return lines.join("\n");
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1]);
if (isMain) {
  const quick = process.argv.includes("--quick");
  const r = await coreBench(quick ? QUICK_CORE_PARAMS : DEFAULT_CORE_PARAMS);
  console.log(process.argv.includes("--json") ? JSON.stringify(r, null, 2) : formatCore(r));
}
