/**
 * Helpers for the shell-facing tests: run the real `cf-orch` CLI (node bin/cf-orch.js) and
 * other real binaries (grpcurl, curl) as child processes, watch their output, and poll the
 * coordinator's state with bounded waits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ClusterService, type GetStatusResponse } from "../../gen/ts/cforch/v1/cluster_pb.js";
import { LeaseService } from "../../gen/ts/cforch/v1/lease_pb.js";
import { CLI, REPO_ROOT } from "../support/coordinator.js";

export { CLI, REPO_ROOT };

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout/stderr (joined) matches, rejects after `timeoutMs` or if the process exits first. */
  waitFor(
    pattern: RegExp | string,
    timeoutMs?: number,
    stream?: "stdout" | "stderr",
  ): Promise<void>;
  readonly exited: Promise<Exit>;
  /** Sends a signal if still running. */
  kill(signal?: NodeJS.Signals): void;
}

/** Environment for a child: this one minus CF_ORCH_* and CUDA_VISIBLE_DEVICES, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env))
    if (k.startsWith("CF_ORCH_") || k === "CUDA_VISIBLE_DEVICES") delete env[k];
  return { ...env, ...extra };
}

const live = new Set<ChildProcess>();

/** Starts a process with piped output. Every one still running is SIGKILLed by killAll(). */
export function start(
  file: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Proc {
  const child = spawn(file, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: childEnv(opts.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    notify();
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    err += d;
    notify();
  });
  const exited = new Promise<Exit>((resolve) => {
    const settle = (exit: Exit): void => {
      live.delete(child);
      resolve(exit);
      notify();
    };
    child.once("error", () => settle({ code: null, signal: null }));
    // "close" comes once every byte of output is in. A grandchild orphaned by a SIGKILL may hold
    // the pipes open long after the process exited, so settle at most 1 s after "exit".
    child.once("close", (code, signal) => settle({ code, signal }));
    child.once("exit", (code, signal) => {
      setTimeout(() => settle({ code, signal }), 1_000).unref();
    });
  });
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    pid: child.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal = "SIGKILL") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitFor: (pattern, timeoutMs = 15_000, stream) =>
      new Promise<void>((resolve, reject) => {
        const text = (): string =>
          stream === "stdout" ? out : stream === "stderr" ? err : out + err;
        const matches = (): boolean =>
          typeof pattern === "string" ? text().includes(pattern) : pattern.test(text());
        const finish = (error?: Error): void => {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve();
        };
        const check = (): void => {
          if (matches()) finish();
          else if (done)
            finish(
              new Error(
                `${file} exited before printing ${String(pattern)}\nstdout:\n${out}\nstderr:\n${err}`,
              ),
            );
        };
        const timer = setTimeout(
          () =>
            finish(
              new Error(
                `timed out after ${timeoutMs} ms waiting for ${String(pattern)} from ${file}\nstdout:\n${out}\nstderr:\n${err}`,
              ),
            ),
          timeoutMs,
        );
        listeners.add(check);
        check();
      }),
  };
}

/** `node bin/cf-orch.js ARGS...`, running. */
export function startCli(args: string[], env: Record<string, string> = {}): Proc {
  return start(process.execPath, [CLI, ...args], { env });
}

export interface Result extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs a process to completion (SIGKILL after `timeoutMs`, which fails the caller's expectations). */
export async function runToEnd(
  file: string,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Result> {
  const p = start(file, args, opts);
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const exit = await p.exited;
  clearTimeout(timer);
  return { ...exit, stdout: p.stdout(), stderr: p.stderr() };
}

/** `node bin/cf-orch.js ARGS...` to completion. */
export function cli(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Result> {
  return runToEnd(process.execPath, [CLI, ...args], opts);
}

/** SIGKILLs every process started here that is still running. */
export function killAll(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

/** Kills a process by pid if it still exists (e.g. a child orphaned by a SIGKILLed cf-orch run). */
export function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Polls `probe` every `intervalMs` until it returns a truthy value; throws after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; Date.now() < deadline && i < 100_000; i++) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`,
  );
}

/** A loopback port nobody listens on (bound, then closed). */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const transports = new Map<string, Transport>();

function transportFor(url: string): Transport {
  let t = transports.get(url);
  if (!t) transports.set(url, (t = createGrpcTransport({ baseUrl: url })));
  return t;
}

export function clusterClient(url: string): Client<typeof ClusterService> {
  return createClient(ClusterService, transportFor(url));
}

export function leaseClient(url: string): Client<typeof LeaseService> {
  return createClient(LeaseService, transportFor(url));
}

export function getStatus(url: string): Promise<GetStatusResponse> {
  return clusterClient(url).getStatus({});
}

export function tempDir(prefix = "cf-orch-cli-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function readIfExists(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

/** Splits a stream of JSON objects (grpcurl prints each message as a pretty JSON object). */
export function parseJsonStream(text: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let begin = -1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === "\\") escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === "{") {
      if (depth === 0) begin = i;
      depth++;
    } else if (ch === "}") {
      depth--;
      if (depth === 0) values.push(JSON.parse(text.slice(begin, i + 1)));
    }
  }
  return values;
}
