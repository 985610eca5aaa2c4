/**
 * Shared types of the GPU profile registry. Pure data: the coordinator and the TypeScript
 * client both import these, and the client uses them offline.
 */

export type Vendor = "nvidia" | "amd" | "apple" | "intel";

export type FormFactor = "desktop" | "laptop" | "datacenter" | "workstation" | "soc";

/** The numeric formats a slot may ask for and the registry reports on. */
export type Precision = "fp16" | "bf16" | "fp8" | "int8" | "int4";

export const PRECISIONS: readonly Precision[] = ["fp16", "bf16", "fp8", "int8", "int4"];

/**
 * How a device runs a precision:
 * - "hardware": native arithmetic for it (tensor/matrix cores or packed dot instructions) as
 *   the vendor documents it;
 * - "software": no native math, but the mainstream inference runtimes (llama.cpp, vLLM/Marlin,
 *   MLX, bitsandbytes) store weights in it and dequantize to fp16 in their kernels, so a model
 *   quantized to it runs and takes that little memory;
 * - "none": not usable in practice (runtimes fall back to another format instead).
 */
export type SupportLevel = "hardware" | "software" | "none";

export interface GpuProfile {
  /** Canonical name, without the company prefix ("GeForce RTX 4090", "H100 SXM", "M2 Max"). */
  readonly name: string;
  readonly vendor: Vendor;
  /** Microarchitecture as the vendor names it ("Ada Lovelace", "CDNA 3", "Apple M2"). */
  readonly architecture: string;
  /**
   * Memory of one device as the driver exposes it, in marketing GB (which are GiB for VRAM).
   * Multi-die packages that appear as several devices (MI250X: 2 GCDs) list one device; see
   * devicesPerPackage. Apple parts list the largest unified-memory configuration.
   */
  readonly vramGb: number;
  /** vramGb × 1024, the unit nvidia-smi's memory.total uses (MiB). */
  readonly vramMb: number;
  /** Native (hardware) support of each precision; the detail is in precisionSupport. */
  readonly fp16: boolean;
  readonly bf16: boolean;
  readonly fp8: boolean;
  readonly int8: boolean;
  readonly int4: boolean;
  readonly precisionSupport: Readonly<Record<Precision, SupportLevel>>;
  /** Concurrency cap suggested to the scheduler; see max-batch.ts for the rule. */
  readonly maxBatch: number;
  /** CUDA compute capability ("8.9"); NVIDIA only. */
  readonly computeCapability?: string;
  /** Peak memory bandwidth of one device in GB/s (10^9 bytes/s), as the spec sheet gives it. */
  readonly memoryBandwidthGBs: number;
  /** CPU and GPU share one memory pool (Apple silicon, MI300A). */
  readonly unifiedMemory: boolean;
  readonly formFactor: FormFactor;
  /** How many devices one package/board exposes (MI250X: 2, A16: 4); 1 for most parts. */
  readonly devicesPerPackage: number;
  /** Extra spellings that resolve to this profile, besides the forms normalisation covers. */
  readonly aliases: readonly string[];
  /** Where the figures come from: vendor spec sheet URL or document name. */
  readonly source: string;
  /** Caveats about the figures (variants, "up to" bandwidth, uncertain capability). */
  readonly notes?: string;
}
