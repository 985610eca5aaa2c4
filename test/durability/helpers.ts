/**
 * Helpers of the durability tests: holder child processes, a status sampler that checks the
 * no-over-commit invariant on every sample, and bounded waits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino, type Logger } from "pino";
import { ClusterService, type GetStatusResponse } from "../../gen/ts/cforch/v1/cluster_pb.js";
import { LeaseService, LeaseState } from "../../gen/ts/cforch/v1/lease_pb.js";
import { REPO_ROOT } from "../support/coordinator.js";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it is true; throws after `ms` (bounded). */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms: number,
  everyMs = 25,
): Promise<number> {
  const start = Date.now();
  for (let i = 0; Date.now() - start < ms && i < Math.ceil(ms / everyMs) + 10; i++) {
    try {
      if (await check()) return Date.now() - start;
    } catch {
      /* not reachable yet */
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export function quietLogger(): Logger {
  return pino({ level: "silent" });
}

export interface Clients {
  lease: Client<typeof LeaseService>;
  cluster: Client<typeof ClusterService>;
}

const cache = new Map<string, Clients>();

/** Raw clients for a coordinator URL (one HTTP/2 connection per URL, reused). */
export function clients(url: string): Clients {
  let c = cache.get(url);
  if (!c) {
    const t = createGrpcTransport({ baseUrl: url });
    c = { lease: createClient(LeaseService, t), cluster: createClient(ClusterService, t) };
    cache.set(url, c);
  }
  return c;
}

export interface HolderInfo {
  leaseId: string;
  gpuId: string;
  fencingToken: string;
  holderId: string;
  evictable: boolean;
}

export interface Holder {
  child: ChildProcess;
  granted: Promise<HolderInfo>;
  lines: string[];
  exited: Promise<void>;
}

/** Starts test/durability/fixtures/holder.ts in a child process (see there). */
export function spawnHolder(args: {
  url: string;
  service: string;
  vramMb: number;
  gpu?: string;
  ttlMs: number;
  evictable?: boolean;
}): Holder {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(REPO_ROOT, "test", "durability", "fixtures", "holder.ts"),
      JSON.stringify(args),
    ],
    { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  const lines: string[] = [];
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const granted = new Promise<HolderInfo>((resolve, reject) => {
    let buf = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        try {
          const o = JSON.parse(line) as { event?: string } & HolderInfo;
          if (o.event === "granted") resolve(o);
        } catch {
          /* not ours */
        }
      }
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => lines.push(chunk));
    void exited.then(() =>
      reject(new Error(`holder exited before its grant:\n${lines.join("\n")}`)),
    );
  });
  granted.catch(() => undefined);
  return { child, granted, lines, exited };
}

/** Every GPU's committed memory within its capacity, in one snapshot; problems as text. */
export function overCommit(s: GetStatusResponse): string[] {
  const problems: string[] = [];
  const leased = new Map<string, bigint>();
  for (const l of s.leases) {
    if (l.state !== LeaseState.ACTIVE && l.state !== LeaseState.CHECKPOINTING) continue;
    leased.set(l.gpuId, (leased.get(l.gpuId) ?? 0n) + l.vramMb);
  }
  for (const g of s.gpus) {
    const sum = leased.get(g.gpuId) ?? 0n;
    if (sum > g.capacityMb)
      problems.push(
        `${g.gpuId}: leases hold ${sum} MiB of ${g.capacityMb} (revision ${s.revision})`,
      );
    if (g.leasedMb + g.reservedMb > g.capacityMb)
      problems.push(
        `${g.gpuId}: leased ${g.leasedMb} + reserved ${g.reservedMb} > ${g.capacityMb} (revision ${s.revision})`,
      );
  }
  return problems;
}

/**
 * Samples GetStatus every `everyMs` while running (skipping samples while the coordinator is
 * down) and records every over-commit it sees.
 */
export class Sampler {
  readonly violations: string[] = [];
  samples = 0;
  failures = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly url: () => string,
    everyMs = 30,
  ) {
    this.loop = (async () => {
      while (this.running) {
        try {
          const s = await clients(this.url()).cluster.getStatus({}, { timeoutMs: 1000 });
          this.samples++;
          this.violations.push(...overCommit(s));
        } catch {
          this.failures++;
        }
        await sleep(everyMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
