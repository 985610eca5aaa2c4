/** Public types shared by the client modules. */
import type { PriorityName } from "./vram-slot.js";

/** "coordinated": leases come from the coordinator. "local": it is unreachable; leases run one at a time in this process. */
export type CoordinatorMode = "coordinated" | "local";

export type WaitReasonName =
  | "no_gpu_free"
  | "behind_earlier"
  | "waiting_for_eviction"
  | "paused"
  /** Waiting for the local (fallback-mode) mutex. */
  | "local"
  | "unspecified";

/** Progress of a waiting request. */
export interface QueueUpdate {
  readonly mode: CoordinatorMode;
  readonly requestId: string;
  /** 1-based position in the order of service. */
  readonly position: number;
  /** VRAM requested by requests ahead of it, in MiB (0 in local mode). */
  readonly vramAheadMb: number;
  readonly reason: WaitReasonName;
  readonly reasonText: string;
}

/** Who asked a lease to checkpoint. */
export interface PreemptionInfo {
  readonly preemptorRequestId: string;
  readonly preemptorService: string;
  readonly preemptorPriority: PriorityName | "unspecified";
  /** Answer before this time, or the coordinator gives up on this lease. */
  readonly deadline: Date | undefined;
}

export interface ResumeInfo {
  readonly gpuId: string;
  readonly previousGpuId: string;
  readonly fencingToken: bigint;
}
