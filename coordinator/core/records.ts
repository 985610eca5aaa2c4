/**
 * Internal, mutable records of the scheduler. Never handed out: callers get the immutable views
 * built by leaseView() and the scheduler, so nothing outside the core can change its state behind its back.
 */
import type { GpuState, Signature } from "./gpu-inventory.js";
import type { Lease, LeaseState, Priority, QueueEntryView, SlotSpec } from "./types.js";
import type { QueueItem, QueueLinks } from "./wait-queue.js";

export interface LeaseRec {
  readonly leaseId: string;
  readonly requestId: string;
  readonly holderId: string;
  readonly slot: SlotSpec;
  readonly cls: Priority;
  readonly vramMb: number;
  readonly ttlMs: number;
  /** GPU holding its memory; for a paused lease, the last one it ran on. */
  gpu: GpuState;
  state: LeaseState;
  fencingToken: bigint;
  grantedAt: number;
  firstGrantedAt: number;
  expiresAt: number;
  evictable: boolean;
  workLostMs?: number;
  pausedAt?: number;
  pausedBy?: string;
  pauseCount: number;
  /** While paused: its place in the wait queue. */
  waiting?: WaitEntry;
  /** While checkpointing: the eviction asking it to step aside. */
  eviction?: EvictionRec;
}

export interface WaitEntry extends QueueItem {
  readonly requestId: string;
  readonly holderId: string;
  readonly slot: SlotSpec;
  readonly ttlMs: number;
  readonly enqueuedAt: number;
  sig: Signature;
  readonly links: QueueLinks;
  /** Set when this entry is a paused lease waiting to resume. */
  readonly paused?: LeaseRec;
  /** In-flight eviction on its behalf. */
  plan?: Plan;
  /** Victims that refused, missed the deadline or went away: never asked again for this entry. */
  excluded?: Set<string>;
  /** Last view emitted (or returned) for this entry. */
  view?: QueueEntryView;
  /** Flush number at which the view was last recomputed (dedupes work within one flush). */
  viewStamp: number;
}

/** An eviction plan: memory on one GPU being gathered for one preemptor. */
export interface Plan {
  readonly preemptor: WaitEntry;
  readonly gpu: GpuState;
  readonly needMb: number;
  /** Memory already held for the preemptor (free memory taken plus victims' freed memory). */
  reservedMb: number;
  /** Victims asked to checkpoint that have not answered yet, by lease id. */
  readonly pending: Map<string, EvictionRec>;
  /** Victims that checkpointed for this plan (kept for visibility until the plan ends). */
  readonly done: EvictionRec[];
}

export interface EvictionRec {
  readonly plan: Plan;
  readonly victim: LeaseRec;
  readonly vramMb: number;
  readonly startedAt: number;
  readonly deadline: number;
  state: "requested" | "checkpointed";
}

/** Memory a plan can count on: what it holds plus what its pending victims will free. */
export function coverage(plan: Plan): number {
  let sum = plan.reservedMb;
  for (const ev of plan.pending.values()) sum += ev.vramMb;
  return sum;
}

export function leaseView(r: LeaseRec): Lease {
  const l: Lease = {
    leaseId: r.leaseId,
    requestId: r.requestId,
    holderId: r.holderId,
    slot: r.slot,
    gpuId: r.gpu.id,
    vramMb: r.vramMb,
    state: r.state,
    fencingToken: r.fencingToken,
    grantedAt: r.grantedAt,
    firstGrantedAt: r.firstGrantedAt,
    expiresAt: r.expiresAt,
    ttlMs: r.ttlMs,
    evictable: r.evictable,
    pauseCount: r.pauseCount,
  };
  if (r.workLostMs !== undefined) l.workLostMs = r.workLostMs;
  if (r.pausedAt !== undefined) l.pausedAt = r.pausedAt;
  if (r.pausedBy !== undefined) l.pausedBy = r.pausedBy;
  return l;
}
