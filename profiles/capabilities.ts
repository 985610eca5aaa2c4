/**
 * Capability questions the coordinator asks when a slot constrains the GPU ("needs bf16",
 * "at least 24 GB", "nvidia only").
 */
import { GPU_PROFILES } from "./data.js";
import type { FormFactor, GpuProfile, Precision, Vendor } from "./types.js";

export interface SupportOptions {
  /**
   * Count software support (weight-only kernels that dequantize to fp16) as support. Off by
   * default: a slot asking for a precision usually wants the hardware to run it.
   */
  readonly allowSoftware?: boolean;
}

export function profileSupports(
  profile: GpuProfile,
  precision: Precision,
  options: SupportOptions = {},
): boolean {
  const level = profile.precisionSupport[precision];
  return level === "hardware" || (options.allowSoftware === true && level === "software");
}

export interface ProfileFilter {
  readonly vendor?: Vendor;
  readonly formFactor?: FormFactor;
  readonly minVramGb?: number;
  /** Every listed precision must be supported in hardware. */
  readonly supports?: readonly Precision[];
}

export function listGpuProfiles(filter: ProfileFilter = {}): GpuProfile[] {
  return GPU_PROFILES.filter(
    (p) =>
      (filter.vendor === undefined || p.vendor === filter.vendor) &&
      (filter.formFactor === undefined || p.formFactor === filter.formFactor) &&
      (filter.minVramGb === undefined || p.vramGb >= filter.minVramGb) &&
      (filter.supports ?? []).every((precision) => profileSupports(p, precision)),
  );
}
