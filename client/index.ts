/**
 * cf-orch TypeScript client (PRODUCT.md §5): lease VRAM from the coordinator before touching a
 * GPU, with keep-alive, cooperative eviction callbacks and a local sequential fallback.
 */
export { ResourceCoordinator } from "./resource-coordinator.js";
export type { CoordinatorEvents, LeaseOptions, LeaseRequest } from "./resource-coordinator.js";
export { VRAMSlot, gbToMb, MAX_VRAM_MB } from "./vram-slot.js";
export type { PrecisionName, PriorityName, VRAMSlotInit } from "./vram-slot.js";
export { Lease } from "./lease.js";
export type { LeaseCallbacks, LeaseEvents, LeaseState } from "./lease.js";
export type {
  CoordinatorMode,
  PreemptionInfo,
  QueueUpdate,
  ResumeInfo,
  WaitReasonName,
} from "./types.js";
export type { ResourceCoordinatorOptions } from "./options.js";
export { DEFAULT_URL } from "./options.js";
export { renewIntervalMs } from "./keep-alive.js";
export { getGpuProfile } from "./gpu-profiles.js";
export type {
  CheckFitQuery,
  CheckFitResult,
  FitPrecisionName,
  GpuProfileInfo,
  PrecisionFitInfo,
} from "./gpu-profiles.js";
export {
  CancelledError,
  CfOrchError,
  CoordinatorUnavailableError,
  GpuProfileNotFoundError,
  InvalidOptionError,
  InvalidSlotError,
  LeaseLostError,
  NotFittableError,
} from "./errors.js";
export type { LeaseLostReason } from "./errors.js";
