/**
 * GPU profile registry (PRODUCT.md §4): pure data and functions, no I/O, shared by the
 * coordinator (enrichment, capability constraints, GpuProfileService) and the client (offline).
 */
export type { FormFactor, GpuProfile, Precision, SupportLevel, Vendor } from "./types.js";
export { PRECISIONS } from "./types.js";
export { GPU_PROFILES } from "./data.js";
export {
  findGpuProfile,
  resolveGpuProfile,
  MAX_SUGGESTIONS,
  type FindResult,
  type ResolveOptions,
} from "./resolve.js";
export {
  checkFit,
  estimateMemory,
  FitInputError,
  FIT_PRECISIONS,
  type FitPrecision,
  type FitRequest,
  type FitResult,
  type MemoryEstimate,
} from "./fit.js";
export {
  listGpuProfiles,
  profileSupports,
  type ProfileFilter,
  type SupportOptions,
} from "./capabilities.js";
export { maxBatchForVram } from "./max-batch.js";
export { formatProfile, formatProfilesTable } from "./format.js";
