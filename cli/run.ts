/**
 * `cf-orch run --vram GB [options] -- CMD ARGS...`: runs any command under a VRAM lease.
 *
 * The lease comes from the TypeScript client (ResourceCoordinator), so it gets the same
 * keep-alive, typed errors and local fallback as a TypeScript product. The command runs with
 * inherited stdio and CUDA_VISIBLE_DEVICES / CF_ORCH_* set; signals reach it; the lease is
 * released when it exits, and cf-orch exits with its status.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { constants as osConstants } from "node:os";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import type { Command } from "./main.js";
import { formatMb } from "./status-format.js";
import {
  CancelledError,
  CfOrchError,
  CoordinatorUnavailableError,
  InvalidOptionError,
  InvalidSlotError,
  LeaseLostError,
  NotFittableError,
  ResourceCoordinator,
  VRAMSlot,
  type Lease,
  type PriorityName,
  type QueueUpdate,
} from "../client/index.js";
import { DEFAULT_URL } from "../client/options.js";
import { classifyFailure } from "../client/rpc-errors.js";

const PRIORITIES: readonly PriorityName[] = ["batch", "low", "normal", "high", "critical"];
const FORWARDED: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
/** After the lease is lost and the command was sent SIGTERM, SIGKILL it after this long. */
const KILL_GRACE_MS = 10_000;
/** Bound on giving the lease back after the command exits (the TTL reclaims it anyway). */
const RELEASE_TIMEOUT_MS = 5_000;

const HELP = `usage: cf-orch run (--vram GB | --vram-mb MIB) [options] -- CMD [ARGS...]

Waits for a VRAM lease from the cf-orch coordinator, runs CMD under it, and releases the lease
when CMD exits. CMD inherits stdin/stdout/stderr and gets in its environment:
  CUDA_VISIBLE_DEVICES    the leased GPU's index on its node (or its UUID for UUID-style ids)
  CF_ORCH_LEASE_ID        the lease id (local-... in local mode)
  CF_ORCH_GPU_ID          the GPU id, "<node>/<index>" (unset in local mode without --gpu)
  CF_ORCH_VRAM_MB         the VRAM granted, in MiB
  CF_ORCH_FENCING_TOKEN   the lease's fencing token (0 in local mode)
  CF_ORCH_MODE            "coordinated", or "local" when the coordinator was unreachable

options:
  --vram GB            VRAM to lease in GB (GiB; a number such as 4 or 0.5, rounded up to MiB)
  --vram-mb MIB        VRAM to lease in MiB (instead of --vram)
  --service NAME       product name shown in status (default "cli")
  --task-type TYPE     what the task does, e.g. "embedding"
  --priority CLASS     batch | low | normal | high | critical (default normal)
  --gpu ID             only this GPU ("<node>/<index>" or its UUID)
  --node NAME          only GPUs of this node
  --ttl-ms N           lease time to live: if cf-orch dies, the VRAM comes back after this
                       long (default: the coordinator's, 30000)
  --url URL            coordinator URL (env: CF_ORCH_URL; default ${DEFAULT_URL})
  --fallback MODE      coordinator unreachable: "local" (default) runs CMD anyway, without
                       coordination, with a warning; "error" exits 1 without running it
  --verbose, -v        report every queue change, the grant and the release on stderr
  --help               show this help

While it waits, the queue position is shown on stderr when stderr is a terminal. SIGINT,
SIGTERM and SIGHUP are forwarded to CMD (while waiting they cancel the wait). If the lease is
lost while CMD runs (the coordinator revoked it or was unreachable past the TTL), CMD gets
SIGTERM (SIGKILL ${KILL_GRACE_MS / 1000} s later) and cf-orch exits 1.

Exit status: CMD's exit status, or 128+N if it died of signal N; 1 when no lease could be had
(request can never fit, coordinator unreachable with --fallback error) or the lease was lost;
2 for a usage error; 126/127 when CMD cannot be run / is not found.

example:
  cf-orch run --vram 4 --service kiwi -- python embed.py --batch 32`;

class UsageError extends Error {}

export interface RunArgs {
  vramGb: number | undefined;
  vramMb: number | undefined;
  service: string;
  taskType: string | undefined;
  priority: PriorityName | undefined;
  gpu: string | undefined;
  node: string | undefined;
  ttlMs: number | undefined;
  url: string | undefined;
  fallback: "local" | "error";
  verbose: boolean;
  command: string[];
}

/** Parses `run`'s arguments; throws UsageError. Exported for tests. */
export function parseRunArgs(argv: string[]): RunArgs | "help" {
  const args: RunArgs = {
    vramGb: undefined,
    vramMb: undefined,
    service: "cli",
    taskType: undefined,
    priority: undefined,
    gpu: undefined,
    node: undefined,
    ttlMs: undefined,
    url: undefined,
    fallback: "local",
    verbose: false,
    command: [],
  };
  const own = argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv;
  if (own.includes("--help") || own.includes("-h")) return "help";
  let sawSeparator = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      sawSeparator = true;
      args.command = argv.slice(i + 1);
      break;
    }
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined || (eq < 0 && v === "--"))
        throw new UsageError(`${name}: a value is required`);
      return v;
    };
    switch (name) {
      case "--help":
      case "-h":
        return "help";
      case "--verbose":
      case "-v":
        args.verbose = true;
        break;
      case "--vram": {
        const v = value();
        const gb = /^(\d+(\.\d*)?|\.\d+)$/.test(v) ? Number(v) : NaN;
        if (!(gb > 0) || !Number.isFinite(gb))
          throw new UsageError(`--vram: expected a number of GB greater than 0, got "${v}"`);
        args.vramGb = gb;
        break;
      }
      case "--vram-mb": {
        const v = value();
        if (!/^\d+$/.test(v) || !(Number(v) >= 1) || !Number.isSafeInteger(Number(v)))
          throw new UsageError(`--vram-mb: expected a whole number of MiB, at least 1, got "${v}"`);
        args.vramMb = Number(v);
        break;
      }
      case "--ttl-ms": {
        const v = value();
        if (!/^\d+$/.test(v) || !(Number(v) >= 1) || Number(v) > 3_600_000)
          throw new UsageError(
            `--ttl-ms: expected whole milliseconds from 1 to 3600000, got "${v}"`,
          );
        args.ttlMs = Number(v);
        break;
      }
      case "--priority": {
        const v = value().toLowerCase();
        if (!(PRIORITIES as readonly string[]).includes(v))
          throw new UsageError(`--priority: expected one of ${PRIORITIES.join(", ")}, got "${v}"`);
        args.priority = v as PriorityName;
        break;
      }
      case "--fallback": {
        const v = value();
        if (v !== "local" && v !== "error")
          throw new UsageError(`--fallback: expected "local" or "error", got "${v}"`);
        args.fallback = v;
        break;
      }
      case "--service":
        args.service = value();
        break;
      case "--task-type":
        args.taskType = value();
        break;
      case "--gpu":
        args.gpu = value();
        break;
      case "--node":
        args.node = value();
        break;
      case "--url":
        args.url = value();
        break;
      default:
        if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`);
        throw new UsageError(
          `missing "--" before the command: write cf-orch run [options] -- ${argv
            .slice(i)
            .join(" ")}`,
        );
    }
  }
  if (!sawSeparator)
    throw new UsageError(`missing "-- CMD [ARGS...]": the command to run comes after "--"`);
  if (args.command.length === 0 || args.command[0] === "")
    throw new UsageError(`missing the command after "--"`);
  if (args.vramGb === undefined && args.vramMb === undefined)
    throw new UsageError("--vram GB (or --vram-mb MIB) is required");
  if (args.vramGb !== undefined && args.vramMb !== undefined)
    throw new UsageError("give --vram or --vram-mb, not both");
  return args;
}

/**
 * CUDA_VISIBLE_DEVICES for a GPU id: the index of "<node>/<index>", or the id itself when it is
 * UUID-style ("GPU-8f3c..."), which CUDA also accepts. Undefined for an empty id.
 */
export function cudaVisibleDevices(gpuId: string): string | undefined {
  if (gpuId === "") return undefined;
  const m = /^(?:.*\/)?(\d+)$/.exec(gpuId);
  return m ? m[1] : gpuId.slice(gpuId.lastIndexOf("/") + 1);
}

/** The child's environment: the caller's, plus the lease. */
export function leaseEnvironment(
  base: NodeJS.ProcessEnv,
  lease: Pick<Lease, "id" | "gpuId" | "vramMb" | "fencingToken" | "mode">,
  pinnedGpu: string | undefined,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  const gpuId = lease.gpuId || pinnedGpu || "";
  const cuda = cudaVisibleDevices(gpuId);
  if (cuda !== undefined) env.CUDA_VISIBLE_DEVICES = cuda;
  if (gpuId) env.CF_ORCH_GPU_ID = gpuId;
  else delete env.CF_ORCH_GPU_ID;
  env.CF_ORCH_LEASE_ID = lease.id;
  env.CF_ORCH_VRAM_MB = String(lease.vramMb);
  env.CF_ORCH_FENCING_TOKEN = String(lease.fencingToken);
  env.CF_ORCH_MODE = lease.mode;
  return env;
}

/** 128 + the signal's number, as shells report a death by signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (osConstants.signals[signal] ?? 0);
}

function say(message: string): void {
  process.stderr.write(`cf-orch run: ${message}\n`);
}

/** The client's pino logs, as plain lines on stderr (stdout belongs to CMD). */
function stderrLogger(level: string): Logger {
  const names: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warning" };
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        try {
          const rec = JSON.parse(line) as { level?: number; msg?: string; err?: unknown };
          const lv = rec.level ?? 30;
          const tag = lv >= 50 ? "error" : (names[lv] ?? "info");
          const err =
            rec.err && typeof rec.err === "object" && "message" in rec.err
              ? ` (${String((rec.err as { message: unknown }).message)})`
              : typeof rec.err === "string"
                ? ` (${rec.err})`
                : "";
          process.stderr.write(`cf-orch run: ${tag}: ${rec.msg ?? ""}${err}\n`);
        } catch {
          process.stderr.write(`${line}\n`);
        }
      }
      done();
    },
  });
  return pino({ name: "cf-orch", level }, sink);
}

/** Shows queue progress: one line rewritten in place on a terminal, a line per change with --verbose. */
class QueueDisplay {
  #last = "";
  #drawn = false;

  constructor(
    private readonly tty: boolean,
    private readonly verbose: boolean,
    private readonly vramMb: number,
  ) {}

  update(u: QueueUpdate): void {
    const ahead = u.vramAheadMb > 0 ? `, ${formatMb(u.vramAheadMb)} ahead` : "";
    const text =
      `waiting for ${formatMb(this.vramMb)}: position ${u.position}${ahead}` +
      (u.reasonText ? ` — ${u.reasonText}` : "");
    if (text === this.#last) return;
    this.#last = text;
    if (this.tty) {
      const columns = process.stderr.columns || 100;
      const line = `cf-orch run: ${text}`;
      process.stderr.write(
        `\r\x1b[K${line.length > columns - 1 ? `${line.slice(0, columns - 2)}…` : line}`,
      );
      this.#drawn = true;
    } else if (this.verbose) {
      say(text);
    }
  }

  /** Clears the in-place line. */
  done(): void {
    if (this.#drawn) process.stderr.write("\r\x1b[K");
    this.#drawn = false;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

type ChildEnd =
  | { kind: "exit"; code: number | null; signal: NodeJS.Signals | null }
  | { kind: "error"; error: NodeJS.ErrnoException };

function runChild(child: ChildProcess): Promise<ChildEnd> {
  return new Promise((resolve) => {
    child.once("error", (error: NodeJS.ErrnoException) => resolve({ kind: "error", error }));
    child.once("exit", (code, signal) => resolve({ kind: "exit", code, signal }));
  });
}

async function run(argv: string[]): Promise<number> {
  let args: RunArgs | "help";
  let slot: VRAMSlot;
  try {
    args = parseRunArgs(argv);
    if (args === "help") {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    slot = new VRAMSlot({
      service: args.service,
      ...(args.taskType !== undefined ? { taskType: args.taskType } : {}),
      ...(args.vramGb !== undefined ? { vramGb: args.vramGb } : { vramMb: args.vramMb! }),
      ...(args.priority !== undefined ? { priority: args.priority } : {}),
      ...(args.gpu !== undefined ? { gpu: args.gpu } : {}),
      ...(args.node !== undefined ? { node: args.node } : {}),
    });
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof InvalidSlotError)) throw err;
    say(`${err.message}\n(see cf-orch run --help)`);
    return 2;
  }

  const verbose = args.verbose;
  let coordinator: ResourceCoordinator;
  try {
    coordinator = new ResourceCoordinator({
      service: args.service,
      fallback: args.fallback,
      logger: stderrLogger(process.env.CF_ORCH_LOG_LEVEL || (verbose ? "info" : "warn")),
      ...(args.url !== undefined ? { url: args.url } : {}),
      ...(args.ttlMs !== undefined ? { ttlMs: args.ttlMs } : {}),
    });
  } catch (err) {
    if (!(err instanceof InvalidOptionError)) throw err;
    say(`${err.message}\n(see cf-orch run --help)`);
    return 2;
  }

  // Signals: while waiting they cancel the wait; while CMD runs they are forwarded to it.
  const waiting = new AbortController();
  let child: ChildProcess | undefined;
  let firstSignal: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    firstSignal ??= signal;
    if (child) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    } else if (!waiting.signal.aborted) {
      waiting.abort(new CancelledError("aborted", `interrupted by ${signal} while waiting`));
    }
  };
  for (const s of FORWARDED) process.on(s, onSignal);
  // Whatever happens, do not hang on exit (the client's timers and sockets are closed below).
  const leave = (code: number): number => {
    setTimeout(() => process.exit(code), 2_000).unref();
    return code;
  };

  try {
    const display = new QueueDisplay(process.stderr.isTTY === true, verbose, slot.vramMb);
    let lease: Lease;
    try {
      lease = await coordinator.lease(slot, {
        signal: waiting.signal,
        onQueued: (u) => display.update(u),
      });
    } catch (err) {
      display.done();
      if (err instanceof CancelledError && waiting.signal.aborted) {
        say(`interrupted by ${firstSignal} while waiting for a lease; nothing was run`);
        return leave(signalExitCode(firstSignal ?? "SIGINT"));
      }
      if (err instanceof CoordinatorUnavailableError) {
        say(
          `the coordinator at ${err.url} is unreachable (${classifyFailure(err.cause).message}) ` +
            `and --fallback error forbids running without it; nothing was run`,
        );
        return leave(1);
      }
      if (err instanceof NotFittableError) {
        say(`this request can never be granted: ${err.message}; nothing was run`);
        return leave(1);
      }
      if (err instanceof InvalidSlotError) {
        say(`the coordinator rejected the request: ${err.message}`);
        return leave(2);
      }
      if (err instanceof CfOrchError) {
        say(`could not get a lease: ${err.message}`);
        return leave(1);
      }
      throw err;
    }
    display.done();
    if (waiting.signal.aborted) {
      // A signal raced the grant: honour it, give the lease back, run nothing.
      await withTimeout(lease.release(), RELEASE_TIMEOUT_MS);
      say(`interrupted by ${firstSignal} as the lease was granted; nothing was run`);
      return leave(signalExitCode(firstSignal ?? "SIGINT"));
    }
    if (lease.signal.aborted) {
      await withTimeout(lease.release(), RELEASE_TIMEOUT_MS);
      say(`lease ${lease.id} was lost before the command started: ${String(lease.signal.reason)}`);
      return leave(1);
    }

    if (lease.mode === "local") {
      const cuda = args.gpu !== undefined ? cudaVisibleDevices(args.gpu) : undefined;
      say(
        `running WITHOUT coordination (coordinator unreachable): no GPU was assigned, so ` +
          (cuda !== undefined
            ? `CUDA_VISIBLE_DEVICES=${cuda} comes from --gpu ${args.gpu}`
            : `CUDA_VISIBLE_DEVICES is not set by cf-orch`),
      );
    } else if (verbose) {
      say(
        `lease ${lease.id}: ${formatMb(lease.vramMb)} on ${lease.gpuId} ` +
          `(fencing token ${lease.fencingToken}, TTL ${lease.ttlMs} ms)`,
      );
    }

    const [file, ...rest] = args.command;
    let lost = false;
    let killTimer: NodeJS.Timeout | undefined;
    child = spawn(file!, rest, {
      stdio: "inherit",
      env: leaseEnvironment(process.env, lease, args.gpu),
    });
    const onLost = (): void => {
      const reason = lease.signal.reason as unknown;
      lost = true;
      const why = reason instanceof LeaseLostError ? reason.message : String(reason);
      say(`the lease was lost (${why}); stopping the command with SIGTERM`);
      const c = child!;
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
      killTimer = setTimeout(() => {
        if (c.exitCode === null && c.signalCode === null) {
          say(`the command did not stop within ${KILL_GRACE_MS / 1000} s; sending SIGKILL`);
          c.kill("SIGKILL");
        }
      }, KILL_GRACE_MS);
    };
    if (lease.signal.aborted) onLost();
    else lease.signal.addEventListener("abort", onLost, { once: true });

    const end = await runChild(child);
    lease.signal.removeEventListener("abort", onLost);
    clearTimeout(killTimer);
    await withTimeout(lease.release(), RELEASE_TIMEOUT_MS);
    if (verbose) say(`released lease ${lease.id}`);

    if (end.kind === "error") {
      const notFound = end.error.code === "ENOENT";
      say(
        `cannot run ${JSON.stringify(file)}: ${notFound ? "command not found" : end.error.message}`,
      );
      return leave(notFound ? 127 : 126);
    }
    if (lost) {
      say(`exiting 1: the command was stopped because lease ${lease.id} was lost`);
      return leave(1);
    }
    if (end.signal) return leave(signalExitCode(end.signal));
    return leave(end.code ?? 1);
  } finally {
    for (const s of FORWARDED) process.off(s, onSignal);
    await withTimeout(coordinator.close(), RELEASE_TIMEOUT_MS);
  }
}

export const command: Command = {
  summary: "run a command under a VRAM lease (CUDA_VISIBLE_DEVICES set, released on exit)",
  run,
};
