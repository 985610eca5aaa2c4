/**
 * GPU profiles and the quantization-fit query in the client's own shape, from either source:
 * the coordinator's GpuProfileService (it knows the GPUs it manages, by id) or the registry
 * bundled in profiles/ (works offline, by name only). Both answer with the same types.
 */
import { Precision as ProtoPrecision } from "../gen/ts/cforch/v1/common_pb.js";
import type {
  CheckFitResponse,
  GpuProfile as ProtoGpuProfile,
} from "../gen/ts/cforch/v1/profile_pb.js";
import {
  FitInputError,
  checkFit as registryCheckFit,
  findGpuProfile,
  type GpuProfile as RegistryProfile,
} from "../profiles/index.js";
import { CfOrchError, GpuProfileNotFoundError, InvalidSlotError } from "./errors.js";

export interface GpuProfileInfo {
  /** Canonical name, for example "GeForce RTX 4090". */
  readonly name: string;
  readonly vendor: string;
  readonly architecture: string;
  /** Memory in GB as marketed. */
  readonly vramGb: number;
  /** Memory in MiB. */
  readonly vramMb: number;
  readonly fp16: boolean;
  readonly bf16: boolean;
  readonly fp8: boolean;
  readonly int8: boolean;
  readonly int4: boolean;
  readonly maxBatch: number;
  /** NVIDIA compute capability ("8.9"); undefined for other vendors. */
  readonly computeCapability: string | undefined;
  readonly memoryBandwidthGbs: number;
  readonly unifiedMemory: boolean;
  readonly formFactor: string;
  readonly aliases: readonly string[];
  readonly source: string;
}

export type FitPrecisionName = "fp16" | "int8" | "int4";

export interface PrecisionFitInfo {
  readonly precision: FitPrecisionName;
  readonly supported: boolean;
  /** Estimated VRAM needed, in GB. */
  readonly requiredGb: number;
  /** VRAM left over, in GB; negative when it does not fit. */
  readonly headroomGb: number;
  readonly fits: boolean;
}

export interface CheckFitQuery {
  /** A GPU model name ("RTX 4090"). Give exactly one of gpuName / gpuId. */
  readonly gpuName?: string;
  /** A GPU the coordinator manages ("local/0"); needs the coordinator. */
  readonly gpuId?: string;
  /** Model size in billions of parameters. */
  readonly paramsBillions: number;
  /** Context length in tokens; default 4096. */
  readonly contextLength?: number;
}

export interface CheckFitResult {
  readonly profile: GpuProfileInfo;
  /** fp16, int8 and int4, in that order. */
  readonly fits: readonly PrecisionFitInfo[];
  /** The estimate's formula, in words. */
  readonly formula: string;
  /** Who answered: the coordinator, or the registry bundled with the client (offline). */
  readonly source: "coordinator" | "bundled";
}

export const BUNDLED_FIT_FORMULA =
  "requiredGb = (weightsGb + kvCacheGb) × 1.10 + 1.0; weightsGb = params × bytes per param " +
  "(fp16 2, int8 1, int4 0.5) / 2^30; kvCacheGb = 128·L² bytes per token (fp16, L = " +
  "cbrt(params / 196608) layers) × contextLength / 2^30";

export function fromRegistryProfile(p: RegistryProfile): GpuProfileInfo {
  return {
    name: p.name,
    vendor: p.vendor,
    architecture: p.architecture,
    vramGb: p.vramGb,
    vramMb: p.vramMb,
    fp16: p.fp16,
    bf16: p.bf16,
    fp8: p.fp8,
    int8: p.int8,
    int4: p.int4,
    maxBatch: p.maxBatch,
    computeCapability: p.computeCapability,
    memoryBandwidthGbs: p.memoryBandwidthGBs,
    unifiedMemory: p.unifiedMemory,
    formFactor: p.formFactor,
    aliases: [...p.aliases],
    source: p.source,
  };
}

export function fromProtoProfile(p: ProtoGpuProfile): GpuProfileInfo {
  return {
    name: p.name,
    vendor: p.vendor,
    architecture: p.architecture,
    vramGb: p.vramGb,
    vramMb: Number(p.vramMb),
    fp16: p.fp16,
    bf16: p.bf16,
    fp8: p.fp8,
    int8: p.int8,
    int4: p.int4,
    maxBatch: p.maxBatch,
    computeCapability: p.computeCapability || undefined,
    memoryBandwidthGbs: p.memoryBandwidthGbs,
    unifiedMemory: p.unifiedMemory,
    formFactor: p.formFactor,
    aliases: [...p.aliases],
    source: p.source,
  };
}

const FIT_NAMES: Partial<Record<ProtoPrecision, FitPrecisionName>> = {
  [ProtoPrecision.FP16]: "fp16",
  [ProtoPrecision.INT8]: "int8",
  [ProtoPrecision.INT4]: "int4",
};

export function fromProtoFit(response: CheckFitResponse): CheckFitResult {
  if (!response.profile) throw new CfOrchError("CheckFit answer without a profile");
  return {
    profile: fromProtoProfile(response.profile),
    fits: response.fits.flatMap((f) => {
      const precision = FIT_NAMES[f.precision];
      return precision
        ? [
            {
              precision,
              supported: f.supported,
              requiredGb: f.requiredGb,
              headroomGb: f.headroomGb,
              fits: f.fits,
            },
          ]
        : [];
    }),
    formula: response.formula,
    source: "coordinator",
  };
}

/** Resolves a GPU name with the bundled registry (no network). */
export function getGpuProfile(name: string, options: { vramMb?: number } = {}): GpuProfileInfo {
  if (typeof name !== "string" || name.trim().length === 0 || name.length > 128) {
    throw new InvalidSlotError("name", "GPU name must be 1 to 128 characters");
  }
  const found = findGpuProfile(
    name,
    options.vramMb === undefined ? {} : { vramMb: options.vramMb },
  );
  if ("profile" in found) return fromRegistryProfile(found.profile);
  throw new GpuProfileNotFoundError(name, found.suggestions);
}

/** The quantization fit computed with the bundled registry (gpuName only). */
export function checkFitBundled(query: CheckFitQuery): CheckFitResult {
  if (query.gpuName === undefined) {
    throw new InvalidSlotError(
      "gpuName",
      query.gpuId === undefined
        ? "checkFit needs gpuName or gpuId"
        : `gpuId ${query.gpuId} can only be resolved by the coordinator; pass gpuName offline`,
    );
  }
  const found = findGpuProfile(query.gpuName);
  if (!("profile" in found)) throw new GpuProfileNotFoundError(query.gpuName, found.suggestions);
  try {
    const fits = registryCheckFit(found.profile, {
      paramsBillions: query.paramsBillions,
      ...(query.contextLength ? { contextLength: query.contextLength } : {}),
    });
    return {
      profile: fromRegistryProfile(found.profile),
      fits: fits.map((f) => ({
        precision: f.precision,
        supported: f.supported,
        requiredGb: f.requiredGb,
        headroomGb: f.headroomGb,
        fits: f.fits,
      })),
      formula: BUNDLED_FIT_FORMULA,
      source: "bundled",
    };
  } catch (err) {
    if (err instanceof FitInputError)
      throw new InvalidSlotError(err.field, err.message, { cause: err });
    throw err;
  }
}
