/**
 * The unary LeaseService calls behind a held lease, with their answers reduced to what the
 * client acts on: renewed or gone (NOT_FOUND, or a lease already released/expired), released.
 */
import { create } from "@bufbuild/protobuf";
import { Code, type Client } from "@connectrpc/connect";
import {
  LeaseState,
  ReleaseRequestSchema,
  type LeaseService,
} from "../gen/ts/cforch/v1/lease_pb.js";
import type { RenewOutcome } from "./keep-alive.js";
import { rpcCode } from "./rpc-errors.js";

export const RPC_TIMEOUT_MS = 5_000;

type LeaseClient = Client<typeof LeaseService>;

/**
 * One renewal. A paused lease is kept alive by the eviction session (the coordinator drops it
 * when the session ends), so for it this only checks that it still exists.
 */
export async function renewLease(
  client: LeaseClient,
  leaseId: string,
  paused: boolean,
  options: { timeoutMs: number; signal: AbortSignal },
): Promise<RenewOutcome> {
  try {
    const lease = paused
      ? (await client.getLease({ leaseId }, options)).lease
      : (await client.keepAlive({ leaseId }, options)).lease;
    const state = lease?.state;
    return state === LeaseState.RELEASED || state === LeaseState.EXPIRED ? "gone" : "renewed";
  } catch (err) {
    if (rpcCode(err) === Code.NotFound) return "gone";
    throw err;
  }
}

/** Releases a lease; an id the coordinator no longer knows counts as released. */
export async function releaseLease(client: LeaseClient, leaseId: string): Promise<void> {
  try {
    await client.release(
      create(ReleaseRequestSchema, { target: { case: "leaseId", value: leaseId } }),
      { timeoutMs: RPC_TIMEOUT_MS },
    );
  } catch (err) {
    if (rpcCode(err) === Code.NotFound) return;
    throw err;
  }
}

/** Withdraws a waiting request (or releases what it was granted) by its request id. */
export async function withdrawRequest(client: LeaseClient, requestId: string): Promise<void> {
  await client.release(
    create(ReleaseRequestSchema, { target: { case: "requestId", value: requestId } }),
    { timeoutMs: RPC_TIMEOUT_MS },
  );
}
