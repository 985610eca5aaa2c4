/**
 * Network scenarios, run inside the load-generator process (bench/load.ts) against a coordinator
 * child process on loopback. Every latency is measured here, with performance.now() in this one
 * process, so sender and receiver timestamps share a clock.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AsyncChannel } from "../../client/async-channel.js";
import { ResourceCoordinator } from "../../client/index.js";
import type { SessionRequestSchema } from "../../gen/ts/cforch/v1/eviction_pb.js";
import { readCpuSeconds, readMem } from "../lib/proc.js";
import {
  PriorityClass,
  acquireRequest,
  acquireToEnd,
  connect,
  connectMany,
  LONG_TTL_MS,
  release,
  releaseAll,
  silentLogger,
  type Conn,
} from "../lib/rpc.js";
import { round, roundSummary, sleep, summarize, type Summary } from "../lib/stats.js";

let runSeq = 0;
/** Request ids must never repeat on one coordinator (it remembers ended ones). */
const uid = (prefix: string): string => `${prefix}-${process.pid}-${++runSeq}`;

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// ------------------------------------------------------------------ closed-loop driver

export interface LoopResult {
  concurrency: number;
  /** Per-operation latency, ms. */
  latency: Summary;
  /** For lease cycles: Acquire sent → GRANTED received, ms. */
  toGranted?: Summary;
  ops: number;
  elapsedMs: number;
  opsPerSec: number;
  /** Coordinator CPU per operation during the recorded phase, microseconds (utime+stime). */
  coordinatorCpuUsPerOp?: number;
  /** Coordinator CPU use during the recorded phase, % of one core. */
  coordinatorCpuPct?: number;
  /** This load generator's CPU per operation, microseconds. */
  loadGenCpuUsPerOp: number;
}

/**
 * `concurrency` workers each run `op` back to back: first for `warmupMs` (discarded), then for
 * `durationMs` (recorded). `op` may return a timestamp inside the operation (e.g. GRANTED).
 */
async function closedLoop(
  concurrency: number,
  warmupMs: number,
  durationMs: number,
  op: (worker: number) => Promise<number | void>,
  pid?: number,
): Promise<LoopResult> {
  const samples: number[] = [];
  const inner: number[] = [];
  const phase = async (ms: number, record: boolean): Promise<{ ops: number; elapsed: number }> => {
    const start = performance.now();
    const end = start + ms;
    let last = start;
    let ops = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        while (performance.now() < end) {
          const t0 = performance.now();
          const mid = await op(w);
          const t1 = performance.now();
          if (record) {
            samples.push(t1 - t0);
            if (typeof mid === "number") inner.push(mid - t0);
            ops++;
          }
          if (t1 > last) last = t1;
        }
      }),
    );
    return { ops, elapsed: last - start };
  };
  await phase(warmupMs, false);
  const cpu0 = pid ? readCpuSeconds(pid) : 0;
  const self0 = process.cpuUsage();
  const { ops, elapsed } = await phase(durationMs, true);
  const self = process.cpuUsage(self0);
  const result: LoopResult = {
    concurrency,
    latency: roundSummary(summarize(samples)),
    ops,
    elapsedMs: round(elapsed),
    opsPerSec: round(ops / (elapsed / 1000), 1),
    loadGenCpuUsPerOp: round((self.user + self.system) / ops, 0),
  };
  if (pid) {
    const cpu = readCpuSeconds(pid) - cpu0;
    result.coordinatorCpuUsPerOp = round((cpu * 1e6) / ops, 0);
    result.coordinatorCpuPct = round((cpu / (elapsed / 1000)) * 100, 1);
  }
  if (inner.length) result.toGranted = roundSummary(summarize(inner));
  return result;
}

export interface LoopParams {
  url: string;
  /** Coordinator process id, for its CPU time. */
  pid?: number;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

// ------------------------------------------------------------------ warm-up

export interface WarmupParams {
  url: string;
  ms: number;
  workers: number;
  vramMb: number;
}

/**
 * Before any measurement on a fresh coordinator: `workers` clients run health checks and lease
 * cycles for `ms`, so V8 has optimised the RPC paths (connect-es, protobuf, the handlers, the
 * store) before anything is recorded. A one-slot GPU makes some of them queue; that is fine.
 */
export async function warmup(p: WarmupParams): Promise<{ ops: number }> {
  const conns = connectMany(p.url, p.workers);
  let ops = 0;
  const end = performance.now() + p.ms;
  try {
    await Promise.all(
      conns.map(async (conn, w) => {
        while (performance.now() < end) {
          await conn.health.check({});
          const g = await acquireToEnd(
            conn,
            acquireRequest(uid(`warm${w}`), `bench-warm-${w}`, { vramMb: p.vramMb }),
          );
          await release(conn, g.lease.leaseId);
          ops += 2;
        }
      }),
    );
  } finally {
    for (const c of conns) c.close();
  }
  return { ops };
}

// ------------------------------------------------------------------ 1. baseline

/** grpc.health.v1.Health/Check on the same server: one connection per client. */
export async function baseline(p: LoopParams): Promise<LoopResult> {
  const conns = connectMany(p.url, p.concurrency);
  try {
    return await closedLoop(
      p.concurrency,
      p.warmupMs,
      p.durationMs,
      async (w) => {
        await conns[w]!.health.check({});
      },
      p.pid,
    );
  } finally {
    for (const c of conns) c.close();
  }
}

// ------------------------------------------------------------------ 2. lease cycle

export interface CycleParams extends LoopParams {
  vramMb: number;
  /** "raw": Connect client, Acquire stream + Release; "client": ResourceCoordinator.withLease. */
  via: "raw" | "client";
}

export interface CycleResult extends LoopResult {
  via: "raw" | "client";
  /** Cycles that saw a QUEUED update (should be 0: the GPUs have room for every client). */
  queuedCycles: number;
}

export async function leaseCycle(p: CycleParams): Promise<CycleResult> {
  let queuedCycles = 0;
  if (p.via === "raw") {
    const conns = connectMany(p.url, p.concurrency);
    try {
      const r = await closedLoop(
        p.concurrency,
        p.warmupMs,
        p.durationMs,
        async (w) => {
          const conn = conns[w]!;
          const g = await acquireToEnd(
            conn,
            acquireRequest(uid(`cyc${w}`), `bench-cycle-${w}`, { vramMb: p.vramMb }),
          );
          if (g.queued > 0) queuedCycles++;
          await release(conn, g.lease.leaseId);
          return g.grantedAt;
        },
        p.pid,
      );
      return { ...r, via: p.via, queuedCycles };
    } finally {
      for (const c of conns) c.close();
    }
  }
  const rcs = Array.from(
    { length: p.concurrency },
    (_, w) =>
      new ResourceCoordinator({
        url: p.url,
        service: "bench",
        holderId: `bench-rc-${process.pid}-${w}`,
        logger: silentLogger,
        fallback: "error",
      }),
  );
  try {
    const r = await closedLoop(
      p.concurrency,
      p.warmupMs,
      p.durationMs,
      async (w) => {
        let grantedAt = 0;
        let queued = false;
        await rcs[w]!.withLease(
          { service: "bench", taskType: "cycle", vramMb: p.vramMb },
          () => {
            grantedAt = performance.now();
          },
          { onQueued: () => (queued = true) },
        );
        if (queued) queuedCycles++;
        return grantedAt;
      },
      p.pid,
    );
    return { ...r, via: p.via, queuedCycles };
  } finally {
    await Promise.all(rcs.map((rc) => rc.close()));
  }
}

// ------------------------------------------------------------------ 3. hand-off

export interface HandoffParams {
  url: string;
  waiters: number;
  handoffs: number;
  warmup: number;
  /** How long each holder keeps the lease before releasing it. */
  holdMs: number;
  vramMb: number;
  connections: number;
}

export interface HandoffResult {
  waiters: number;
  holdMs: number;
  connections: number;
  /** Release sent → GRANTED received by the next waiter, ms. */
  latency: Summary;
  /** Release sent → Release answered, ms. */
  releaseRpc: Summary;
}

/**
 * One GPU with room for exactly one lease. A holder has it and `waiters` Acquire streams wait.
 * Each round: the holder sends Release; the first waiter gets GRANTED and becomes the holder; a
 * new waiter joins at the tail (and gets its first QUEUED) so the line stays `waiters` long.
 */
export async function handoff(p: HandoffParams): Promise<HandoffResult> {
  const conns = connectMany(p.url, p.connections);
  let next = 0;
  const pick = (): Conn => conns[next++ % conns.length]!;
  interface Waiter {
    id: string;
    conn: Conn;
    abort: AbortController;
    queued: Promise<void>;
    granted: Promise<{ leaseId: string; grantedAt: number }>;
  }
  let firstGranted: Waiter | undefined;
  const line: Waiter[] = [];
  const all: Waiter[] = [];
  const join = (): Waiter => {
    const id = uid(`ho${p.waiters}`);
    const conn = pick();
    const abort = new AbortController();
    const q = deferred();
    const w = { id, conn, abort, queued: q.promise } as Waiter;
    const slot = { vramMb: p.vramMb, ttlMs: LONG_TTL_MS };
    w.granted = acquireToEnd(conn, acquireRequest(id, `bench-${id}`, slot), {
      signal: abort.signal,
      onQueued: () => q.resolve(),
    }).then((g) => {
      firstGranted ??= w;
      return { leaseId: g.lease.leaseId, grantedAt: g.grantedAt };
    });
    w.granted.catch(() => undefined);
    line.push(w);
    all.push(w);
    return w;
  };

  const samples: number[] = [];
  const releases: number[] = [];
  const first = await acquireToEnd(
    conns[0]!,
    acquireRequest(uid("ho-holder"), "bench-ho-holder", { vramMb: p.vramMb, ttlMs: LONG_TTL_MS }),
  );
  let holder = { conn: conns[0]!, leaseId: first.lease.leaseId };
  try {
    for (let i = 0; i < p.waiters; i++) await withTimeout(join().queued, 10_000, "first QUEUED");
    for (let k = 0; k < p.warmup + p.handoffs; k++) {
      await sleep(p.holdMs);
      const expected = line.shift()!;
      firstGranted = undefined;
      const t0 = performance.now();
      const rel = release(holder.conn, holder.leaseId).then(() => performance.now() - t0);
      const g = await withTimeout(expected.granted, 10_000, "hand-off GRANTED");
      const winner = firstGranted as Waiter | undefined; // set by the streams' callbacks
      if (winner !== expected)
        throw new Error("hand-off: a later waiter was granted before the first one (FIFO broken)");
      const relMs = await rel;
      if (k >= p.warmup) {
        samples.push(g.grantedAt - t0);
        releases.push(relMs);
      }
      holder = { conn: expected.conn, leaseId: g.leaseId };
      await withTimeout(join().queued, 10_000, "tail QUEUED");
    }
  } finally {
    // Cancel the waiters from the tail (O(1) each for the coordinator), then free the GPU.
    for (const w of all.reverse()) w.abort.abort();
    await sleep(200);
    await release(holder.conn, holder.leaseId).catch(() => undefined);
    await sleep(50);
    await releaseAll(conns[0]!).catch(() => undefined);
    for (const c of conns) c.close();
  }
  return {
    waiters: p.waiters,
    holdMs: p.holdMs,
    connections: p.connections,
    latency: roundSummary(summarize(samples)),
    releaseRpc: roundSummary(summarize(releases)),
  };
}

// ------------------------------------------------------------------ 4. eviction

export interface EvictionParams {
  url: string;
  rounds: number;
  warmup: number;
  vramMb: number;
  /** "raw": a hand-written EvictionService session; "client": ResourceCoordinator with callbacks. */
  via: "raw" | "client";
}

export interface EvictionResult {
  via: "raw" | "client";
  /** High-priority Acquire sent → its GRANTED received, ms (checkpoint itself takes ~0). */
  latency: Summary;
  /** Acquire sent → CheckpointRequest (raw) / checkpoint callback (client) reached the victim, ms. */
  toCheckpoint: Summary;
  /** Checkpoint answered → GRANTED received by the preemptor, ms. */
  checkpointToGranted: Summary;
}

type SessionMsg = MessageInitShape<typeof SessionRequestSchema>;

/**
 * One GPU with room for one lease. Each round: a low-priority victim holds it (registered as
 * evictable, instantaneous checkpoint); a high-priority request arrives; time until it is
 * GRANTED. Then the preemptor releases, the victim resumes and releases.
 */
export async function eviction(p: EvictionParams): Promise<EvictionResult> {
  const total: number[] = [];
  const toCkpt: number[] = [];
  const ckptToGrant: number[] = [];
  const preConn = connect(p.url);
  const high = { vramMb: p.vramMb, priority: PriorityClass.HIGH, taskType: "preemptor" };
  const round = async (
    k: number,
    holdVictim: () => Promise<{ checkpointAt: () => number; resumed: Promise<void> }>,
    releaseVictim: () => Promise<void>,
  ): Promise<void> => {
    const v = await holdVictim();
    const t0 = performance.now();
    const g = await withTimeout(
      acquireToEnd(preConn, acquireRequest(uid("ev-pre"), "bench-ev-pre", high)),
      10_000,
      "preemptor GRANTED",
    );
    const tc = v.checkpointAt();
    if (k >= p.warmup) {
      total.push(g.grantedAt - t0);
      toCkpt.push(tc - t0);
      ckptToGrant.push(g.grantedAt - tc);
    }
    await release(preConn, g.lease.leaseId);
    await withTimeout(v.resumed, 10_000, "victim resumed");
    await releaseVictim();
  };

  try {
    if (p.via === "raw") {
      const conn = connect(p.url);
      const holderId = uid("bench-victim");
      const out = new AsyncChannel<SessionMsg>();
      out.push({ msg: { case: "hello", value: { holderId, service: "bench" } } });
      const welcome = deferred();
      let registered = deferred();
      let resumed = deferred();
      let checkpointAt = 0;
      const errors: string[] = [];
      const reader = (async () => {
        for await (const m of conn.eviction.session(out)) {
          switch (m.msg.case) {
            case "welcome":
              welcome.resolve();
              break;
            case "checkpoint":
              checkpointAt = performance.now();
              out.push({
                msg: { case: "checkpointed", value: { leaseId: m.msg.value.leaseId } },
              });
              break;
            case "registered":
              registered.resolve();
              break;
            case "resume":
              resumed.resolve();
              break;
            case "error":
              errors.push(`${m.msg.value.code}: ${m.msg.value.message}`);
              break;
            default:
              break;
          }
        }
      })();
      reader.catch((err: unknown) => errors.push(String(err)));
      const beat = setInterval(() => out.push({ msg: { case: "heartbeat", value: {} } }), 1000);
      try {
        await withTimeout(welcome.promise, 10_000, "session welcome");
        let leaseId = "";
        for (let k = 0; k < p.warmup + p.rounds; k++) {
          await round(
            k,
            async () => {
              const low = { vramMb: p.vramMb, priority: PriorityClass.LOW, taskType: "victim" };
              const v = await acquireToEnd(conn, acquireRequest(uid("ev-victim"), holderId, low));
              leaseId = v.lease.leaseId;
              registered = deferred();
              resumed = deferred();
              checkpointAt = 0;
              out.push({ msg: { case: "register", value: { leaseId } } });
              await withTimeout(registered.promise, 10_000, "register");
              return { checkpointAt: () => checkpointAt, resumed: resumed.promise };
            },
            async () => {
              await release(conn, leaseId);
            },
          );
          if (errors.length) throw new Error(`eviction session errors: ${errors.join("; ")}`);
        }
      } finally {
        clearInterval(beat);
        out.close();
        conn.close();
        await reader.catch(() => undefined);
      }
    } else {
      const rc = new ResourceCoordinator({
        url: p.url,
        service: "bench",
        holderId: uid("bench-rcvictim"),
        logger: silentLogger,
        fallback: "error",
      });
      try {
        let lease: Awaited<ReturnType<ResourceCoordinator["lease"]>> | undefined;
        for (let k = 0; k < p.warmup + p.rounds; k++) {
          await round(
            k,
            async () => {
              let checkpointAt = 0;
              const resumed = deferred();
              lease = await rc.lease(
                { service: "bench", taskType: "victim", vramMb: p.vramMb, priority: "low" },
                {
                  checkpoint: () => {
                    checkpointAt = performance.now();
                  },
                  resume: () => resumed.resolve(),
                },
              );
              return { checkpointAt: () => checkpointAt, resumed: resumed.promise };
            },
            async () => {
              await lease!.release();
            },
          );
        }
      } finally {
        await rc.close();
      }
    }
  } finally {
    preConn.close();
  }
  return {
    via: p.via,
    latency: roundSummary(summarize(total)),
    toCheckpoint: roundSummary(summarize(toCkpt)),
    checkpointToGranted: roundSummary(summarize(ckptToGrant)),
  };
}

// ------------------------------------------------------------------ 5. scale

export interface ScaleParams {
  url: string;
  /** Coordinator process id, for /proc readings. */
  pid: number;
  streams: number;
  connections: number;
  /** Leases holding the GPU while the streams wait; they are released to start the drain. */
  holders: number;
  vramMb: number;
  /** Streams opened per batch (each batch waits for its first QUEUED updates). */
  batch: number;
  /** Quiet time after the last stream is queued, before sampling. */
  settleMs: number;
  /** Sampling window for CPU while everything waits. */
  sampleMs: number;
  drainTimeoutMs: number;
}

export interface ScaleResult {
  streams: number;
  connections: number;
  streamsPerConnection: number;
  holders: number;
  /** Coordinator RSS before the streams were opened (idle, after warm-up), MiB. */
  rssIdleMb: number;
  /** Coordinator RSS while all streams wait (end of the sampling window), MiB. */
  rssWaitingMb: number;
  /** (rssWaiting - rssIdle) / streams, KiB. */
  perStreamKb: number;
  /** Peak RSS of the coordinator so far (VmHWM), MiB. */
  rssPeakMb: number;
  /** Time to open every stream and receive its first QUEUED, ms. */
  rampMs: number;
  /** Coordinator CPU during the ramp, % of one core. */
  rampCpuPct: number;
  /** Coordinator CPU while everything waits, % of one core, over sampleMs. */
  waitingCpuPct: number;
  sampleMs: number;
  /** Holders released → every waiter granted (and released), ms; NaN if it timed out. */
  drainMs: number;
  drained: number;
  drainTimedOut: boolean;
  /** Grants per second over the whole drain, its first 10% and its last 10%. */
  drainRate: { overall: number; first10pct: number; last10pct: number };
  /** Coordinator RSS and peak RSS when the drain ended (or timed out), MiB. */
  rssAfterDrainMb: number;
  rssPeakAfterDrainMb: number;
  /** Coordinator CPU during the drain, % of one core. */
  drainCpuPct: number;
  /** This load generator's CPU during the drain, % of one core (is the client side the limit?). */
  loadGenDrainCpuPct: number;
  /** QUEUED updates the load generator received during the drain. */
  queuedDuringDrain: number;
  /** Load generator RSS with every stream open, MiB (for scale of the client side). */
  loadGenRssMb: number;
  /** Streams that failed instead of being granted during the drain, and what they said. */
  streamErrors: number;
  errorSamples: string[];
  /** When each phase ran (monotonic clock, microseconds), to cut the coordinator's profile. */
  phasesUs: Record<"ramp" | "waiting" | "drain", [number, number]>;
}

const MB = 1024 * 1024;

/** Monotonic clock in microseconds: the clock of V8 CPU profiles (see bench/lib/profile.ts). */
const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);

const progress = (msg: string): void => {
  process.stderr.write(`[load ${new Date().toISOString().slice(11, 19)}] scale: ${msg}\n`);
};

export async function scale(p: ScaleParams): Promise<ScaleResult> {
  const conns = connectMany(p.url, p.connections);
  const holders: { conn: Conn; leaseId: string }[] = [];
  const aborts: AbortController[] = [];
  let queuedFirst = 0;
  let queuedTotal = 0;
  let granted = 0;
  let released = 0;
  const grantTimes: number[] = [];
  let onProgress: (() => void) | undefined;
  const failures: string[] = [];
  /** Streams that ended with an error instead of GRANTED (e.g. their connection was closed). */
  let streamErrors = 0;
  let drainOver = false;
  try {
    for (let i = 0; i < p.holders; i++) {
      const conn = conns[i % conns.length]!;
      const g = await acquireToEnd(
        conn,
        acquireRequest(uid("sc-holder"), `bench-sc-holder-${i}`, {
          vramMb: p.vramMb,
          ttlMs: LONG_TTL_MS,
        }),
      );
      holders.push({ conn, leaseId: g.lease.leaseId });
    }
    // Warm the connections and the server's code paths before the idle reading.
    await Promise.all(conns.map((c) => c.health.check({})));
    await sleep(500);
    const memIdle = readMem(p.pid);

    const open = (i: number): void => {
      const conn = conns[i % conns.length]!;
      const abort = new AbortController();
      aborts.push(abort);
      const id = uid("sc");
      let first = true;
      void (async () => {
        try {
          for await (const res of conn.lease.acquire(
            acquireRequest(id, `bench-${id}`, { vramMb: p.vramMb, ttlMs: LONG_TTL_MS }),
            { signal: abort.signal },
          )) {
            if (res.event.case === "queued") {
              queuedTotal++;
              if (first) {
                first = false;
                queuedFirst++;
                onProgress?.();
              }
            } else if (res.event.case === "granted") {
              granted++;
              grantTimes.push(performance.now());
              // After the drain phase (a timeout), hold on: no more grants, so the coordinator
              // can settle before it is stopped.
              if (drainOver) continue;
              const leaseId = res.event.value.leaseId;
              // Free the memory at once so the next waiter can be granted.
              void release(conn, leaseId).then(
                () => {
                  released++;
                  onProgress?.();
                },
                (err: unknown) => failures.push(String(err)),
              );
            }
          }
        } catch (err) {
          if (!abort.signal.aborted) {
            failures.push(String(err));
            streamErrors++;
            onProgress?.();
          }
        }
      })();
    };

    const cpuRamp0 = readCpuSeconds(p.pid);
    const tRamp0 = performance.now();
    const monoRamp0 = monoUs();
    for (let i = 0; i < p.streams; i += p.batch) {
      const upTo = Math.min(p.streams, i + p.batch);
      const reached = deferred();
      onProgress = () => {
        if (queuedFirst >= upTo) reached.resolve();
      };
      for (let j = i; j < upTo; j++) open(j);
      onProgress();
      await withTimeout(reached.promise, 60_000, `first QUEUED of streams up to ${upTo}`);
      if (upTo % 2000 === 0 || upTo === p.streams)
        progress(
          `${upTo}/${p.streams} streams queued (${((performance.now() - tRamp0) / 1000).toFixed(1)} s)`,
        );
      if (failures.length)
        throw new Error(`scale: streams failed: ${failures.slice(0, 3).join("; ")}`);
    }
    const rampMs = performance.now() - tRamp0;
    const monoRamp1 = monoUs();
    const rampCpu = readCpuSeconds(p.pid) - cpuRamp0;
    onProgress = undefined;

    await sleep(p.settleMs);
    const cpu1 = readCpuSeconds(p.pid);
    const t1 = performance.now();
    const monoWait0 = monoUs();
    await sleep(p.sampleMs);
    const cpu2 = readCpuSeconds(p.pid);
    const t2 = performance.now();
    const monoWait1 = monoUs();
    const memWaiting = readMem(p.pid);
    progress(`waiting: coordinator RSS ${(memWaiting.rss / MB).toFixed(0)} MiB; draining`);
    const loadGenRss = process.memoryUsage().rss;

    // Drain: free the GPU; every waiter releases as soon as it is granted.
    const queuedBefore = queuedTotal;
    const done = deferred();
    onProgress = () => {
      if (released + streamErrors >= p.streams) done.resolve();
    };
    const failuresBefore = failures.length;
    const cpuD0 = readCpuSeconds(p.pid);
    const selfD0 = process.cpuUsage();
    const tD0 = performance.now();
    const monoDrain0 = monoUs();
    for (const h of holders.splice(0))
      release(h.conn, h.leaseId).catch((err: unknown) =>
        failures.push(`holder release: ${String(err)}`),
      );
    let timedOut = false;
    const ticker = setInterval(
      () =>
        progress(
          `draining: ${granted}/${p.streams} granted (${((performance.now() - tD0) / 1000).toFixed(0)} s)`,
        ),
      10_000,
    );
    await withTimeout(done.promise, p.drainTimeoutMs, "drain")
      .catch(() => (timedOut = true))
      .finally(() => clearInterval(ticker));
    drainOver = true;
    const monoDrain1 = monoUs();
    const tD1 = performance.now();
    const cpuD1 = readCpuSeconds(p.pid);
    const memDrained = readMem(p.pid);
    const selfD = process.cpuUsage(selfD0);
    const drainMs = tD1 - tD0;
    const tenth = Math.max(1, Math.floor(grantTimes.length / 10));
    const rate = (a: number, b: number, n: number): number =>
      b > a ? round((n / (b - a)) * 1000, 1) : NaN;
    const firstRate = rate(tD0, grantTimes[tenth - 1] ?? tD0, tenth);
    const lastRate =
      grantTimes.length > tenth
        ? rate(
            grantTimes[grantTimes.length - tenth - 1]!,
            grantTimes[grantTimes.length - 1]!,
            tenth,
          )
        : NaN;
    const drainFailures = failures.slice(failuresBefore);
    return {
      streams: p.streams,
      connections: p.connections,
      streamsPerConnection: Math.ceil(p.streams / p.connections),
      holders: p.holders,
      rssIdleMb: round(memIdle.rss / MB, 1),
      rssWaitingMb: round(memWaiting.rss / MB, 1),
      perStreamKb: round((memWaiting.rss - memIdle.rss) / p.streams / 1024, 2),
      rssPeakMb: round(memWaiting.hwm / MB, 1),
      rampMs: round(rampMs, 1),
      rampCpuPct: round((rampCpu / (rampMs / 1000)) * 100, 1),
      waitingCpuPct: round(((cpu2 - cpu1) / ((t2 - t1) / 1000)) * 100, 2),
      sampleMs: p.sampleMs,
      drainMs: timedOut ? NaN : round(drainMs, 1),
      drained: granted,
      drainTimedOut: timedOut,
      drainRate: {
        overall: rate(tD0, tD1, granted),
        first10pct: firstRate,
        last10pct: lastRate,
      },
      rssAfterDrainMb: round(memDrained.rss / MB, 1),
      rssPeakAfterDrainMb: round(memDrained.hwm / MB, 1),
      drainCpuPct: round(((cpuD1 - cpuD0) / (drainMs / 1000)) * 100, 1),
      loadGenDrainCpuPct: round(((selfD.user + selfD.system) / 1000 / drainMs) * 100, 1),
      queuedDuringDrain: queuedTotal - queuedBefore,
      loadGenRssMb: round(loadGenRss / MB, 1),
      streamErrors,
      errorSamples: [...new Set(drainFailures)].slice(0, 3),
      phasesUs: {
        ramp: [monoRamp0, monoRamp1],
        waiting: [monoWait0, monoWait1],
        drain: [monoDrain0, monoDrain1],
      },
    };
  } catch (err) {
    for (const a of aborts) a.abort();
    for (const c of conns) c.close();
    throw err;
  }
  // On success the streams are left open on purpose: the orchestrator stops the coordinator
  // first (a graceful shutdown keeps waiting requests, O(1) each), then this process. Cancelling
  // thousands of waiting streams one by one would instead cost the coordinator O(n) each.
}
