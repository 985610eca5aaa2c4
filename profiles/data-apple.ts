/**
 * Apple silicon GPUs (M1–M4 families). Apple GPUs have no VRAM of their own: they use the
 * SoC's unified memory, so vramGb is the largest memory configuration Apple sells for the chip
 * (Apple newsroom announcements and Mac tech specs pages) and unifiedMemory is true. macOS
 * lets the GPU wire only part of it by default (about two thirds to three quarters), and a Mac
 * with a smaller configuration has less: pass the measured figure to checkFit's availableGb.
 * system_profiler prints "Chipset Model: Apple M2 Max".
 */
import { defineGpu, type GpuEntry } from "./define.js";
import type { GpuProfile } from "./types.js";

function apple(
  name: string,
  arch: GpuEntry["arch"],
  vramGb: number,
  memoryBandwidthGBs: number,
  source: string,
  notes?: string,
): GpuProfile {
  return defineGpu({
    name,
    arch,
    vramGb,
    memoryBandwidthGBs,
    formFactor: "soc",
    unifiedMemory: true,
    source,
    ...(notes !== undefined ? { notes } : {}),
  });
}

export const APPLE_GPUS: readonly GpuProfile[] = [
  apple("M1", "apple-m1", 16, 68.25, "Apple newsroom: Apple unleashes M1 (Nov 2020)"),
  apple("M1 Pro", "apple-m1", 32, 200, "Apple newsroom: Introducing M1 Pro and M1 Max (Oct 2021)"),
  apple("M1 Max", "apple-m1", 64, 400, "Apple newsroom: Introducing M1 Pro and M1 Max (Oct 2021)"),
  apple("M1 Ultra", "apple-m1", 128, 800, "Apple newsroom: Apple unveils M1 Ultra (Mar 2022)"),
  apple("M2", "apple-m2", 24, 100, "Apple newsroom: Apple unveils M2 (Jun 2022)"),
  apple(
    "M2 Pro",
    "apple-m2",
    32,
    200,
    "Apple newsroom: Apple unveils M2 Pro and M2 Max (Jan 2023)",
  ),
  apple(
    "M2 Max",
    "apple-m2",
    96,
    400,
    "Apple newsroom: Apple unveils M2 Pro and M2 Max (Jan 2023)",
  ),
  apple("M2 Ultra", "apple-m2", 192, 800, "Apple newsroom: Apple introduces M2 Ultra (Jun 2023)"),
  apple("M3", "apple-m3", 24, 100, "Apple newsroom: M3, M3 Pro and M3 Max (Oct 2023)"),
  apple("M3 Pro", "apple-m3", 36, 150, "Apple newsroom: M3, M3 Pro and M3 Max (Oct 2023)"),
  apple(
    "M3 Max",
    "apple-m3",
    128,
    400,
    "Apple newsroom: M3, M3 Pro and M3 Max (Oct 2023); MacBook Pro tech specs",
    "40-core GPU part; the 30-core GPU M3 Max has 300 GB/s and at most 96 GB.",
  ),
  apple("M3 Ultra", "apple-m3", 512, 819, "Apple newsroom: Mac Studio with M3 Ultra (Mar 2025)"),
  apple("M4", "apple-m4", 32, 120, "Apple newsroom: M4 Pro and M4 Max (Oct 2024); Mac mini specs"),
  apple("M4 Pro", "apple-m4", 64, 273, "Apple newsroom: M4 Pro and M4 Max (Oct 2024)"),
  apple(
    "M4 Max",
    "apple-m4",
    128,
    546,
    "Apple newsroom: M4 Pro and M4 Max (Oct 2024); MacBook Pro tech specs",
    "40-core GPU part; the 32-core GPU M4 Max has 410 GB/s and at most 36 GB.",
  ),
];
