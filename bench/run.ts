/**
 * `npm run bench`: the cf-orch benchmark (PRODUCT.md §9, issue 9).
 *
 * For each group of scenarios this starts a real coordinator child process (`node
 * bin/cf-orch.js coordinator`, 127.0.0.1, port 0, warn logs, a generated config with the GPUs
 * the scenario needs) and a separate load-generator child process (bench/load.ts) that talks
 * to it over loopback. Every scenario warms up first. The run prints a table and writes
 * bench/results/latest.json (machine, Node version, date, git commit, figures, ratios, targets).
 *
 *   npm run bench                      # everything (~4 minutes on 2 vCPUs)
 *   npm run bench -- --quick           # smoke run (~80 s)
 *   npm run bench -- --only handoff,scale
 *   npm run bench -- --profile --only scale   # + node --cpu-prof on the coordinator
 *
 * Speed is reported, never asserted: nothing here fails because a figure is slow.
 */
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  coordinatorKeys,
  startBenchCoordinator,
  type BenchCoordinator,
  type BenchGpu,
  type StoreMode,
} from "./lib/coordinator.js";
import { formatProfile, summarizeProfile, type ProfileSummary } from "./lib/profile.js";
import { loadAverage } from "./lib/proc.js";
import { ratio, round, type Summary } from "./lib/stats.js";
import {
  DEFAULT_CORE_PARAMS,
  QUICK_CORE_PARAMS,
  type CoreParams,
  type CoreResult,
} from "./core-bench.js";
import type {
  CycleParams,
  CycleResult,
  EvictionParams,
  EvictionResult,
  HandoffParams,
  HandoffResult,
  LoopParams,
  LoopResult,
  ScaleParams,
  ScaleResult,
  WarmupParams,
} from "./scenarios/net.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..");

const SCENARIOS = ["baseline", "cycle", "handoff", "eviction", "scale", "core"] as const;
type Scenario = (typeof SCENARIOS)[number];

const HELP = `usage: npm run bench -- [options]

  --quick              smoke run: short windows, 1,000 streams for scale
  --only <list>        comma-separated scenarios (names or numbers):
                         1 baseline  2 cycle  3 handoff  4 eviction  5 scale  6 core
                       (cycle also runs baseline: its ratios need it)
  --profile            run the coordinator under node --cpu-prof (and the core scenario's
                       process); profiles go to bench/results/profiles/, summaries are printed
  --streams <n>        scale: waiting streams (default 10000; --quick 1000)
  --connections <n>    scale: HTTP/2 connections to spread them over (default 50)
  --drain-timeout <s>  scale: give up draining after this many seconds (default 60; --quick 30)
  --log-level <level>  coordinator log level (default warn; its output is shown after each group)
  --out <file>         results file (default bench/results/latest.json)
  --help`;

interface Options {
  quick: boolean;
  only: Set<Scenario>;
  profile: boolean;
  streams?: number;
  connections?: number;
  drainTimeoutS?: number;
  logLevel: string;
  out: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    only: new Set(SCENARIOS),
    profile: false,
    logLevel: "warn",
    out: join(ROOT, "bench", "results", "latest.json"),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = (): number => {
      const v = Number(value());
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === "--help" || a === "-h") {
      console.log(HELP);
      process.exit(0);
    } else if (a === "--quick") o.quick = true;
    else if (a === "--profile") o.profile = true;
    else if (a === "--only") {
      o.only = new Set();
      for (const raw of value().split(",")) {
        const s = raw.trim();
        const byNum = SCENARIOS[Number(s) - 1];
        const name = (SCENARIOS as readonly string[]).includes(s) ? (s as Scenario) : byNum;
        if (!name) throw new Error(`--only: unknown scenario ${JSON.stringify(s)}`);
        o.only.add(name);
      }
      if (o.only.has("cycle")) o.only.add("baseline");
    } else if (a === "--streams") o.streams = int();
    else if (a === "--connections") o.connections = int();
    else if (a === "--drain-timeout") o.drainTimeoutS = int();
    else if (a === "--out") o.out = resolve(value());
    else if (a === "--log-level") o.logLevel = value();
    else throw new Error(`unknown option ${a}\n\n${HELP}`);
  }
  return o;
}

// ------------------------------------------------------------------ load generator process

class LoadGen {
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private constructor(private readonly child: ChildProcess) {
    child.on("message", (raw: unknown) => {
      const m = raw as { id: number; result?: unknown; error?: string };
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(`load generator: ${m.error}`));
      else p.resolve(m.result);
    });
    child.on("exit", (code, signal) => {
      for (const p of this.pending.values())
        p.reject(new Error(`load generator exited (code ${code}, signal ${signal})`));
      this.pending.clear();
    });
  }

  static start(extraNodeArgs: string[] = []): LoadGen {
    const child = fork(join(HERE, "load.ts"), [], {
      cwd: ROOT,
      execArgv: ["--import", "tsx", ...extraNodeArgs],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new LoadGen(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** When each call ran, in monotonic-clock microseconds (to cut profiles to scenario time). */
  readonly windows: [number, number][] = [];

  async call<R>(scenario: string, params: unknown): Promise<R> {
    const id = ++this.nextId;
    const start = Number(process.hrtime.bigint() / 1000n);
    try {
      return await new Promise<R>((resolve, reject) => {
        this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        this.child.send({ id, scenario, params });
      });
    } finally {
      this.windows.push([start, Number(process.hrtime.bigint() / 1000n)]);
    }
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once("exit", () => resolve());
      this.child.disconnect();
      setTimeout(() => this.child.kill("SIGKILL"), 5000).unref();
    });
  }
}

// ------------------------------------------------------------------ machine

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  const dirty = git(["status", "--porcelain", "--", "coordinator", "client", "bin", "gen"])
    .split("\n")
    .filter(Boolean)
    .map((l) => l.slice(3));
  return {
    cpuModel: cpus[0]?.model ?? "unknown",
    cpuCount: cpus.length,
    totalMemMb: Math.round(os.totalmem() / (1024 * 1024)),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    gitCommit: git(["rev-parse", "HEAD"]),
    // Uncommitted changes in the code under test at the time of the run (shared tree).
    uncommittedServerFiles: dirty,
  };
}

// ------------------------------------------------------------------ plan

interface Plan {
  loop: { warmupMs: number; durationMs: number };
  concurrency: number[];
  handoff: { waiters: number[]; handoffs: number; warmup: number; holdMs: number };
  eviction: { rounds: number; warmup: number };
  scale: Omit<ScaleParams, "url" | "pid">;
  core: CoreParams;
}

function plan(o: Options): Plan {
  const q = o.quick;
  return {
    loop: q ? { warmupMs: 300, durationMs: 700 } : { warmupMs: 1500, durationMs: 3000 },
    concurrency: [1, 64],
    handoff: {
      waiters: [16, 64],
      handoffs: q ? 40 : 300,
      warmup: q ? 5 : 30,
      holdMs: 5,
    },
    eviction: { rounds: q ? 40 : 300, warmup: q ? 5 : 30 },
    scale: {
      streams: o.streams ?? (q ? 1000 : 10_000),
      connections: o.connections ?? (q ? 10 : 50),
      holders: 16,
      vramMb: 1024,
      batch: 500,
      settleMs: q ? 500 : 1000,
      sampleMs: q ? 2000 : 10_000,
      drainTimeoutMs: (o.drainTimeoutS ?? (q ? 30 : 60)) * 1000,
    },
    core: q ? QUICK_CORE_PARAMS : DEFAULT_CORE_PARAMS,
  };
}

// ------------------------------------------------------------------ running

const VRAM = 1024;
const H100 = 81_920;

interface BaselineRow extends LoopResult {
  store: StoreMode | "none";
}
interface CycleRow extends CycleResult {
  store: StoreMode | "none";
  baseline: string;
}

interface Results {
  /** Keyed "c1", "c64" (coordinator with its default store), "c1-memory", ... (in-memory store). */
  baseline?: Record<string, BaselineRow>;
  /** Keyed "raw-c1", "client-c64", "raw-c1-memory", ...; `baseline` names its baseline row. */
  cycle?: Record<string, CycleRow>;
  /** Keyed "n16", "n64", "n16-memory" (in-memory store). */
  handoff?: Record<string, HandoffResult & { store: StoreMode | "none" }>;
  /** Keyed "raw", "client", "raw-memory". */
  eviction?: Record<string, EvictionResult & { store: StoreMode | "none" }>;
  scale?: ScaleResult;
  core?: CoreResult;
}

const log = (msg: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

async function withCoordinator<T>(
  name: string,
  gpus: BenchGpu[],
  o: Options,
  profiles: Record<string, ProfileSummary>,
  store: StoreMode,
  body: (
    c: BenchCoordinator,
    load: LoadGen,
    phases: Record<string, [number, number]>,
  ) => Promise<T>,
): Promise<T> {
  /** Named phases to summarise the profile for separately (besides the whole scenario time). */
  const phases: Record<string, [number, number]> = {};
  const profileDir = join(ROOT, "bench", "results", "profiles");
  const profileFile = join(profileDir, `${name}.cpuprofile`);
  if (o.profile) {
    mkdirSync(profileDir, { recursive: true });
    rmSync(profileFile, { force: true });
  }
  const c = await startBenchCoordinator({
    name,
    gpus,
    repoRoot: ROOT,
    logLevel: o.logLevel,
    store,
    ...(o.profile ? { profileDir } : {}),
  });
  log(`coordinator "${name}" pid ${c.pid} on ${c.url} (lease store: ${c.store})`);
  const load = LoadGen.start();
  try {
    const wp: WarmupParams = { url: c.url, ms: o.quick ? 1000 : 5000, workers: 4, vramMb: VRAM };
    await load.call("warmup", wp);
    load.windows.length = 0; // profiles count the scenarios only, not the warm-up
    return await body(c, load, phases);
  } finally {
    // Coordinator first: its graceful shutdown keeps waiting requests (O(1) each), whereas the
    // load generator exiting first would cancel every open stream one by one.
    // A busy coordinator may need a while to exit; with --profile it must exit by itself
    // (SIGKILL writes no profile).
    const t0 = performance.now();
    await c.stop(o.profile ? 30_000 : 10_000);
    const stopS = (performance.now() - t0) / 1000;
    if (stopS > 5) log(`coordinator "${name}" took ${stopS.toFixed(1)} s to exit`);
    await load.stop();
    const printed = c.output.filter((l) => l.trim() !== "");
    if (printed.length) {
      const file = join(ROOT, "bench", "results", `${name}.log`);
      writeFileSync(file, `${printed.join("\n")}\n`);
      log(
        `coordinator "${name}" printed ${printed.length} line(s) (in ${relative(ROOT, file)}), the last:\n  ${printed.slice(-5).join("\n  ")}`,
      );
    }
    if (o.profile) {
      const file = profileFile;
      if (existsSync(file)) {
        profiles[name] = summarizeProfile(file, ROOT, 15, load.windows);
        console.log(formatProfile(profiles[name]));
        for (const [phase, w] of Object.entries(phases)) {
          profiles[`${name}:${phase}`] = summarizeProfile(file, ROOT, 15, [w]);
          console.log(`[${name}: ${phase} phase only]`);
          console.log(formatProfile(profiles[`${name}:${phase}`]!));
        }
      } else log(`no profile written at ${file}`);
    }
  }
}

async function runAll(o: Options, p: Plan, profiles: Record<string, ProfileSummary>) {
  const r: Results = {};
  if (o.only.has("baseline") || o.only.has("cycle")) {
    const gpus = [
      { index: 0, capacityMb: H100 },
      { index: 1, capacityMb: H100 },
    ];
    r.baseline = {};
    if (o.only.has("cycle")) r.cycle = {};
    // The default coordinator (a lease store on disk, when it has one), and, to show what the
    // store costs, the same with data_dir ":memory:" (raw lease cycles only).
    const hasStore = coordinatorKeys(ROOT).has("data_dir");
    const variants: { store: StoreMode; suffix: string; vias: ("raw" | "client")[] }[] = [
      { store: "disk", suffix: "", vias: ["raw", "client"] },
      ...(hasStore && r.cycle
        ? [{ store: "memory" as const, suffix: "-memory", vias: ["raw" as const] }]
        : []),
    ];
    for (const v of variants) {
      const name = `rpc${v.suffix}`;
      await withCoordinator(name, gpus, o, profiles, v.store, async (c, load) => {
        for (const concurrency of p.concurrency) {
          const lp: LoopParams = { url: c.url, pid: c.pid, concurrency, ...p.loop };
          const bkey = `c${concurrency}${v.suffix}`;
          log(`baseline: Health/Check, ${concurrency} client(s) [store: ${c.store}]`);
          const b = await load.call<LoopResult>("baseline", lp);
          r.baseline![bkey] = { ...b, store: c.store };
          if (!r.cycle) continue;
          for (const via of v.vias) {
            log(`lease cycle (${via}): ${concurrency} client(s) [store: ${c.store}]`);
            const cp: CycleParams = { ...lp, vramMb: VRAM, via };
            const cyc = await load.call<CycleResult>("leaseCycle", cp);
            r.cycle[`${via}-c${concurrency}${v.suffix}`] = {
              ...cyc,
              store: c.store,
              baseline: bkey,
            };
          }
        }
      });
    }
  }
  // Hand-off and eviction on the default coordinator, and the first variant of each again with
  // data_dir ":memory:" to show what the store's commit (fsync) before each delivery costs.
  const storeVariants = (): { store: StoreMode; suffix: string; first: boolean }[] => [
    { store: "disk", suffix: "", first: false },
    ...(coordinatorKeys(ROOT).has("data_dir")
      ? [{ store: "memory" as const, suffix: "-memory", first: true }]
      : []),
  ];
  if (o.only.has("handoff")) {
    r.handoff = {};
    for (const v of storeVariants()) {
      const gpus = [{ index: 0, capacityMb: VRAM }];
      await withCoordinator(`handoff${v.suffix}`, gpus, o, profiles, v.store, async (c, load) => {
        for (const waiters of v.first ? p.handoff.waiters.slice(0, 1) : p.handoff.waiters) {
          log(`hand-off: ${waiters} waiters, ${p.handoff.handoffs} hand-offs [store: ${c.store}]`);
          const hp: HandoffParams = {
            url: c.url,
            waiters,
            handoffs: p.handoff.handoffs,
            warmup: p.handoff.warmup,
            holdMs: p.handoff.holdMs,
            vramMb: VRAM,
            connections: 8,
          };
          const h = await load.call<HandoffResult>("handoff", hp);
          r.handoff![`n${waiters}${v.suffix}`] = { ...h, store: c.store };
        }
      });
    }
  }
  if (o.only.has("eviction")) {
    r.eviction = {};
    for (const v of storeVariants()) {
      const gpus = [{ index: 0, capacityMb: VRAM }];
      await withCoordinator(`eviction${v.suffix}`, gpus, o, profiles, v.store, async (c, load) => {
        for (const via of v.first ? (["raw"] as const) : (["raw", "client"] as const)) {
          log(`eviction (${via} victim): ${p.eviction.rounds} rounds [store: ${c.store}]`);
          const ep: EvictionParams = { url: c.url, vramMb: VRAM, via, ...p.eviction };
          const e = await load.call<EvictionResult>("eviction", ep);
          r.eviction![`${via}${v.suffix}`] = { ...e, store: c.store };
        }
      });
    }
  }
  if (o.only.has("scale")) {
    const gpus = [{ index: 0, capacityMb: VRAM * p.scale.holders }];
    await withCoordinator("scale", gpus, o, profiles, "disk", async (c, load, phases) => {
      log(
        `scale: ${p.scale.streams} waiting streams over ${p.scale.connections} connections, then drain`,
      );
      r.scale = await load.call<ScaleResult>("scale", { url: c.url, pid: c.pid, ...p.scale });
      Object.assign(phases, r.scale.phasesUs);
    });
  }
  if (o.only.has("core")) {
    log("core: scheduling events with 1k / 10k / 100k waiting (no network)");
    const profileDir = join(ROOT, "bench", "results", "profiles");
    const args = o.profile
      ? ["--cpu-prof", "--cpu-prof-dir", profileDir, "--cpu-prof-name", "core.cpuprofile"]
      : [];
    if (o.profile) {
      mkdirSync(profileDir, { recursive: true });
      rmSync(join(profileDir, "core.cpuprofile"), { force: true });
    }
    const load = LoadGen.start(args);
    try {
      r.core = await load.call<CoreResult>("core", p.core);
    } finally {
      await load.stop();
    }
    const file = join(profileDir, "core.cpuprofile");
    if (o.profile && existsSync(file)) {
      profiles.core = summarizeProfile(file, ROOT, 15, load.windows);
      console.log(formatProfile(profiles.core));
    }
  }
  return r;
}

// ------------------------------------------------------------------ report

interface Target {
  target: string;
  value: string;
  met: boolean;
}

function ratios(r: Results): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.baseline && r.cycle) {
    for (const [key, cyc] of Object.entries(r.cycle)) {
      const b = r.baseline[cyc.baseline];
      if (!b) continue;
      out[`cycle.${key}/baseline.${cyc.baseline}`] = {
        p50: ratio(cyc.latency.p50, b.latency.p50),
        p99: ratio(cyc.latency.p99, b.latency.p99),
        throughput: ratio(cyc.opsPerSec, b.opsPerSec),
      };
    }
  }
  if (r.core) out["core.100k/1k"] = r.core.ratios;
  return out;
}

function targets(r: Results): Target[] {
  const t: Target[] = [];
  if (r.baseline && r.cycle) {
    for (const [key, cyc] of Object.entries(r.cycle)) {
      const c = cyc.baseline;
      const b = r.baseline[c];
      if (!b) continue;
      const r50 = cyc.latency.p50 / b.latency.p50;
      const r99 = cyc.latency.p99 / b.latency.p99;
      t.push({
        target: `lease cycle (${key}) <= 2x baseline (${c}) p50 and p99`,
        value: `p50 ${r50.toFixed(2)}x, p99 ${r99.toFixed(2)}x`,
        met: r50 <= 2 && r99 <= 2,
      });
    }
  }
  for (const h of Object.values(r.handoff ?? {}))
    t.push({
      target: `hand-off p99 <= 2 ms (${h.waiters} waiters${h.store === "memory" ? ", in-memory store" : ""})`,
      value: `p99 ${h.latency.p99.toFixed(2)} ms`,
      met: h.latency.p99 <= 2,
    });
  if (r.scale)
    t.push({
      target: `${r.scale.streams} waiting streams < 300 MB coordinator RSS`,
      value: `${r.scale.rssWaitingMb} MiB (peak ${r.scale.rssPeakMb} MiB)`,
      met: r.scale.rssWaitingMb * 1.048576 < 300 && r.scale.streams >= 10_000,
    });
  if (r.core) {
    const lo = Math.min(...r.core.sizes);
    const hi = Math.max(...r.core.sizes);
    for (const [e, q] of Object.entries(r.core.ratios))
      t.push({
        target: `core ${e}: cost at ${hi / 1000}k <= 2x cost at ${lo / 1000}k`,
        value: `mean ${q.mean}x${q.p50 !== undefined ? ` (p50 ${q.p50}x)` : ""}`,
        met: q.mean <= 2,
      });
  }
  return t;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [
    line(rows[0]!),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.slice(1).map(line),
  ].join("\n");
}

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : "-");
const lat = (s: Summary): [string, string] => [ms(s.p50), ms(s.p99)];

const cpuNote = (l: LoopResult): string =>
  l.coordinatorCpuUsPerOp !== undefined
    ? `coordinator ${l.coordinatorCpuUsPerOp} us CPU/op (${l.coordinatorCpuPct}% of a core)`
    : "";

function report(r: Results): string {
  const rows: string[][] = [["scenario", "p50 ms", "p99 ms", "throughput", "vs baseline / notes"]];
  const storeNote = (store: string): string => (store === "memory" ? " [in-memory store]" : "");
  for (const b of Object.values(r.baseline ?? {}))
    rows.push([
      `1 baseline Health/Check, ${b.concurrency} client(s)${storeNote(b.store)}`,
      ...lat(b.latency),
      `${b.opsPerSec} ops/s`,
      cpuNote(b),
    ]);
  for (const cyc of Object.values(r.cycle ?? {})) {
    const b = r.baseline?.[cyc.baseline];
    const note = b
      ? `p50 ${ratio(cyc.latency.p50, b.latency.p50)}x, p99 ${ratio(cyc.latency.p99, b.latency.p99)}x, thr ${ratio(cyc.opsPerSec, b.opsPerSec)}x`
      : "";
    const queued = cyc.queuedCycles ? ` (${cyc.queuedCycles} queued!)` : "";
    rows.push([
      `2 lease cycle ${cyc.via === "raw" ? "raw Connect" : "ResourceCoordinator"}, ${cyc.concurrency} client(s)${storeNote(cyc.store)}`,
      ...lat(cyc.latency),
      `${cyc.opsPerSec} cycles/s`,
      `${note}${queued}; ${cpuNote(cyc)}`,
    ]);
    if (cyc.toGranted)
      rows.push([`    of which Acquire -> GRANTED`, ...lat(cyc.toGranted), "", ""]);
  }
  for (const h of Object.values(r.handoff ?? {}))
    rows.push([
      `3 hand-off, ${h.waiters} waiters (release -> next GRANTED)${storeNote(h.store)}`,
      ...lat(h.latency),
      "",
      `Release RPC p50 ${ms(h.releaseRpc.p50)} ms; hold ${h.holdMs} ms`,
    ]);
  for (const e of Object.values(r.eviction ?? {})) {
    rows.push([
      `4 eviction round trip, ${e.via === "raw" ? "raw session" : "ResourceCoordinator"} victim${storeNote(e.store)}`,
      ...lat(e.latency),
      "",
      `request -> checkpoint p50 ${ms(e.toCheckpoint.p50)}; checkpointed -> GRANTED p50 ${ms(e.checkpointToGranted.p50)}`,
    ]);
  }
  if (r.scale) {
    const s = r.scale;
    rows.push([
      `5 scale: ${s.streams} waiting streams (${s.connections} conns)`,
      "",
      "",
      "",
      `RSS ${s.rssWaitingMb} MiB (idle ${s.rssIdleMb}, +${s.perStreamKb} KiB/stream, peak ${s.rssPeakMb}); CPU waiting ${s.waitingCpuPct}%`,
    ]);
    rows.push([
      `    open all streams`,
      "",
      "",
      `${round(s.streams / (s.rampMs / 1000), 0)} streams/s`,
      `${(s.rampMs / 1000).toFixed(1)} s, coordinator CPU ${s.rampCpuPct}%`,
    ]);
    rows.push([
      `    drain (release -> all granted)`,
      "",
      "",
      `${s.drainRate.overall} grants/s`,
      s.drainTimedOut
        ? `TIMED OUT: ${s.drained}/${s.streams} granted; first 10% ${s.drainRate.first10pct}/s, last 10% ${s.drainRate.last10pct}/s`
        : `${(s.drainMs / 1000).toFixed(1)} s; first 10% ${s.drainRate.first10pct}/s, last 10% ${s.drainRate.last10pct}/s`,
    ]);
    rows.push([
      `    during the drain`,
      "",
      "",
      "",
      `coordinator CPU ${s.drainCpuPct}%, load generator CPU ${s.loadGenDrainCpuPct}%, ${s.queuedDuringDrain} QUEUED updates received; RSS then ${s.rssAfterDrainMb} MiB (peak ${s.rssPeakAfterDrainMb})` +
        (s.streamErrors ? `; ${s.streamErrors} streams FAILED (${s.errorSamples[0] ?? ""})` : ""),
    ]);
  }
  if (r.core) {
    for (const e of Object.keys(r.core.events) as (keyof CoreResult["events"])[]) {
      const by = r.core.events[e];
      const cells = r.core.sizes.map((n) => `${n / 1000}k ${by[n]!.meanUs}`).join(" / ");
      const q = r.core.ratios[e];
      const top = by[Math.max(...r.core.sizes)]!;
      rows.push([
        `6 core ${e} (us/event: 1k / 10k / 100k)`,
        "",
        "",
        "",
        `${cells}; 100k/1k ${q.mean}x${q.p50 !== undefined ? ` (p50 ${q.p50}x)` : ""}; ${top.updatesPerEvent} position updates/event at 100k`,
      ]);
    }
  }
  return table(rows);
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const p = plan(o);
  const started = new Date();
  const load0 = loadAverage();
  if (load0[0] !== undefined && load0[0] > os.cpus().length * 0.5)
    log(`load average is ${load0.join(" ")} on ${os.cpus().length} CPUs: figures may be disturbed`);
  const profiles: Record<string, ProfileSummary> = {};
  const t0 = performance.now();
  const r = await runAll(o, p, profiles);
  const wallS = round((performance.now() - t0) / 1000, 1);
  const result = {
    date: started.toISOString(),
    machine: machine(),
    loadAverage: { start: load0, end: loadAverage() },
    options: { quick: o.quick, only: [...o.only], profile: o.profile },
    plan: p,
    wallSeconds: wallS,
    results: r,
    ratios: ratios(r),
    targets: targets(r),
    ...(o.profile ? { profiles } : {}),
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(result, null, 2)}\n`);
  const m = result.machine;
  console.log(
    `\ncf-orch benchmark ${started.toISOString()} — ${String(m.cpuModel)} x${String(m.cpuCount)}, ${String(m.totalMemMb)} MiB, Node ${String(m.node)}, commit ${String(m.gitCommit).slice(0, 10)}${o.quick ? " (--quick)" : ""}`,
  );
  console.log(`load average: start ${load0.join(" ")}, end ${loadAverage().join(" ")}\n`);
  console.log(report(r));
  console.log("\ntargets:");
  for (const t of result.targets)
    console.log(`  [${t.met ? "met" : "NOT met"}] ${t.target}: ${t.value}`);
  console.log(`\n${wallS} s; results in ${relative(process.cwd(), o.out) || o.out}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
