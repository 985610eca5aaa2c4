/**
 * Runs the real coordinator for the benchmark: `node bin/cf-orch.js coordinator` as a child
 * process on 127.0.0.1, port 0, warn-level logs, with a generated YAML config. The port is read
 * from /proc (the "listening" line is an info log), then GET /healthz must answer.
 * With `profileDir`, the child runs under `node --cpu-prof` and writes its profile on exit.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import YAML from "yaml";
import { listeningPort } from "./proc.js";
import { sleep } from "./stats.js";

export interface BenchGpu {
  index: number;
  capacityMb: number;
  name?: string;
}

/** Config keys the coordinator accepts (from `cf-orch coordinator --help`), read once. */
let knownKeys: Set<string> | undefined;
export function coordinatorKeys(repoRoot: string): Set<string> {
  if (!knownKeys) {
    const help = execFileSync(
      process.execPath,
      [join(repoRoot, "bin", "cf-orch.js"), "coordinator", "--help"],
      { cwd: repoRoot, encoding: "utf8" },
    );
    knownKeys = new Set(
      [...help.matchAll(/^\s+--([a-z0-9-]+)/gm)].map((m) => m[1]!.replace(/-/g, "_")),
    );
  }
  return knownKeys;
}

/** The lease store (when this coordinator has one): "disk" = the defaults (a file, fsync at
 * every commit) in a fresh temp directory; "memory" = data_dir ":memory:". */
export type StoreMode = "disk" | "memory";

export interface CoordinatorSpec {
  /** Used for the temp config name and the profile file name. */
  name: string;
  gpus: BenchGpu[];
  /** Extra config keys (snake_case YAML spelling). */
  settings?: Record<string, unknown>;
  logLevel?: string;
  store?: StoreMode;
  /** Write a V8 CPU profile of the coordinator here (on exit). */
  profileDir?: string;
  repoRoot: string;
}

export interface BenchCoordinator {
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  configFile: string;
  /** Whether it has a lease store, and which. */
  store: StoreMode | "none";
  /** Lines the child printed (warnings, errors). */
  output: string[];
  /** SIGTERM and wait for the exit (a second SIGTERM after graceMs, SIGKILL after twice that). */
  stop(graceMs?: number): Promise<void>;
}

export const BENCH_NODE = "bench";

function writeConfig(spec: CoordinatorSpec): string {
  const dir = mkdtempSync(join(tmpdir(), `cf-orch-bench-${spec.name}-`));
  const file = join(dir, "coordinator.yaml");
  // A store of its own (never the repository's .data/, which a running coordinator may lock).
  const store = coordinatorKeys(spec.repoRoot).has("data_dir")
    ? { data_dir: spec.store === "memory" ? ":memory:" : join(dir, "data") }
    : {};
  const config = {
    ...store,
    nvidia_smi: "off",
    node_name: BENCH_NODE,
    shutdown_grace_ms: 300,
    gpus: spec.gpus.map((g) => ({
      node: BENCH_NODE,
      index: g.index,
      name: g.name ?? "NVIDIA H100 80GB HBM3",
      capacity_mb: g.capacityMb,
    })),
    ...(spec.settings ?? {}),
  };
  writeFileSync(file, YAML.stringify(config));
  return file;
}

function healthz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/healthz", timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

export async function startBenchCoordinator(spec: CoordinatorSpec): Promise<BenchCoordinator> {
  const configFile = writeConfig(spec);
  const nodeArgs = spec.profileDir
    ? [
        "--cpu-prof",
        "--cpu-prof-dir",
        spec.profileDir,
        "--cpu-prof-name",
        `${spec.name}.cpuprofile`,
      ]
    : [];
  const args = [
    ...nodeArgs,
    join(spec.repoRoot, "bin", "cf-orch.js"),
    "coordinator",
    "--config",
    configFile,
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--log-level",
    spec.logLevel ?? "warn",
  ];
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("CF_ORCH_")) delete env[k];
  const child = spawn(process.execPath, args, {
    cwd: spec.repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const collect = (stream: NodeJS.ReadableStream | null) => {
    if (!stream) return;
    stream.setEncoding("utf8");
    let buf = "";
    stream.on("data", (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        output.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (output.length > 1000) output.shift();
      }
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let dead = false;
  void exited.then(() => (dead = true));

  const pid = child.pid!;
  const deadline = Date.now() + 30_000;
  let port: number | undefined;
  while (Date.now() < deadline && !dead) {
    port ??= listeningPort(pid);
    if (port !== undefined && (await healthz(port))) break;
    await sleep(50);
  }
  if (port === undefined || dead || Date.now() >= deadline) {
    child.kill("SIGKILL");
    throw new Error(
      `coordinator "${spec.name}" did not start (config ${configFile}):\n${output.join("\n")}`,
    );
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid,
    child,
    configFile,
    store: coordinatorKeys(spec.repoRoot).has("data_dir") ? (spec.store ?? "disk") : "none",
    output,
    stop: async (graceMs = 10_000) => {
      if (dead) return;
      // SIGTERM: graceful shutdown. A second SIGTERM makes the CLI exit at once (process.exit,
      // which still writes a --cpu-prof profile); SIGKILL only as the last resort.
      child.kill("SIGTERM");
      const second = setTimeout(() => child.kill("SIGTERM"), graceMs);
      const kill = setTimeout(() => child.kill("SIGKILL"), graceMs * 2);
      await exited;
      clearTimeout(second);
      clearTimeout(kill);
      // The temp config and the coordinator's store.
      rmSync(dirname(configFile), { recursive: true, force: true });
    },
  };
}
