/**
 * Public types of the scheduling core. Everything here is plain data: the server maps it to and
 * from the protobuf API, the tests compare it, and PersistedState (persist.ts) stores it.
 */

/** Priority classes; higher = more urgent. The proto enum uses the same numbers. */
export const PRIORITY = { batch: 1, low: 2, normal: 3, high: 4, critical: 5 } as const;
export type Priority = 1 | 2 | 3 | 4 | 5;
export type PriorityName = keyof typeof PRIORITY;
/** Classes from most to least urgent: the order in which the queue is served. */
export const PRIORITIES_DESC: readonly Priority[] = [5, 4, 3, 2, 1];

export const PRECISIONS = ["fp16", "bf16", "fp8", "int8", "int4"] as const;
export type Precision = (typeof PRECISIONS)[number];

/** Time source in milliseconds. Injected so the core has no I/O and tests control time. */
export interface Clock {
  now(): number;
}

export interface GpuSpec {
  id: string;
  node: string;
  index?: number;
  name?: string;
  capacityMb: number;
  /** undefined = unknown: a slot with `requires` is never placed on such a GPU. */
  capabilities?: readonly Precision[];
}

export interface SlotSpec {
  service: string;
  taskType: string;
  vramMb: number;
  priority: Priority;
  /** Pin to one GPU. "" is treated as unset (proto3 default). */
  gpuId?: string;
  /** Pin to one node. "" is treated as unset. */
  node?: string;
  /** Every listed precision must be in the GPU's capabilities. */
  requires?: readonly Precision[];
}

export interface AcquireInput {
  requestId: string;
  holderId: string;
  slot: SlotSpec;
  /** undefined or 0 (proto3 default) = the scheduler's defaultTtlMs. */
  ttlMs?: number;
}

export type LeaseState = "active" | "checkpointing" | "paused";

export interface Lease {
  leaseId: string;
  requestId: string;
  holderId: string;
  slot: SlotSpec;
  /** GPU the lease holds memory on; for a paused lease, the GPU it last ran on. */
  gpuId: string;
  vramMb: number;
  state: LeaseState;
  /**
   * Fencing token (epoch): a bigint from one counter that increases on every grant and every
   * resume, so a holder's stale writes can be told apart from the current holder's.
   */
  fencingToken: bigint;
  /** Time of the latest grant or resume (work lost by an eviction is measured from here). */
  grantedAt: number;
  /** Time of the first grant (unchanged by resumes). */
  firstGrantedAt: number;
  expiresAt: number;
  ttlMs: number;
  evictable: boolean;
  /** The holder's own estimate of work a checkpoint would lose, if it gave one. */
  workLostMs?: number;
  pausedAt?: number;
  /** requestId of the preemptor the lease was paused for. */
  pausedBy?: string;
  pauseCount: number;
}

export type WaitReason = "no-gpu-free" | "behind-earlier" | "waiting-for-eviction" | "paused";

export interface QueueEntryView {
  requestId: string;
  holderId: string;
  slot: SlotSpec;
  /** 1-based rank in the global order of service (class, paused first, then arrival). */
  position: number;
  /** Sum of the VRAM of every entry ahead of this one in that order. */
  vramAheadMb: number;
  reason: WaitReason;
  /** Human sentence, e.g. "no GPU has 20480 MiB free (largest free: 8192 MiB on node-a/1)". */
  reasonText: string;
  enqueuedAt: number;
  /** Set when the entry is a paused lease waiting to resume. */
  pausedLeaseId?: string;
}

export interface EvictionView {
  preemptorRequestId: string;
  victimLeaseId: string;
  victimHolderId: string;
  gpuId: string;
  vramMb: number;
  deadline: number;
  startedAt: number;
  state: "requested" | "checkpointed";
}

export interface GpuView {
  spec: GpuSpec;
  /** VRAM of active and checkpointing leases (a checkpointing victim still uses its memory). */
  leasedMb: number;
  /** VRAM held for preemptors of in-flight evictions. */
  reservedMb: number;
  measuredUsedMb: number;
  /**
   * max(0, measured - leased), computed when the measurement arrived, plus the VRAM of leases
   * released or expired on this GPU since then (released memory is reusable once a new
   * measurement shows it free). Always 0 on a GPU never measured.
   */
  unaccountedMb: number;
  /** max(0, capacity - leased - reserved - unaccounted). */
  freeMb: number;
}

/**
 * existing: the requestId was seen before. lease and/or entry say what it is now (a paused lease
 * has both); neither means it already finished (released, cancelled or failed).
 */
export type AcquireResult =
  | { kind: "granted"; lease: Lease }
  | { kind: "queued"; entry: QueueEntryView }
  | { kind: "existing"; lease?: Lease; entry?: QueueEntryView };

export type ReleaseReason = "released" | "expired" | "holder-gone";
export type AbandonReason =
  "refused" | "deadline" | "victim-gone" | "preemptor-gone" | "not-needed";

export type CoreEvent =
  | { type: "queued"; entry: QueueEntryView }
  | { type: "granted"; lease: Lease; waitedMs: number }
  | { type: "released"; lease: Lease; reason: ReleaseReason }
  | { type: "checkpoint-requested"; victim: Lease; preemptorRequestId: string; deadline: number }
  | { type: "paused"; lease: Lease }
  | { type: "resumed"; lease: Lease }
  | {
      type: "eviction-abandoned";
      victimLeaseId: string;
      preemptorRequestId: string;
      reason: AbandonReason;
      detail?: string;
    }
  | {
      type: "request-failed";
      requestId: string;
      code: "not-fittable" | "unknown-gpu";
      message: string;
    }
  | { type: "cancelled"; requestId: string }
  | { type: "paused-dropped"; lease: Lease; reason: "holder-gone" | "expired" | "not-fittable" };

export interface SchedulerOptions {
  clock: Clock;
  gpus: GpuSpec[];
  /** Default 30000. */
  defaultTtlMs?: number;
  /** Default 1000. */
  minTtlMs?: number;
  /** Default 3600000. */
  maxTtlMs?: number;
  /** Default 30000. */
  checkpointDeadlineMs?: number;
  /** Largest accepted vram_mb / capacity. Default 16 TiB = 16777216 MiB. */
  maxVramMb?: number;
  /** How many ended lease ids and request ids to remember (tombstones). Default 10000. */
  releasedMemory?: number;
  /** Lease id generator; default "lease_" + crypto.randomUUID(). Tests inject a counter. */
  newLeaseId?: () => string;
  /** Called when an event listener throws; the core itself carries on. Default: ignore. */
  onListenerError?: (err: unknown, event: CoreEvent) => void;
}

export type ReleaseResult = { released: boolean; lease?: Lease };

/** Result of releaseByRequestId: what the request was when it was ended. */
export type EndResult =
  | { kind: "cancelled" }
  | { kind: "released"; lease: Lease }
  | { kind: "none" /* unknown or already ended */ };
