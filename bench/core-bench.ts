/**
 * Micro-benchmark of the scheduling core: cost per scheduling event as the queue grows
 * (PRODUCT.md §9, issue 3). Run: npx tsx bench/core-bench.ts
 *
 * Two workloads, each at 1k, 10k and 100k waiting requests:
 *  - churn: a request is acquired and granted, then released, on a GPU the waiting line cannot
 *    use (the waiters need a GPU that is full). Every acquire and release runs a full placement
 *    pass over the line; nobody's position changes. This is the scheduler's own cost per event
 *    and must not grow with the queue.
 *  - hand-off: the running lease is released, the head of a line of equal requests is granted
 *    and a new request joins at the back. Every waiter moves up one place and is told so: that
 *    is one "queued" event per waiter, inherently linear in the queue; reported per event and
 *    per position update.
 */
import { Scheduler, type CoreEvent } from "../coordinator/core/index.js";

class Clock {
  t = 0;
  now(): number {
    return this.t;
  }
}

interface Result {
  waiting: number;
  usPerEvent: number;
  updatesPerEvent: number;
}

function setup(waiting: number): { s: Scheduler; counter: { n: number } } {
  const s = new Scheduler({
    clock: new Clock(),
    gpus: [
      { id: "node-a/0", node: "node-a", index: 0, capacityMb: 24576 },
      { id: "node-a/1", node: "node-a", index: 1, capacityMb: 8192 },
    ],
    maxTtlMs: 3_600_000,
  });
  const counter = { n: 0 };
  s.onEvent((e: CoreEvent) => {
    if (e.type === "queued") counter.n++;
  });
  // Fill node-a/0, then line up requests that only node-a/0 can hold.
  s.acquire({ requestId: "hold", holderId: "h", slot: slot(24576, "node-a/0") });
  for (let i = 0; i < waiting; i++)
    s.acquire({ requestId: `w${i}`, holderId: `h${i % 100}`, slot: slot(16384) });
  return { s, counter };
}

function slot(vramMb: number, gpuId?: string) {
  return {
    service: "bench",
    taskType: "llm",
    vramMb,
    priority: 3 as const,
    ...(gpuId ? { gpuId } : {}),
  };
}

function churn(waiting: number, ops: number): Result {
  const { s, counter } = setup(waiting);
  counter.n = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const r = s.acquire({ requestId: `c${i}`, holderId: "c", slot: slot(4096) });
    if (r.kind !== "granted") throw new Error("churn request should be granted on node-a/1");
    s.release(r.lease.leaseId);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (s.queue().length !== waiting) throw new Error("queue changed");
  return { waiting, usPerEvent: ns / 1000 / (2 * ops), updatesPerEvent: counter.n / (2 * ops) };
}

function handOff(waiting: number, ops: number): Result {
  const { s, counter } = setup(waiting);
  let running = s.leases()[0]!.leaseId;
  let next = waiting;
  counter.n = 0;
  let granted: string | undefined;
  s.onEvent((e) => {
    if (e.type === "granted") granted = e.lease.leaseId;
  });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    granted = undefined;
    s.release(running);
    if (!granted) throw new Error("hand-off did not grant");
    running = granted;
    s.acquire({ requestId: `w${next++}`, holderId: "x", slot: slot(16384) });
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return { waiting, usPerEvent: ns / 1000 / (2 * ops), updatesPerEvent: counter.n / (2 * ops) };
}

function report(name: string, rows: Result[]): void {
  console.log(`\n${name}`);
  console.log("  waiting   µs/event   queued-updates/event   µs/update");
  for (const r of rows)
    console.log(
      `  ${String(r.waiting).padStart(7)}   ${r.usPerEvent.toFixed(2).padStart(8)}   ${r.updatesPerEvent
        .toFixed(1)
        .padStart(
          20,
        )}   ${r.updatesPerEvent > 0 ? (r.usPerEvent / r.updatesPerEvent).toFixed(3).padStart(9) : "        -"}`,
    );
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  console.log(
    `  ratio ${last.waiting / 1000}k/${first.waiting / 1000}k: ${(last.usPerEvent / first.usPerEvent).toFixed(2)}x`,
  );
}

/** Median of three runs: the machine is shared and GC pauses land unevenly. */
function median(run: () => Result): Result {
  const rs = [run(), run(), run()].sort((a, b) => a.usPerEvent - b.usPerEvent);
  return rs[1]!;
}

const sizes = [1_000, 10_000, 100_000];
churn(1000, 20_000); // warm up the JIT
handOff(1000, 2000);
report(
  "churn (acquire+release beside the line; no position changes)",
  sizes.map((n) => median(() => churn(n, 20_000))),
);
report(
  "hand-off (release -> head granted -> all waiters move up; new waiter joins)",
  sizes.map((n) => handOff(n, Math.max(50, Math.round(2e6 / n)))),
);
