/**
 * One Acquire, from first attempt to GRANTED, across coordinator restarts.
 *
 * Every attempt carries the same client-generated request id, which the coordinator treats as
 * an idempotency key: after a restart (the stream breaks, or the server answers UNAVAILABLE),
 * re-sending it re-attaches to the same waiting request or returns the same lease, never a
 * second one. Retries back off (100 ms → 2 s by default) for at most `reconnectWindowMs` without
 * hearing from the coordinator.
 *
 * A connection that cannot even be opened on the first attempt is different: the coordinator
 * is not there, and the caller should fall back at once (or fail fast) instead of retrying.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  AcquireRequestSchema,
  WaitReason,
  type LeaseService,
  type Lease as ProtoLease,
  type QueueStatus,
} from "../gen/ts/cforch/v1/lease_pb.js";
import { Backoff, sleep, type BackoffOptions } from "./backoff.js";
import { CoordinatorUnavailableError } from "./errors.js";
import { classifyFailure, toTypedError } from "./rpc-errors.js";
import type { QueueUpdate, WaitReasonName } from "./types.js";
import type { VRAMSlot } from "./vram-slot.js";

export interface AcquireCall {
  readonly requestId: string;
  readonly slot: VRAMSlot;
  /** 0: the coordinator's default. */
  readonly ttlMs: number;
  readonly holderId: string;
}

export interface AcquireDeps {
  readonly client: Client<typeof LeaseService>;
  readonly url: string;
  readonly logger: Logger;
  readonly retry: BackoffOptions;
  readonly reconnectWindowMs: number;
}

export interface AcquireHooks {
  /** Aborted by the caller (its reason, a CancelledError, is thrown as is). */
  readonly signal: AbortSignal;
  readonly onQueued?: (update: QueueUpdate) => void;
  /** The coordinator answered for the first time (headers or a message). */
  readonly onContact?: () => void;
}

const REASONS: Readonly<Record<WaitReason, WaitReasonName>> = {
  [WaitReason.UNSPECIFIED]: "unspecified",
  [WaitReason.NO_GPU_FREE]: "no_gpu_free",
  [WaitReason.BEHIND_EARLIER]: "behind_earlier",
  [WaitReason.WAITING_FOR_EVICTION]: "waiting_for_eviction",
  [WaitReason.PAUSED]: "paused",
};

export function toQueueUpdate(status: QueueStatus, requestId: string): QueueUpdate {
  return {
    mode: "coordinated",
    requestId: status.requestId || requestId,
    position: status.position,
    vramAheadMb: Number(status.vramAheadMb),
    reason: REASONS[status.reason] ?? "unspecified",
    reasonText: status.reasonText,
  };
}

/**
 * Resolves with the granted lease. Rejects with the signal's reason when aborted,
 * CoordinatorUnavailableError when the coordinator cannot be reached, or a typed error
 * (NotFittableError, InvalidSlotError, CfOrchError) for a definitive answer.
 */
export async function acquireLease(
  deps: AcquireDeps,
  call: AcquireCall,
  hooks: AcquireHooks,
): Promise<ProtoLease> {
  const request = create(AcquireRequestSchema, {
    requestId: call.requestId,
    slot: call.slot.toProto(),
    ttlMs: call.ttlMs,
    holderId: call.holderId,
  });
  const backoff = new Backoff(deps.retry);
  let contacted = false;
  let silentSince: number | undefined;
  // Headers prove the coordinator is there, but only a message proves it is serving: a server
  // that keeps answering UNAVAILABLE must not keep the retry window open forever.
  const contact = (): void => {
    if (contacted) return;
    contacted = true;
    hooks.onContact?.();
  };

  for (let attempt = 1; ; attempt++) {
    try {
      const stream = deps.client.acquire(request, { signal: hooks.signal, onHeader: contact });
      for await (const response of stream) {
        contact();
        silentSince = undefined;
        backoff.reset();
        const event = response.event;
        if (event.case === "queued") {
          hooks.onQueued?.(toQueueUpdate(event.value, call.requestId));
        } else if (event.case === "granted") {
          return event.value;
        }
      }
      throw new ConnectError("Acquire stream ended without GRANTED", Code.Unavailable);
    } catch (err) {
      if (hooks.signal.aborted) throw hooks.signal.reason;
      const failure = classifyFailure(err);
      if (failure.kind === "fatal") throw toTypedError(err, "acquire");
      if (failure.kind === "connect" && !contacted) {
        throw new CoordinatorUnavailableError(deps.url, err);
      }
      silentSince ??= Date.now();
      if (Date.now() - silentSince > deps.reconnectWindowMs) {
        throw new CoordinatorUnavailableError(deps.url, err);
      }
      const delay = backoff.nextDelay();
      deps.logger[attempt === 1 ? "info" : "debug"](
        { requestId: call.requestId, attempt, delayMs: delay, err: failure.message },
        "cf-orch Acquire interrupted; retrying with the same request id",
      );
      await sleep(delay, hooks.signal);
    }
  }
}
