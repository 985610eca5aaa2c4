/**
 * Test helpers that run a real coordinator on a free loopback port.
 *
 * - startTestCoordinator(): in this process (fast; gives direct access to the scheduler).
 * - spawnCoordinator(): as a child process through the real CLI (`node bin/cf-orch.js
 *   coordinator`), so a test can kill -9 it, SIGTERM it, or restart it on the same port.
 *
 * Both default to two GPUs on node "local": local/0 (RTX 4090, 24576 MiB) and local/1
 * (RTX 3070, 8192 MiB).
 *
 * Persistence: startTestCoordinator() keeps leases in memory only unless the test passes a
 * dataDir (or persist: true); spawnCoordinator() gives every child a fresh data dir of its own
 * (next to its generated config) unless the test names one (settings.data_dir, --data-dir,
 * CF_ORCH_DATA_DIR): restarting on the same store is then an explicit choice of the test.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import YAML from "yaml";
import { startCoordinator, type RunningCoordinator } from "../../coordinator/server.js";
import type { CoordinatorConfig, GpuConfig } from "../../coordinator/config/schema.js";

/** The repository root: from this file under jest (CommonJS), else found upwards from cwd (tsx/ESM). */
function findRepoRoot(): string {
  if (typeof __dirname !== "undefined") return resolve(__dirname, "..", "..");
  let dir = process.cwd();
  for (let i = 0; i < 20; i++) {
    if (existsSync(join(dir, "bin", "cf-orch.js")) && existsSync(join(dir, "proto"))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return process.cwd();
}

export const REPO_ROOT = findRepoRoot();
export const CLI = join(REPO_ROOT, "bin", "cf-orch.js");
export const FAKE_NVIDIA_SMI = join(REPO_ROOT, "test", "support", "fake-nvidia-smi.sh");

export const DEFAULT_TEST_GPUS: GpuConfig[] = [
  { node: "local", index: 0, name: "NVIDIA GeForce RTX 4090", capacityMb: 24576 },
  { node: "local", index: 1, name: "NVIDIA GeForce RTX 3070", capacityMb: 8192 },
];

export type TestCoordinatorOptions = Partial<CoordinatorConfig>;

/** In-process coordinator on 127.0.0.1, port 0, silent logs, the two default GPUs. */
export function startTestCoordinator(
  opts: TestCoordinatorOptions = {},
): Promise<RunningCoordinator> {
  return startCoordinator({
    host: "127.0.0.1",
    port: 0,
    logLevel: "silent",
    nvidiaSmi: "off",
    gpus: DEFAULT_TEST_GPUS,
    shutdownGraceMs: 500,
    ...opts,
    persist: opts.persist ?? opts.dataDir !== undefined,
  });
}

export interface SpawnOptions {
  /** Port to bind; 0 (default) picks a free one. Pass a previous port to restart "the same" coordinator. */
  port?: number;
  /** GPUs for the generated config file (ignored when `config` is given). */
  gpus?: GpuConfig[];
  /** Extra keys for the generated config file, in YAML spelling (snake_case). */
  settings?: Record<string, unknown>;
  /** Use this config file instead of generating one. */
  config?: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** How long to wait for the listening line (default 20 s). */
  startTimeoutMs?: number;
  /** Log level of the child (default "info"; the listening line is at info). */
  logLevel?: string;
}

export interface SpawnedCoordinator {
  url: string;
  port: number;
  child: ChildProcess;
  /** Every line the child printed so far (stdout and stderr). */
  output: string[];
  /** Sends a signal (default SIGKILL) without waiting. */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s); resolves with the exit code / signal. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when the child exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function writeConfig(opts: SpawnOptions): string {
  const dir = mkdtempSync(join(tmpdir(), "cf-orch-test-"));
  const file = join(dir, "coordinator.yaml");
  const gpus = (opts.gpus ?? DEFAULT_TEST_GPUS).map((g) => ({
    ...(g.node !== undefined ? { node: g.node } : {}),
    index: g.index,
    ...(g.name !== undefined ? { name: g.name } : {}),
    ...(g.uuid !== undefined ? { uuid: g.uuid } : {}),
    capacity_mb: g.capacityMb,
  }));
  writeFileSync(
    file,
    YAML.stringify({
      nvidia_smi: "off",
      data_dir: join(dir, "data"),
      gpus,
      ...(opts.settings ?? {}),
    }),
  );
  return file;
}

/** Runs `node bin/cf-orch.js coordinator` and waits for its "listening" log line. */
export function spawnCoordinator(opts: SpawnOptions = {}): Promise<SpawnedCoordinator> {
  const config = opts.config ?? writeConfig(opts);
  const args = [
    CLI,
    "coordinator",
    "--config",
    config,
    "--host",
    "127.0.0.1",
    "--port",
    String(opts.port ?? 0),
    "--log-level",
    opts.logLevel ?? "info",
    ...(opts.args ?? []),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, ...(opts.env ?? {}) };
  // Settings from the test runner's environment must not leak into the child.
  for (const k of Object.keys(env))
    if (k.startsWith("CF_ORCH_") && !(opts.env && k in opts.env)) delete env[k];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once("exit", (code, signal) => res({ code, signal })),
  );
  return new Promise((resolvePromise, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill("SIGKILL");
      reject(
        new Error(
          `coordinator did not start within ${opts.startTimeoutMs ?? 20000} ms:\n${output.join("\n")}`,
        ),
      );
    }, opts.startTimeoutMs ?? 20_000);
    const onLine = (line: string) => {
      output.push(line);
      if (settled) return;
      let rec: { port?: unknown; url?: unknown; msg?: unknown };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        return;
      }
      if (
        typeof rec.port === "number" &&
        typeof rec.url === "string" &&
        String(rec.msg).includes("listening")
      ) {
        settled = true;
        clearTimeout(timer);
        const port = rec.port;
        const url = rec.url;
        resolvePromise({
          url,
          port,
          child,
          output,
          exited,
          kill: (signal = "SIGKILL") => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          },
          stop: async (graceMs = 5000) => {
            if (child.exitCode !== null || child.signalCode !== null) return exited;
            child.kill("SIGTERM");
            const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
            const r = await exited;
            clearTimeout(t);
            return r;
          },
        });
      }
    };
    const split = (stream: NodeJS.ReadableStream) => {
      let buf = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    };
    split(child.stdout!);
    split(child.stderr!);
    void exited.then(({ code, signal }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(
        new Error(
          `coordinator exited (code ${code}, signal ${signal}) before listening:\n${output.join("\n")}`,
        ),
      );
    });
  });
}
