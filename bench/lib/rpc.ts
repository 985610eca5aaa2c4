/**
 * Raw Connect clients over one HTTP/2 connection each (gRPC protocol, binary), the
 * lowest-overhead way to talk to the coordinator from TypeScript.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { pino, type Logger } from "pino";
import { EvictionService } from "../../gen/ts/cforch/v1/eviction_pb.js";
import { LeaseService, type Lease } from "../../gen/ts/cforch/v1/lease_pb.js";
import { PriorityClass } from "../../gen/ts/cforch/v1/common_pb.js";
import { Health } from "../../gen/ts/grpc/health/v1/health_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AcquireRequestSchema } from "../../gen/ts/cforch/v1/lease_pb.js";

export interface Conn {
  lease: Client<typeof LeaseService>;
  eviction: Client<typeof EvictionService>;
  health: Client<typeof Health>;
  close(): void;
}

/** One HTTP/2 connection (its own session manager) with clients for every service. */
export function connect(url: string): Conn {
  const sessionManager = new Http2SessionManager(url);
  const transport = createGrpcTransport({ baseUrl: url, sessionManager });
  return {
    lease: createClient(LeaseService, transport),
    eviction: createClient(EvictionService, transport),
    health: createClient(Health, transport),
    close: () => sessionManager.abort(),
  };
}

export function connectMany(url: string, n: number): Conn[] {
  return Array.from({ length: n }, () => connect(url));
}

export const silentLogger: Logger = pino({ level: "silent" });

export { PriorityClass };

export interface SlotInit {
  service?: string;
  taskType?: string;
  vramMb: number;
  priority?: PriorityClass;
  /** Lease TTL; 0 = the coordinator's default (30 s). Long-held bench leases ask for more. */
  ttlMs?: number;
}

/** TTL for leases the benchmark holds without keep-alive (well past any scenario's length). */
export const LONG_TTL_MS = 600_000;

export function acquireRequest(
  requestId: string,
  holderId: string,
  slot: SlotInit,
): MessageInitShape<typeof AcquireRequestSchema> {
  return {
    requestId,
    holderId,
    ttlMs: slot.ttlMs ?? 0,
    slot: {
      service: slot.service ?? "bench",
      taskType: slot.taskType ?? "bench",
      vramMb: BigInt(slot.vramMb),
      priority: slot.priority ?? PriorityClass.NORMAL,
    },
  };
}

/** Runs an Acquire stream to its end; returns the lease and when GRANTED arrived. */
export async function acquireToEnd(
  conn: Conn,
  req: MessageInitShape<typeof AcquireRequestSchema>,
  opts: { signal?: AbortSignal; onQueued?: () => void } = {},
): Promise<{ lease: Lease; grantedAt: number; queued: number }> {
  let lease: Lease | undefined;
  let grantedAt = 0;
  let queued = 0;
  for await (const res of conn.lease.acquire(req, opts.signal ? { signal: opts.signal } : {})) {
    if (res.event.case === "granted") {
      grantedAt = performance.now();
      lease = res.event.value;
    } else if (res.event.case === "queued") {
      queued++;
      opts.onQueued?.();
    }
  }
  if (!lease) throw new Error(`Acquire ${String(req.requestId)} ended without GRANTED`);
  return { lease, grantedAt, queued };
}

export async function release(conn: Conn, leaseId: string): Promise<boolean> {
  const r = await conn.lease.release({ target: { case: "leaseId", value: leaseId } });
  return r.released;
}

/**
 * Releases every live lease (a scenario's leftovers: e.g. a grant that raced a cancelled
 * stream, which the coordinator keeps until its TTL). The benchmark owns the coordinator.
 */
export async function releaseAll(conn: Conn): Promise<number> {
  const { leases } = await conn.lease.listLeases({});
  for (const l of leases)
    await conn.lease.release({ target: { case: "leaseId", value: l.leaseId } });
  return leases.length;
}
