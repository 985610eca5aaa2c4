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
import { sleep } from "./backoff.js";
import { classifyFailure, rpcCode } from "./rpc-errors.js";

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

export type WithdrawOutcome =
  /** The coordinator withdrew the waiting request, or released the lease it had become. */
  | "withdrawn"
  /** Nothing to do: it had already ended, or never reached the coordinator (NOT_FOUND). */
  | "nothing"
  /** The coordinator could not be reached: a lease granted in the meantime expires by TTL. */
  | "unreachable";

/** Attempts of a withdrawal whose call fails transiently (connection broken, UNAVAILABLE). */
export const WITHDRAW_ATTEMPTS = 3;

/**
 * The caller gave up waiting (abort, timeout, close): Release by request id, which withdraws
 * the request from the queue, or releases the lease if its GRANTED crossed the cancel. The
 * coordinator also does this itself when an Acquire stream is cancelled; this covers a cancel
 * during a retry back-off (no stream open) and a grant already delivered when the stream broke.
 * Transient failures are retried a few times (`delayMs`, doubling), within one RPC timeout in
 * all; NOT_FOUND means the request never reached the coordinator, which is as good as withdrawn.
 */
export async function withdrawRequest(
  client: LeaseClient,
  requestId: string,
  options: { delayMs: number; attempts?: number } = { delayMs: 100 },
): Promise<WithdrawOutcome> {
  const attempts = options.attempts ?? WITHDRAW_ATTEMPTS;
  // All attempts together take at most one RPC timeout (close() waits for them).
  const deadline = Date.now() + RPC_TIMEOUT_MS;
  let delay = options.delayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await client.release(
        create(ReleaseRequestSchema, { target: { case: "requestId", value: requestId } }),
        { timeoutMs: Math.max(1, deadline - Date.now()) },
      );
      return r.released ? "withdrawn" : "nothing";
    } catch (err) {
      if (rpcCode(err) === Code.NotFound) return "nothing";
      if (classifyFailure(err).kind === "fatal") throw err;
      if (attempt >= attempts || Date.now() + delay >= deadline) return "unreachable";
      await sleep(delay);
      delay *= 2;
    }
  }
}
