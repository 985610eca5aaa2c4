/**
 * Precision support per (micro)architecture. Every profile takes its precision flags from its
 * architecture here, so two parts of one architecture can never disagree.
 *
 * Rules (what "hardware" means, per vendor documentation):
 * - fp16: native on every architecture listed. Consumer Pascal (GP102–GP107, sm_61) runs FP16
 *   at 1/64 of its FP32 rate: supported, but slow; GP100 (P100) runs it at twice FP32.
 * - bf16: NVIDIA Ampere and later (compute capability ≥ 8.0); AMD CDNA 1 and later (MI100's
 *   matrix cores already do bf16, a step earlier than the usual "CDNA 2+" shorthand), RDNA 3+
 *   (WMMA); Intel Xe-HPG XMX; Apple M2 and later (Apple8+ GPU family; M1 emulates it).
 * - fp8: NVIDIA Ada and Hopper and later (compute capability ≥ 8.9); AMD CDNA 3+ and RDNA 4.
 * - int8: NVIDIA sm_61+ (DP4A; Turing+ also tensor cores), so not GP100; AMD matrix cores
 *   (CDNA) or packed dot instructions (RDNA 2+); Intel XMX. Elsewhere (P100, Apple GPUs)
 *   int8 weights run through software kernels.
 * - int4: hardware only where the vendor documents int4 tensor/matrix math: NVIDIA Turing (with
 *   tensor cores), Ampere, Ada. Hopper and Blackwell dropped int4 tensor-core math (their spec
 *   sheets list FP8/FP4/INT8 but no INT4), AMD CDNA 3+ dropped int4 MFMA, and Pascal, Volta,
 *   GTX 16 (no tensor cores) and Apple never had it: there int4 is "software" — GPTQ/AWQ/GGUF
 *   weight-only kernels dequantize to fp16, which is how int4 LLMs run on them in practice.
 *   AMD CDNA 1/2 list INT4 TOPS; RDNA 2 has v_dot8_i32_i4; RDNA 3/4 WMMA has iu4; Intel XMX
 *   lists INT4.
 * - bf16 and fp8 have no "software" level: without hardware, runtimes use fp16 instead.
 */
import type { Precision, SupportLevel, Vendor } from "./types.js";

export interface Architecture {
  readonly vendor: Vendor;
  /** Display name as the vendor uses it. */
  readonly name: string;
  /** NVIDIA compute capability shared by every part of this architecture key. */
  readonly computeCapability?: string;
  readonly support: Readonly<Record<Precision, SupportLevel>>;
  readonly source: string;
}

const H = "hardware";
const S = "software";
const N = "none";

function support(
  fp16: SupportLevel,
  bf16: SupportLevel,
  fp8: SupportLevel,
  int8: SupportLevel,
  int4: SupportLevel,
): Readonly<Record<Precision, SupportLevel>> {
  return Object.freeze({ fp16, bf16, fp8, int8, int4 });
}

const CUDA_GUIDE = "CUDA C++ Programming Guide, compute capabilities; PTX ISA (mma/dp4a types)";

export const ARCHITECTURES = {
  "pascal-gp100": {
    vendor: "nvidia",
    name: "Pascal",
    computeCapability: "6.0",
    support: support(H, N, N, S, S),
    source: `NVIDIA Tesla P100 whitepaper; ${CUDA_GUIDE}`,
  },
  pascal: {
    vendor: "nvidia",
    name: "Pascal",
    computeCapability: "6.1",
    support: support(H, N, N, H, S),
    source: `NVIDIA GeForce GTX 1080 whitepaper (DP4A); ${CUDA_GUIDE}`,
  },
  volta: {
    vendor: "nvidia",
    name: "Volta",
    computeCapability: "7.0",
    support: support(H, N, N, H, S),
    source: `NVIDIA Tesla V100 GPU architecture whitepaper; ${CUDA_GUIDE}`,
  },
  "turing-no-tensor": {
    vendor: "nvidia",
    name: "Turing",
    computeCapability: "7.5",
    support: support(H, N, N, H, S),
    source: `NVIDIA GeForce GTX 16 series (TU116/TU117, no tensor cores); ${CUDA_GUIDE}`,
  },
  turing: {
    vendor: "nvidia",
    name: "Turing",
    computeCapability: "7.5",
    support: support(H, N, N, H, H),
    source: `NVIDIA Turing GPU architecture whitepaper (INT8/INT4 tensor cores); ${CUDA_GUIDE}`,
  },
  "ampere-ga100": {
    vendor: "nvidia",
    name: "Ampere",
    computeCapability: "8.0",
    support: support(H, H, N, H, H),
    source: `NVIDIA A100 Tensor Core GPU architecture whitepaper; ${CUDA_GUIDE}`,
  },
  ampere: {
    vendor: "nvidia",
    name: "Ampere",
    computeCapability: "8.6",
    support: support(H, H, N, H, H),
    source: `NVIDIA Ampere GA102 GPU architecture whitepaper; ${CUDA_GUIDE}`,
  },
  ada: {
    vendor: "nvidia",
    name: "Ada Lovelace",
    computeCapability: "8.9",
    support: support(H, H, H, H, H),
    source: `NVIDIA Ada GPU architecture whitepaper (FP8, INT4 tensor TOPS); ${CUDA_GUIDE}`,
  },
  hopper: {
    vendor: "nvidia",
    name: "Hopper",
    computeCapability: "9.0",
    support: support(H, H, H, H, S),
    source: `NVIDIA H100 Tensor Core GPU architecture whitepaper (no INT4); ${CUDA_GUIDE}`,
  },
  "blackwell-dc": {
    vendor: "nvidia",
    name: "Blackwell",
    computeCapability: "10.0",
    support: support(H, H, H, H, S),
    source: `NVIDIA Blackwell architecture technical brief (FP4/FP6/FP8/INT8, no INT4); ${CUDA_GUIDE}`,
  },
  "blackwell-rtx": {
    vendor: "nvidia",
    name: "Blackwell",
    computeCapability: "12.0",
    support: support(H, H, H, H, S),
    source: `NVIDIA RTX Blackwell GPU architecture whitepaper (FP4/FP8/INT8); ${CUDA_GUIDE}`,
  },
  cdna1: {
    vendor: "amd",
    name: "CDNA",
    support: support(H, H, N, H, H),
    source: "AMD Instinct MI100 datasheet; AMD CDNA architecture whitepaper",
  },
  cdna2: {
    vendor: "amd",
    name: "CDNA 2",
    support: support(H, H, N, H, H),
    source: "AMD Instinct MI200 series datasheets; AMD CDNA 2 architecture whitepaper",
  },
  cdna3: {
    vendor: "amd",
    name: "CDNA 3",
    support: support(H, H, H, H, S),
    source: "AMD Instinct MI300 series datasheets; AMD CDNA 3 ISA reference guide",
  },
  cdna4: {
    vendor: "amd",
    name: "CDNA 4",
    support: support(H, H, H, H, S),
    source: "AMD Instinct MI350 series datasheet; AMD CDNA 4 architecture whitepaper",
  },
  rdna2: {
    vendor: "amd",
    name: "RDNA 2",
    support: support(H, N, N, H, H),
    source: "AMD RDNA 2 ISA reference guide (v_dot4_i32_i8, v_dot8_i32_i4)",
  },
  rdna3: {
    vendor: "amd",
    name: "RDNA 3",
    support: support(H, H, N, H, H),
    source: "AMD RDNA 3 ISA reference guide (WMMA f16/bf16/iu8/iu4)",
  },
  rdna4: {
    vendor: "amd",
    name: "RDNA 4",
    support: support(H, H, H, H, H),
    source: "AMD RDNA 4 ISA reference guide (WMMA fp8/bf8/iu8/iu4)",
  },
  "apple-m1": {
    vendor: "apple",
    name: "Apple M1",
    support: support(H, N, N, S, S),
    source: "Apple Metal feature set tables (Apple7 GPU family)",
  },
  "apple-m2": {
    vendor: "apple",
    name: "Apple M2",
    support: support(H, H, N, S, S),
    source: "Apple Metal feature set tables (Apple8 GPU family); MSL 3.1 bfloat",
  },
  "apple-m3": {
    vendor: "apple",
    name: "Apple M3",
    support: support(H, H, N, S, S),
    source: "Apple Metal feature set tables (Apple9 GPU family); MSL 3.1 bfloat",
  },
  "apple-m4": {
    vendor: "apple",
    name: "Apple M4",
    support: support(H, H, N, S, S),
    source: "Apple Metal feature set tables (Apple9 GPU family); MSL 3.1 bfloat",
  },
  "xe-hpg": {
    vendor: "intel",
    name: "Xe-HPG (Alchemist)",
    support: support(H, H, N, H, H),
    source: "Intel Arc A-series architecture (XMX: FP16/BF16/INT8/INT4)",
  },
  "xe2-hpg": {
    vendor: "intel",
    name: "Xe2-HPG (Battlemage)",
    support: support(H, H, N, H, H),
    source: "Intel Arc B-series architecture (XMX: FP16/BF16/INT8/INT4)",
  },
} as const satisfies Record<string, Architecture>;

export type ArchitectureKey = keyof typeof ARCHITECTURES;
