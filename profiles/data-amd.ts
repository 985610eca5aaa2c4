/**
 * AMD Instinct accelerators and Radeon GPUs. Figures from AMD's product pages and datasheets
 * (amd.com), named beside each entry. rocminfo / rocm-smi name them "AMD Instinct MI300X",
 * "AMD Radeon RX 7900 XTX": the resolver drops the company and brand words.
 *
 * MI250 and MI250X carry two graphics compute dies (GCDs) that the driver exposes as two
 * devices of 64 GB each: the profile describes one device (devicesPerPackage 2), because that
 * is what a lease can hold; the datasheet's 128 GB / 3.2768 TB/s are per package.
 */
import { defineGpu, type GpuEntry } from "./define.js";
import type { GpuProfile } from "./types.js";

function amd(
  name: string,
  arch: GpuEntry["arch"],
  vramGb: number,
  memoryBandwidthGBs: number,
  formFactor: GpuEntry["formFactor"],
  source: string,
  extra: Partial<GpuEntry> = {},
): GpuProfile {
  return defineGpu({ name, arch, vramGb, memoryBandwidthGBs, formFactor, source, ...extra });
}

export const AMD_GPUS: readonly GpuProfile[] = [
  amd("Instinct MI100", "cdna1", 32, 1228.8, "datacenter", "AMD Instinct MI100 datasheet"),
  amd("Instinct MI210", "cdna2", 64, 1638.4, "datacenter", "AMD Instinct MI210 datasheet"),
  amd("Instinct MI250", "cdna2", 64, 1638.4, "datacenter", "AMD Instinct MI250 datasheet", {
    devicesPerPackage: 2,
    notes: "Per GCD; the OAM package has 128 GB HBM2e and 3.2768 TB/s over 2 GCDs.",
  }),
  amd("Instinct MI250X", "cdna2", 64, 1638.4, "datacenter", "AMD Instinct MI250X datasheet", {
    devicesPerPackage: 2,
    notes: "Per GCD; the OAM package has 128 GB HBM2e and 3.2768 TB/s over 2 GCDs.",
  }),
  amd("Instinct MI300A", "cdna3", 128, 5300, "datacenter", "AMD Instinct MI300A APU datasheet", {
    unifiedMemory: true,
    notes: "APU: the 128 GB HBM3 is shared with the on-package CPU cores.",
  }),
  amd("Instinct MI300X", "cdna3", 192, 5300, "datacenter", "AMD Instinct MI300X datasheet"),
  amd("Instinct MI325X", "cdna3", 256, 6000, "datacenter", "AMD Instinct MI325X datasheet"),
  amd("Instinct MI355X", "cdna4", 288, 8000, "datacenter", "AMD Instinct MI355X datasheet"),

  amd("Radeon RX 6800", "rdna2", 16, 512, "desktop", "AMD Radeon RX 6800 specifications"),
  amd("Radeon RX 6800 XT", "rdna2", 16, 512, "desktop", "AMD Radeon RX 6800 XT specifications"),
  amd("Radeon RX 6900 XT", "rdna2", 16, 512, "desktop", "AMD Radeon RX 6900 XT specifications"),
  amd("Radeon RX 6950 XT", "rdna2", 16, 576, "desktop", "AMD Radeon RX 6950 XT specifications"),
  amd("Radeon RX 7600", "rdna3", 8, 288, "desktop", "AMD Radeon RX 7600 specifications"),
  amd("Radeon RX 7800 XT", "rdna3", 16, 624, "desktop", "AMD Radeon RX 7800 XT specifications"),
  amd("Radeon RX 7900 GRE", "rdna3", 16, 576, "desktop", "AMD Radeon RX 7900 GRE specifications"),
  amd("Radeon RX 7900 XT", "rdna3", 20, 800, "desktop", "AMD Radeon RX 7900 XT specifications"),
  amd("Radeon RX 7900 XTX", "rdna3", 24, 960, "desktop", "AMD Radeon RX 7900 XTX specifications"),
  amd("Radeon RX 9070", "rdna4", 16, 640, "desktop", "AMD Radeon RX 9070 specifications"),
  amd("Radeon RX 9070 XT", "rdna4", 16, 640, "desktop", "AMD Radeon RX 9070 XT specifications"),
  amd("Radeon PRO W7900", "rdna3", 48, 864, "workstation", "AMD Radeon PRO W7900 specifications"),
];
