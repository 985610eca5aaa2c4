/**
 * Builds a full GpuProfile from the few figures a data entry states; everything derivable
 * (vramMb, precision flags, compute capability, maxBatch) is derived here so entries cannot
 * contradict their architecture or each other.
 */
import { ARCHITECTURES, type ArchitectureKey } from "./architectures.js";
import { maxBatchForVram } from "./max-batch.js";
import type { FormFactor, GpuProfile } from "./types.js";

export interface GpuEntry {
  readonly name: string;
  readonly arch: ArchitectureKey;
  readonly vramGb: number;
  readonly memoryBandwidthGBs: number;
  readonly formFactor: FormFactor;
  readonly source: string;
  readonly aliases?: readonly string[];
  readonly notes?: string;
  readonly unifiedMemory?: boolean;
  readonly devicesPerPackage?: number;
  /** Only where a part differs from its architecture's usual compute capability. */
  readonly computeCapability?: string;
}

export function defineGpu(entry: GpuEntry): GpuProfile {
  const arch = ARCHITECTURES[entry.arch];
  const s = arch.support;
  const computeCapability =
    entry.computeCapability ?? ("computeCapability" in arch ? arch.computeCapability : undefined);
  const profile: GpuProfile = {
    name: entry.name,
    vendor: arch.vendor,
    architecture: arch.name,
    vramGb: entry.vramGb,
    vramMb: Math.round(entry.vramGb * 1024),
    fp16: s.fp16 === "hardware",
    bf16: s.bf16 === "hardware",
    fp8: s.fp8 === "hardware",
    int8: s.int8 === "hardware",
    int4: s.int4 === "hardware",
    precisionSupport: s,
    maxBatch: maxBatchForVram(entry.vramGb),
    ...(computeCapability !== undefined ? { computeCapability } : {}),
    memoryBandwidthGBs: entry.memoryBandwidthGBs,
    unifiedMemory: entry.unifiedMemory ?? arch.vendor === "apple",
    formFactor: entry.formFactor,
    devicesPerPackage: entry.devicesPerPackage ?? 1,
    aliases: Object.freeze([...(entry.aliases ?? [])]),
    source: entry.source,
    ...(entry.notes !== undefined ? { notes: entry.notes } : {}),
  };
  return Object.freeze(profile);
}
