/**
 * The durable part of the scheduler's state (PRODUCT.md §8: a restart must not double-book VRAM).
 *
 * JSON-safe on purpose (fencing tokens as decimal strings, no bigint, no Map) so any embedded
 * store can keep it as one document. What is kept: GPUs, leases (active and paused, with ids,
 * GPUs, fencing tokens, evictable registrations), the fencing counter, and tombstones so release
 * and acquire stay idempotent across a restart. What is not: waiting requests (their callers
 * reconnect and retry with the same request id), in-flight evictions (a checkpointing victim is
 * restored as active: it still holds its memory), and measured usage (agents report it again).
 */
import { CoreError } from "./errors.js";
import type { GpuSpec, SlotSpec } from "./types.js";

export interface PersistedLease {
  leaseId: string;
  requestId: string;
  holderId: string;
  slot: SlotSpec;
  gpuId: string;
  vramMb: number;
  state: "active" | "paused";
  fencingToken: string;
  grantedAt: number;
  firstGrantedAt: number;
  ttlMs: number;
  evictable: boolean;
  workLostMs?: number;
  pausedAt?: number;
  pausedBy?: string;
  pauseCount: number;
}

export interface PersistedState {
  version: 1;
  exportedAt: number;
  fencingCounter: string;
  gpus: GpuSpec[];
  /** Active leases first, then paused ones in their order of service. */
  leases: PersistedLease[];
  releasedLeaseIds: string[];
  endedRequestIds: string[];
}

export function checkPersisted(state: unknown): PersistedState {
  const s = state as Partial<PersistedState> | null;
  if (
    typeof s !== "object" ||
    s === null ||
    s.version !== 1 ||
    typeof s.fencingCounter !== "string" ||
    !/^\d+$/.test(s.fencingCounter) ||
    !Array.isArray(s.gpus) ||
    !Array.isArray(s.leases) ||
    !Array.isArray(s.releasedLeaseIds) ||
    !Array.isArray(s.endedRequestIds)
  )
    throw new CoreError("invalid-argument", "not a version 1 scheduler state", "state");
  return s as PersistedState;
}
