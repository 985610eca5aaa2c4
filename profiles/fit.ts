/**
 * Quantization fit: which of fp16 / int8 / int4 a model of N billion parameters fits on a GPU,
 * with the estimated memory and the headroom left. A rough, documented estimate for routing,
 * not a promise: real use depends on the runtime, the model's attention layout and fragmentation.
 *
 * Units: GB here means GiB (2^30 bytes), the unit VRAM sizes are quoted in.
 *
 *   requiredGb = (weightsGb + kvCacheGb) × (1 + 0.10) + 1.0
 *
 *   weightsGb  = paramsBillions × 10^9 × bytesPerParam / 2^30
 *                bytesPerParam: fp16 2, int8 1, int4 0.5 (quantization scales are left to the
 *                10 % margin)
 *   kvCacheGb  = kvBytesPerToken × contextLength × batchSize / 2^30
 *                (KV cache kept in fp16 whatever the weight format, as runtimes do by default)
 *   kvBytesPerToken = 128 × L², with L = cbrt(params / 196608) layers:
 *                a decoder has params ≈ 12·L·d² and width d ≈ 128·L (Llama 2/3 7–70B sit at
 *                d/L 100–128), so params ≈ 196608·L³; K and V in fp16 with grouped-query
 *                attention sharing one KV head per 4 query heads take 2 · L · (d/4) · 2 bytes
 *                = L·d = 128·L² bytes per token. (8B → L ≈ 34, 148 KiB/token; Llama 3 8B has
 *                128 KiB. 70B → L ≈ 71, 628 KiB/token; Llama 3 70B has 320 KiB: on the safe side.)
 *   0.10       activations, workspace and allocator fragmentation
 *   1.0        CUDA/ROCm/Metal context, kernels and libraries
 *
 * contextLength defaults to 4096 tokens and batchSize to 1. fits = the precision is usable on
 * the device (hardware or software support, see architectures.ts) and requiredGb ≤ capacity,
 * where capacity is the profile's vramGb unless the caller passes availableGb (e.g. free memory
 * measured by the coordinator, or the GPU share of a Mac's unified memory).
 *
 * Known cases: 8B fp16 at 4k → 18.0 GB (fits 24 GB); 70B int4 at 4k → 39.6 GB (no on 24 GB,
 * yes on 48 GB); 70B fp16 → 147.1 GB (no on 80 GB).
 */
import type { GpuProfile, SupportLevel } from "./types.js";

export const FIT_PRECISIONS = ["fp16", "int8", "int4"] as const;
export type FitPrecision = (typeof FIT_PRECISIONS)[number];

export const BYTES_PER_PARAM: Readonly<Record<FitPrecision, number>> = Object.freeze({
  fp16: 2,
  int8: 1,
  int4: 0.5,
});

export const GIB = 2 ** 30;
export const DEFAULT_CONTEXT_LENGTH = 4096;
export const DEFAULT_BATCH_SIZE = 1;
export const ACTIVATION_OVERHEAD = 0.1;
export const RUNTIME_OVERHEAD_GB = 1;
/** params ≈ 196608 · L³ (12·L·d² with d = 128·L). */
export const PARAMS_PER_LAYER_CUBED = 12 * 128 * 128;
/** KV bytes per token = 128 · L² (fp16, 4 query heads per KV head). */
export const KV_BYTES_PER_LAYER_SQUARED = 128;

export interface FitRequest {
  /** Model size in billions of parameters (8 for an 8B model). */
  readonly paramsBillions: number;
  /** Tokens of context per sequence; default 4096. */
  readonly contextLength?: number;
  /** Concurrent sequences; default 1. */
  readonly batchSize?: number;
  /** Memory to fit into instead of the profile's vramGb (measured free memory). */
  readonly availableGb?: number;
}

export interface MemoryEstimate {
  readonly weightsGb: number;
  readonly kvCacheGb: number;
  readonly requiredGb: number;
}

export interface FitResult extends MemoryEstimate {
  readonly precision: FitPrecision;
  readonly support: SupportLevel;
  /** The device can run this precision at all (hardware or software kernels). */
  readonly supported: boolean;
  readonly capacityGb: number;
  /** capacityGb − requiredGb; negative when it does not fit. */
  readonly headroomGb: number;
  readonly fits: boolean;
}

/** Bad input to the estimate; `field` names the offending field for INVALID_ARGUMENT. */
export class FitInputError extends RangeError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = "FitInputError";
  }
}

// Upper bound keeps absurd inputs (1e300) from producing Infinity downstream.
const MAX_PARAMS_BILLIONS = 1_000_000;
const MAX_CONTEXT = 100_000_000;
const MAX_BATCH = 1_000_000;

function validate(request: FitRequest): Required<Omit<FitRequest, "availableGb">> {
  const { paramsBillions } = request;
  if (
    typeof paramsBillions !== "number" ||
    !Number.isFinite(paramsBillions) ||
    paramsBillions <= 0 ||
    paramsBillions > MAX_PARAMS_BILLIONS
  ) {
    throw new FitInputError("paramsBillions", `must be a number in (0, ${MAX_PARAMS_BILLIONS}]`);
  }
  const contextLength = request.contextLength ?? DEFAULT_CONTEXT_LENGTH;
  if (!Number.isInteger(contextLength) || contextLength < 0 || contextLength > MAX_CONTEXT) {
    throw new FitInputError("contextLength", `must be an integer in [0, ${MAX_CONTEXT}]`);
  }
  const batchSize = request.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) {
    throw new FitInputError("batchSize", `must be an integer in [1, ${MAX_BATCH}]`);
  }
  return { paramsBillions, contextLength, batchSize };
}

/** Estimated decoder layer count for a model size (see the module comment). */
export function estimateLayers(paramsBillions: number): number {
  return Math.cbrt((paramsBillions * 1e9) / PARAMS_PER_LAYER_CUBED);
}

export function kvCacheBytesPerToken(paramsBillions: number): number {
  const layers = estimateLayers(paramsBillions);
  return KV_BYTES_PER_LAYER_SQUARED * layers * layers;
}

export function estimateMemory(
  precision: FitPrecision,
  request: Omit<FitRequest, "availableGb">,
): MemoryEstimate {
  const { paramsBillions, contextLength, batchSize } = validate(request);
  const weightsGb = (paramsBillions * 1e9 * BYTES_PER_PARAM[precision]) / GIB;
  const kvCacheGb = (kvCacheBytesPerToken(paramsBillions) * contextLength * batchSize) / GIB;
  const requiredGb = (weightsGb + kvCacheGb) * (1 + ACTIVATION_OVERHEAD) + RUNTIME_OVERHEAD_GB;
  return { weightsGb, kvCacheGb, requiredGb };
}

export function checkFit(profile: GpuProfile, request: FitRequest): FitResult[] {
  const capacityGb = request.availableGb ?? profile.vramGb;
  if (typeof capacityGb !== "number" || !Number.isFinite(capacityGb) || capacityGb < 0) {
    throw new FitInputError("availableGb", "must be a finite number ≥ 0");
  }
  return FIT_PRECISIONS.map((precision) => {
    const estimate = estimateMemory(precision, request);
    const support = profile.precisionSupport[precision];
    const supported = support !== "none";
    const headroomGb = capacityGb - estimate.requiredGb;
    return {
      precision,
      support,
      supported,
      ...estimate,
      capacityGb,
      headroomGb,
      fits: supported && headroomGb >= 0,
    };
  });
}
