/** `cf-orch status [--watch] [--json] [--url U]`: the coordinator's GPUs, leases, queue, evictions. */
import { toJson } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import type { Command } from "./main.js";
import { formatStatus } from "./status-format.js";
import { ClusterService, GetStatusResponseSchema } from "../gen/ts/cforch/v1/cluster_pb.js";
import type { GetStatusResponse } from "../gen/ts/cforch/v1/cluster_pb.js";
import { DEFAULT_URL } from "../client/options.js";
import { classifyFailure, codeName } from "../client/rpc-errors.js";
import { createCoordinatorTransport } from "../client/transport.js";

const HELP = `usage: cf-orch status [--watch] [--json] [--url URL] [--interval-ms N]

Shows the coordinator's view, like nvidia-smi for leases: every GPU with its capacity, leased,
reserved (evictions in flight), measured and free VRAM; the live leases (id, service, task,
GPU, VRAM, state, priority, time until expiry); the waiting requests in order of service with
their position and why they wait; and the evictions in flight.

options:
  --json             print the GetStatusResponse as protobuf JSON (fields with default
                     values included), for scripts
  --watch, -w        follow ClusterService.WatchStatus: redraw on every change (clears the
                     screen on a terminal; otherwise prints each snapshot after a blank line,
                     or with --json one JSON object per line). Ctrl-C to stop. If the
                     coordinator goes away it reconnects, and exits 1 after 30 s without one
  --interval-ms N    with --watch: at most one snapshot per N ms (server default 100)
  --url URL          coordinator URL (env: CF_ORCH_URL; default ${DEFAULT_URL})
  --help             show this help

The bearer token, if the coordinator wants one, comes from CF_ORCH_TOKEN.
Exit status: 0; 1 when the coordinator cannot be reached or answers with an error; 2 for a
usage error.`;

/** How long a watch keeps reconnecting without receiving a snapshot before it gives up. */
const WATCH_GIVE_UP_MS = 30_000;
const CALL_TIMEOUT_MS = 10_000;

interface StatusArgs {
  json: boolean;
  watch: boolean;
  url: string;
  intervalMs: number;
}

class UsageError extends Error {}

function parse(argv: string[], env: NodeJS.ProcessEnv): StatusArgs | "help" {
  const args: StatusArgs = {
    json: false,
    watch: false,
    url: env.CF_ORCH_URL || DEFAULT_URL,
    intervalMs: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`${name}: a value is required`);
      return v;
    };
    if (name === "--help" || name === "-h") return "help";
    else if (name === "--json") args.json = true;
    else if (name === "--watch" || name === "-w") args.watch = true;
    else if (name === "--url") args.url = value();
    else if (name === "--interval-ms") {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) > 60_000)
        throw new UsageError(
          `--interval-ms: expected whole milliseconds from 0 to 60000, got ${v}`,
        );
      args.intervalMs = Number(v);
    } else throw new UsageError(`unknown ${a.startsWith("-") ? "option" : "argument"} ${a}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(args.url);
  } catch {
    throw new UsageError(`--url: not a URL: ${args.url}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new UsageError(`--url: must be http:// or https://, got ${args.url}`);
  args.url = args.url.replace(/\/+$/, "");
  return args;
}

/** One line saying why a call failed, for stderr. */
function describeFailure(err: unknown, url: string): string {
  const failure = classifyFailure(err);
  if (failure.kind === "connect") {
    const why = failure.errnos.filter((e) => /^E[A-Z]/.test(e)).join(", ") || failure.message;
    return (
      `cannot reach the coordinator at ${url} (${why}). Is it running? ` +
      `Start one with \`cf-orch coordinator\`, or point --url / CF_ORCH_URL at it.`
    );
  }
  if (failure.kind === "transient")
    return `the coordinator at ${url} is unavailable: ${failure.message}`;
  return `the coordinator at ${url} answered ${codeName(failure.code)}: ${failure.message}`;
}

function render(status: GetStatusResponse, args: StatusArgs, compact: boolean): string {
  if (args.json) {
    const json = toJson(GetStatusResponseSchema, status, { alwaysEmitImplicit: true });
    return compact ? JSON.stringify(json) : JSON.stringify(json, null, 2);
  }
  return formatStatus(status, { url: args.url });
}

async function once(client: Client<typeof ClusterService>, args: StatusArgs): Promise<number> {
  let status: GetStatusResponse;
  try {
    status = await client.getStatus({}, { timeoutMs: CALL_TIMEOUT_MS });
  } catch (err) {
    process.stderr.write(`cf-orch status: ${describeFailure(err, args.url)}\n`);
    return 1;
  }
  process.stdout.write(`${render(status, args, false)}\n`);
  return 0;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

async function watch(client: Client<typeof ClusterService>, args: StatusArgs): Promise<number> {
  const tty = process.stdout.isTTY === true && !args.json;
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let snapshots = 0;
  let lastSnapshotAt = Date.now();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const stream = client.watchStatus(
          { minIntervalMs: args.intervalMs },
          { signal: stop.signal },
        );
        for await (const msg of stream) {
          if (!msg.status) continue;
          const text = render(msg.status, args, true);
          if (tty) {
            process.stdout.write(
              `\x1b[H\x1b[2J${text}\n\nwatching ${args.url} (every change) · Ctrl-C to quit\n`,
            );
          } else if (args.json) {
            process.stdout.write(`${text}\n`);
          } else {
            process.stdout.write(`${snapshots > 0 ? "\n" : ""}${text}\n`);
          }
          snapshots++;
          lastSnapshotAt = Date.now();
          attempt = 0;
        }
        if (stop.signal.aborted) return 0;
        process.stderr.write(`cf-orch status: the coordinator ended the watch; reconnecting\n`);
      } catch (err) {
        if (stop.signal.aborted) return 0;
        if (snapshots === 0) {
          process.stderr.write(`cf-orch status: ${describeFailure(err, args.url)}\n`);
          return 1;
        }
        process.stderr.write(
          `cf-orch status: watch interrupted: ${describeFailure(err, args.url)}; reconnecting\n`,
        );
      }
      if (Date.now() - lastSnapshotAt > WATCH_GIVE_UP_MS) {
        process.stderr.write(
          `cf-orch status: no snapshot from ${args.url} for ${WATCH_GIVE_UP_MS / 1000} s; giving up\n`,
        );
        return 1;
      }
      await abortableSleep(Math.min(5_000, 500 * 2 ** Math.min(attempt, 4)), stop.signal);
      if (stop.signal.aborted) return 0;
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function run(argv: string[]): Promise<number> {
  let args: StatusArgs | "help";
  try {
    args = parse(argv, process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`cf-orch status: ${err.message}\n(see cf-orch status --help)\n`);
    return 2;
  }
  if (args === "help") {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const transport = createCoordinatorTransport({
    url: args.url,
    token: process.env.CF_ORCH_TOKEN || undefined,
    connectTimeoutMs: 3_000,
    pingIntervalMs: 15_000,
  });
  const client = createClient(ClusterService, transport.transport);
  try {
    return await (args.watch ? watch(client, args) : once(client, args));
  } finally {
    transport.close();
  }
}

export const command: Command = {
  summary: "show GPUs, leases, the queue and evictions (like nvidia-smi for leases)",
  run,
};
