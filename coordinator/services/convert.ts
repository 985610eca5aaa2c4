/**
 * Translation between the core's plain data and the protobuf messages. No logic beyond
 * renaming, unit conversion (numbers ↔ uint64 bigints, epoch ms ↔ Timestamp) and enum mapping.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import type {
  EvictionView,
  GpuView,
  Lease,
  Precision,
  QueueEntryView,
  SlotSpec,
} from "../core/index.js";
import type { GpuProfile } from "../../profiles/index.js";
import {
  Precision as PbPrecision,
  PriorityClass,
  SlotSchema,
  type Slot,
} from "../../gen/ts/cforch/v1/common_pb.js";
import {
  LeaseSchema,
  LeaseState,
  QueueStatusSchema,
  WaitReason,
  type Lease as PbLease,
  type QueueStatus,
} from "../../gen/ts/cforch/v1/lease_pb.js";
import {
  EvictionSchema,
  EvictionState,
  GpuStatusSchema,
  QueuedRequestSchema,
  type Eviction,
  type GpuStatus,
  type QueuedRequest,
} from "../../gen/ts/cforch/v1/cluster_pb.js";
import {
  GpuProfileSchema,
  type GpuProfile as PbGpuProfile,
} from "../../gen/ts/cforch/v1/profile_pb.js";

export const ts = (ms: number): Timestamp => timestampFromMs(Math.round(ms));

export const PRECISION_TO_PB: Record<Precision, PbPrecision> = {
  fp16: PbPrecision.FP16,
  bf16: PbPrecision.BF16,
  fp8: PbPrecision.FP8,
  int8: PbPrecision.INT8,
  int4: PbPrecision.INT4,
};

export const PB_TO_PRECISION: Partial<Record<number, Precision>> = {
  [PbPrecision.FP16]: "fp16",
  [PbPrecision.BF16]: "bf16",
  [PbPrecision.FP8]: "fp8",
  [PbPrecision.INT8]: "int8",
  [PbPrecision.INT4]: "int4",
};

export const PRIORITY_NAMES: Record<number, string> = {
  1: "batch",
  2: "low",
  3: "normal",
  4: "high",
  5: "critical",
};

export function slotToPb(slot: SlotSpec): Slot {
  return create(SlotSchema, {
    service: slot.service,
    taskType: slot.taskType,
    vramMb: BigInt(slot.vramMb),
    priority: slot.priority as number as PriorityClass,
    constraints: {
      gpuId: slot.gpuId ?? "",
      node: slot.node ?? "",
      requires: (slot.requires ?? []).map((p) => PRECISION_TO_PB[p]),
    },
  });
}

const LEASE_STATE: Record<Lease["state"], LeaseState> = {
  active: LeaseState.ACTIVE,
  checkpointing: LeaseState.CHECKPOINTING,
  paused: LeaseState.PAUSED,
};

/** `nodeOf` maps a GPU id to its node (the core's lease has only the GPU id). */
export function leaseToPb(
  lease: Lease,
  nodeOf: (gpuId: string) => string,
  state?: LeaseState,
): PbLease {
  return create(LeaseSchema, {
    leaseId: lease.leaseId,
    requestId: lease.requestId,
    slot: slotToPb(lease.slot),
    gpuId: lease.gpuId,
    node: nodeOf(lease.gpuId),
    vramMb: BigInt(lease.vramMb),
    state: state ?? LEASE_STATE[lease.state],
    fencingToken: BigInt(lease.fencingToken),
    grantedAt: ts(lease.grantedAt),
    expiresAt: ts(lease.expiresAt),
    ttlMs: lease.ttlMs,
    holderId: lease.holderId,
    evictable: lease.evictable,
    pauseCount: lease.pauseCount,
    pausedAt: lease.pausedAt !== undefined ? ts(lease.pausedAt) : undefined,
    pausedByRequestId: lease.pausedBy ?? "",
  });
}

const WAIT_REASON: Record<QueueEntryView["reason"], WaitReason> = {
  "no-gpu-free": WaitReason.NO_GPU_FREE,
  "behind-earlier": WaitReason.BEHIND_EARLIER,
  "waiting-for-eviction": WaitReason.WAITING_FOR_EVICTION,
  paused: WaitReason.PAUSED,
};

export function queueStatusToPb(entry: QueueEntryView): QueueStatus {
  return create(QueueStatusSchema, {
    position: entry.position,
    vramAheadMb: BigInt(entry.vramAheadMb),
    reason: WAIT_REASON[entry.reason],
    reasonText: entry.reasonText,
    requestId: entry.requestId,
    enqueuedAt: ts(entry.enqueuedAt),
  });
}

export function queuedRequestToPb(entry: QueueEntryView): QueuedRequest {
  return create(QueuedRequestSchema, {
    status: queueStatusToPb(entry),
    slot: slotToPb(entry.slot),
    holderId: entry.holderId,
    pausedLeaseId: entry.pausedLeaseId ?? "",
  });
}

export function evictionToPb(e: EvictionView): Eviction {
  return create(EvictionSchema, {
    preemptorRequestId: e.preemptorRequestId,
    victimLeaseId: e.victimLeaseId,
    victimHolderId: e.victimHolderId,
    gpuId: e.gpuId,
    vramMb: BigInt(e.vramMb),
    startedAt: ts(e.startedAt),
    deadline: ts(e.deadline),
    state: e.state === "requested" ? EvictionState.REQUESTED : EvictionState.CHECKPOINTED,
  });
}

export function profileToPb(p: GpuProfile): PbGpuProfile {
  return create(GpuProfileSchema, {
    name: p.name,
    vendor: p.vendor,
    architecture: p.architecture,
    vramGb: p.vramGb,
    vramMb: BigInt(Math.round(p.vramMb)),
    fp16: p.fp16,
    bf16: p.bf16,
    int8: p.int8,
    int4: p.int4,
    fp8: p.fp8,
    maxBatch: p.maxBatch,
    computeCapability: p.computeCapability ?? "",
    memoryBandwidthGbs: p.memoryBandwidthGBs,
    unifiedMemory: p.unifiedMemory,
    formFactor: p.formFactor,
    aliases: [...p.aliases],
    source: p.source,
  });
}

/** Extra facts about a GPU that the core does not keep. */
export interface GpuInfoExtra {
  index: number;
  name: string;
  uuid: string;
  profile?: GpuProfile;
}

export function gpuStatusToPb(g: GpuView, extra: GpuInfoExtra | undefined): GpuStatus {
  return create(GpuStatusSchema, {
    gpuId: g.spec.id,
    node: g.spec.node,
    index: extra?.index ?? g.spec.index ?? 0,
    name: extra?.name ?? g.spec.name ?? "",
    uuid: extra?.uuid ?? "",
    capacityMb: BigInt(g.spec.capacityMb),
    leasedMb: BigInt(g.leasedMb),
    reservedMb: BigInt(g.reservedMb),
    measuredMb: BigInt(g.measuredUsedMb),
    unaccountedMb: BigInt(g.unaccountedMb),
    freeMb: BigInt(g.freeMb),
    profile: extra?.profile ? profileToPb(extra.profile) : undefined,
  });
}
