/**
 * NVIDIA GeForce desktop and laptop GPUs, GTX 10 series to RTX 50 series.
 *
 * Figures from NVIDIA's GeForce product specification pages (nvidia.com, "Specs" tab of each
 * card or series). Those pages give memory size, memory speed and bus width; bandwidth here is
 * speed × width / 8. Laptop bandwidth is the highest memory speed NVIDIA lists for the part
 * (OEMs may clock lower). Where one nvidia-smi name covers two memory sizes (RTX 3060,
 * RTX 4060 Ti, RTX 5060 Ti, RTX 3080 Laptop GPU) both parts carry the size in their canonical
 * name and the resolver needs the size, or nvidia-smi's memory.total, to pick one.
 */
import { defineGpu, type GpuEntry } from "./define.js";
import type { GpuProfile } from "./types.js";

const SPEC10 = "NVIDIA GeForce GTX 10 Series product specifications (nvidia.com)";
const SPEC16 = "NVIDIA GeForce GTX 16 Series product specifications (nvidia.com)";
const SPEC20 = "NVIDIA GeForce RTX 20 Series product specifications (nvidia.com)";
const SPEC30 = "NVIDIA GeForce RTX 30 Series product specifications (nvidia.com)";
const SPEC30L = "NVIDIA GeForce RTX 30 Series Laptop GPU specifications (nvidia.com)";
const SPEC40 = "NVIDIA GeForce RTX 40 Series product specifications (nvidia.com)";
const SPEC40L = "NVIDIA GeForce RTX 40 Series Laptop GPU specifications (nvidia.com)";
const SPEC50 = "NVIDIA GeForce RTX 50 Series product specifications (nvidia.com)";
const SPEC50L = "NVIDIA GeForce RTX 50 Series Laptop GPU specifications (nvidia.com)";

function desktop(
  name: string,
  arch: GpuEntry["arch"],
  vramGb: number,
  memoryBandwidthGBs: number,
  source: string,
  extra: Partial<GpuEntry> = {},
): GpuProfile {
  return defineGpu({
    name,
    arch,
    vramGb,
    memoryBandwidthGBs,
    formFactor: "desktop",
    source,
    ...extra,
  });
}

function laptop(
  name: string,
  arch: GpuEntry["arch"],
  vramGb: number,
  memoryBandwidthGBs: number,
  source: string,
  extra: Partial<GpuEntry> = {},
): GpuProfile {
  return defineGpu({
    name,
    arch,
    vramGb,
    memoryBandwidthGBs,
    formFactor: "laptop",
    source,
    ...extra,
  });
}

export const NVIDIA_CONSUMER: readonly GpuProfile[] = [
  // GTX 10 series (Pascal, GDDR5/GDDR5X).
  desktop("GeForce GTX 1050 Ti", "pascal", 4, 112, SPEC10),
  desktop("GeForce GTX 1060 3GB", "pascal", 3, 192, SPEC10),
  desktop("GeForce GTX 1060 6GB", "pascal", 6, 192, SPEC10),
  desktop("GeForce GTX 1070", "pascal", 8, 256, SPEC10),
  desktop("GeForce GTX 1070 Ti", "pascal", 8, 256, SPEC10),
  desktop("GeForce GTX 1080", "pascal", 8, 320, SPEC10),
  desktop("GeForce GTX 1080 Ti", "pascal", 11, 484, SPEC10),
  desktop("TITAN Xp", "pascal", 12, 547.7, SPEC10, { aliases: ["TITAN Xp COLLECTORS EDITION"] }),

  // GTX 16 series (Turing without tensor cores).
  desktop("GeForce GTX 1650", "turing-no-tensor", 4, 128, SPEC16, {
    notes: "GDDR5 launch part; the later GDDR6 GTX 1650 (same name, 4 GB) has 192 GB/s.",
  }),
  desktop("GeForce GTX 1660 Ti", "turing-no-tensor", 6, 288, SPEC16),
  desktop("GeForce GTX 1660 SUPER", "turing-no-tensor", 6, 336, SPEC16),

  // RTX 20 series (Turing).
  desktop("GeForce RTX 2060", "turing", 6, 336, SPEC20),
  desktop("GeForce RTX 2060 12GB", "turing", 12, 336, SPEC20),
  desktop("GeForce RTX 2060 SUPER", "turing", 8, 448, SPEC20),
  desktop("GeForce RTX 2070", "turing", 8, 448, SPEC20),
  desktop("GeForce RTX 2070 SUPER", "turing", 8, 448, SPEC20),
  desktop("GeForce RTX 2080", "turing", 8, 448, SPEC20),
  desktop("GeForce RTX 2080 SUPER", "turing", 8, 496, SPEC20),
  desktop("GeForce RTX 2080 Ti", "turing", 11, 616, SPEC20),
  desktop("TITAN RTX", "turing", 24, 672, SPEC20),

  // RTX 30 series (Ampere GA10x).
  desktop("GeForce RTX 3050", "ampere", 8, 224, SPEC30, {
    notes: "8 GB part; the later RTX 3050 6GB (168 GB/s) is not listed.",
  }),
  desktop("GeForce RTX 3060 12GB", "ampere", 12, 360, SPEC30),
  desktop("GeForce RTX 3060 8GB", "ampere", 8, 240, SPEC30),
  desktop("GeForce RTX 3060 Ti", "ampere", 8, 448, SPEC30),
  desktop("GeForce RTX 3070", "ampere", 8, 448, SPEC30),
  desktop("GeForce RTX 3070 Ti", "ampere", 8, 608, SPEC30),
  desktop("GeForce RTX 3080", "ampere", 10, 760, SPEC30, {
    notes: "The launch 10 GB part; the later 12 GB part is its own profile.",
  }),
  desktop("GeForce RTX 3080 12GB", "ampere", 12, 912, SPEC30),
  desktop("GeForce RTX 3080 Ti", "ampere", 12, 912, SPEC30),
  desktop("GeForce RTX 3090", "ampere", 24, 936, SPEC30),
  desktop("GeForce RTX 3090 Ti", "ampere", 24, 1008, SPEC30),
  laptop("GeForce RTX 3060 Laptop GPU", "ampere", 6, 336, SPEC30L),
  laptop("GeForce RTX 3070 Laptop GPU", "ampere", 8, 448, SPEC30L),
  laptop("GeForce RTX 3080 Laptop GPU 8GB", "ampere", 8, 448, SPEC30L),
  laptop("GeForce RTX 3080 Laptop GPU 16GB", "ampere", 16, 448, SPEC30L),
  laptop("GeForce RTX 3080 Ti Laptop GPU", "ampere", 16, 512, SPEC30L),

  // RTX 40 series (Ada Lovelace).
  desktop("GeForce RTX 4060", "ada", 8, 272, SPEC40),
  desktop("GeForce RTX 4060 Ti 8GB", "ada", 8, 288, SPEC40),
  desktop("GeForce RTX 4060 Ti 16GB", "ada", 16, 288, SPEC40),
  desktop("GeForce RTX 4070", "ada", 12, 504, SPEC40),
  desktop("GeForce RTX 4070 SUPER", "ada", 12, 504, SPEC40),
  desktop("GeForce RTX 4070 Ti", "ada", 12, 504, SPEC40),
  desktop("GeForce RTX 4070 Ti SUPER", "ada", 16, 672, SPEC40),
  desktop("GeForce RTX 4080", "ada", 16, 716.8, SPEC40),
  desktop("GeForce RTX 4080 SUPER", "ada", 16, 736, SPEC40),
  desktop("GeForce RTX 4090", "ada", 24, 1008, SPEC40),
  laptop("GeForce RTX 4050 Laptop GPU", "ada", 6, 192, SPEC40L),
  laptop("GeForce RTX 4060 Laptop GPU", "ada", 8, 256, SPEC40L),
  laptop("GeForce RTX 4070 Laptop GPU", "ada", 8, 256, SPEC40L),
  laptop("GeForce RTX 4080 Laptop GPU", "ada", 12, 432, SPEC40L),
  laptop("GeForce RTX 4090 Laptop GPU", "ada", 16, 576, SPEC40L),

  // RTX 50 series (Blackwell GB20x, GDDR7).
  desktop("GeForce RTX 5060", "blackwell-rtx", 8, 448, SPEC50),
  desktop("GeForce RTX 5060 Ti 8GB", "blackwell-rtx", 8, 448, SPEC50),
  desktop("GeForce RTX 5060 Ti 16GB", "blackwell-rtx", 16, 448, SPEC50),
  desktop("GeForce RTX 5070", "blackwell-rtx", 12, 672, SPEC50),
  desktop("GeForce RTX 5070 Ti", "blackwell-rtx", 16, 896, SPEC50),
  desktop("GeForce RTX 5080", "blackwell-rtx", 16, 960, SPEC50),
  desktop("GeForce RTX 5090", "blackwell-rtx", 32, 1792, SPEC50),
  laptop("GeForce RTX 5080 Laptop GPU", "blackwell-rtx", 16, 896, SPEC50L),
  laptop("GeForce RTX 5090 Laptop GPU", "blackwell-rtx", 24, 896, SPEC50L),
];
