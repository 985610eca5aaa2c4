/**
 * NVIDIA workstation (Quadro RTX, RTX A-series, RTX Ada, RTX PRO Blackwell) and datacenter
 * (Tesla/PCIe/SXM/NVL) GPUs. Figures from NVIDIA's datasheets, named beside each entry.
 *
 * Names to keep apart: "Quadro RTX 6000" (Turing, 24 GB) ≠ "RTX A6000" (Ampere, 48 GB) ≠
 * "RTX 6000 Ada Generation" (Ada, 48 GB) ≠ "RTX PRO 6000 Blackwell" (96 GB). Datacenter parts
 * differ by memory size and by form factor (PCIe vs SXM vs NVL), and nvidia-smi names carry
 * both ("Tesla V100-SXM2-32GB", "NVIDIA A100 80GB PCIe", "NVIDIA H100 80GB HBM3" = SXM).
 */
import { defineGpu, type GpuEntry } from "./define.js";
import type { GpuProfile } from "./types.js";

function workstation(
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
    formFactor: "workstation",
    source,
    ...extra,
  });
}

function datacenter(
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
    formFactor: "datacenter",
    source,
    ...extra,
  });
}

export const NVIDIA_WORKSTATION: readonly GpuProfile[] = [
  workstation("Quadro RTX 5000", "turing", 16, 448, "NVIDIA Quadro RTX 5000 datasheet"),
  workstation("Quadro RTX 6000", "turing", 24, 672, "NVIDIA Quadro RTX 6000 datasheet"),
  workstation("Quadro RTX 8000", "turing", 48, 672, "NVIDIA Quadro RTX 8000 datasheet"),
  workstation("RTX A2000", "ampere", 6, 288, "NVIDIA RTX A2000 / A2000 12GB datasheet", {
    aliases: ["A2000"],
  }),
  workstation("RTX A2000 12GB", "ampere", 12, 288, "NVIDIA RTX A2000 / A2000 12GB datasheet", {
    aliases: ["A2000 12GB"],
  }),
  workstation("RTX A4000", "ampere", 16, 448, "NVIDIA RTX A4000 datasheet", {
    aliases: ["A4000"],
  }),
  workstation("RTX A4500", "ampere", 20, 640, "NVIDIA RTX A4500 datasheet", {
    aliases: ["A4500"],
  }),
  workstation("RTX A5000", "ampere", 24, 768, "NVIDIA RTX A5000 datasheet", {
    aliases: ["A5000"],
  }),
  workstation("RTX A6000", "ampere", 48, 768, "NVIDIA RTX A6000 datasheet", {
    aliases: ["A6000"],
  }),
  workstation(
    "RTX 2000 Ada Generation",
    "ada",
    16,
    224,
    "NVIDIA RTX 2000 Ada Generation datasheet",
  ),
  workstation("RTX 4000 SFF Ada Generation", "ada", 20, 280, "NVIDIA RTX 4000 SFF Ada datasheet"),
  workstation(
    "RTX 4000 Ada Generation",
    "ada",
    20,
    360,
    "NVIDIA RTX 4000 Ada Generation datasheet",
  ),
  workstation(
    "RTX 4500 Ada Generation",
    "ada",
    24,
    432,
    "NVIDIA RTX 4500 Ada Generation datasheet",
  ),
  workstation(
    "RTX 5000 Ada Generation",
    "ada",
    32,
    576,
    "NVIDIA RTX 5000 Ada Generation datasheet",
  ),
  workstation(
    "RTX 6000 Ada Generation",
    "ada",
    48,
    960,
    "NVIDIA RTX 6000 Ada Generation datasheet",
  ),
  workstation(
    "RTX PRO 6000 Blackwell",
    "blackwell-rtx",
    96,
    1792,
    "NVIDIA RTX PRO 6000 Blackwell Workstation / Server / Max-Q Edition datasheets",
    {
      aliases: [
        "RTX PRO 6000",
        "RTX PRO 6000 Blackwell Workstation Edition",
        "RTX PRO 6000 Blackwell Max-Q Workstation Edition",
        "RTX PRO 6000 Blackwell Server Edition",
      ],
      notes: "Workstation, Max-Q and Server editions differ in power, not in memory.",
    },
  ),
];

export const NVIDIA_DATACENTER: readonly GpuProfile[] = [
  // Pascal.
  datacenter("P100 PCIe 12GB", "pascal-gp100", 12, 549, "NVIDIA Tesla P100 datasheet"),
  datacenter("P100 PCIe 16GB", "pascal-gp100", 16, 732, "NVIDIA Tesla P100 datasheet"),
  datacenter("P100 SXM2 16GB", "pascal-gp100", 16, 732, "NVIDIA Tesla P100 datasheet"),
  datacenter("P4", "pascal", 8, 192, "NVIDIA Tesla P4 datasheet"),
  datacenter("P40", "pascal", 24, 346, "NVIDIA Tesla P40 datasheet", {
    notes: "Datasheet: 346 GB/s (7.2 Gbps GDDR5 × 384-bit = 345.6).",
  }),

  // Volta.
  datacenter("V100 PCIe 16GB", "volta", 16, 900, "NVIDIA Tesla V100 datasheet"),
  datacenter("V100 PCIe 32GB", "volta", 32, 900, "NVIDIA Tesla V100 datasheet"),
  datacenter("V100 SXM2 16GB", "volta", 16, 900, "NVIDIA Tesla V100 datasheet"),
  datacenter("V100 SXM2 32GB", "volta", 32, 900, "NVIDIA Tesla V100 datasheet", {
    notes: "SXM3 (DGX-2) parts, 'Tesla V100-SXM3-32GB', resolve here: same memory.",
  }),
  datacenter("V100S PCIe 32GB", "volta", 32, 1134, "NVIDIA Tesla V100S datasheet"),

  // Turing.
  datacenter("T4", "turing", 16, 320, "NVIDIA T4 Tensor Core GPU datasheet", {
    notes: "nvidia-smi reports 15360 MiB: part of the 16 GB is reserved (ECC).",
  }),

  // Ampere.
  datacenter("A2", "ampere", 16, 200, "NVIDIA A2 Tensor Core GPU datasheet"),
  datacenter("A10", "ampere", 24, 600, "NVIDIA A10 Tensor Core GPU datasheet"),
  datacenter("A10G", "ampere", 24, 600, "AWS EC2 G5 instance specifications (NVIDIA A10G)", {
    notes: "AWS-specific A10 variant; NVIDIA publishes no datasheet for it.",
  }),
  datacenter("A16", "ampere", 16, 200, "NVIDIA A16 datasheet", {
    devicesPerPackage: 4,
    notes: "One board carries 4 GPUs of 16 GB (64 GB); each appears as its own device.",
  }),
  datacenter("A30", "ampere-ga100", 24, 933, "NVIDIA A30 Tensor Core GPU datasheet"),
  datacenter("A40", "ampere", 48, 696, "NVIDIA A40 datasheet"),
  datacenter("A100 PCIe 40GB", "ampere-ga100", 40, 1555, "NVIDIA A100 Tensor Core GPU datasheet"),
  datacenter("A100 PCIe 80GB", "ampere-ga100", 80, 1935, "NVIDIA A100 Tensor Core GPU datasheet"),
  datacenter("A100 SXM4 40GB", "ampere-ga100", 40, 1555, "NVIDIA A100 Tensor Core GPU datasheet"),
  datacenter("A100 SXM4 80GB", "ampere-ga100", 80, 2039, "NVIDIA A100 Tensor Core GPU datasheet"),

  // Ada.
  datacenter("L4", "ada", 24, 300, "NVIDIA L4 Tensor Core GPU datasheet"),
  datacenter("L40", "ada", 48, 864, "NVIDIA L40 datasheet"),
  datacenter("L40S", "ada", 48, 864, "NVIDIA L40S datasheet"),

  // Hopper.
  datacenter("H100 PCIe", "hopper", 80, 2000, "NVIDIA H100 Tensor Core GPU datasheet", {
    notes: "HBM2e. 'H100 80GB' alone is ambiguous (PCIe or SXM) and does not resolve.",
  }),
  datacenter("H100 SXM", "hopper", 80, 3350, "NVIDIA H100 Tensor Core GPU datasheet", {
    // nvidia-smi names the SXM5 part by its memory: "NVIDIA H100 80GB HBM3".
    aliases: ["H100 80GB HBM3", "H100 SXM5", "H100 SXM5 80GB"],
  }),
  datacenter("H100 NVL", "hopper", 94, 3900, "NVIDIA H100 Tensor Core GPU datasheet (H100 NVL)"),
  datacenter("H200", "hopper", 141, 4800, "NVIDIA H200 Tensor Core GPU datasheet", {
    aliases: ["H200 SXM", "H200 SXM5", "H200 141GB HBM3e"],
  }),
  datacenter("H200 NVL", "hopper", 141, 4800, "NVIDIA H200 Tensor Core GPU datasheet (H200 NVL)"),
  datacenter("GH200 96GB", "hopper", 96, 4000, "NVIDIA GH200 Grace Hopper Superchip datasheet", {
    // nvidia-smi names this part by the Grace CPU's LPDDR5X size.
    aliases: ["GH200 480GB", "GH200 96GB HBM3"],
    notes: "GPU HBM3 only; the Grace CPU's 480 GB LPDDR5X is reachable over NVLink-C2C.",
  }),
  datacenter("GH200 144GB", "hopper", 144, 4900, "NVIDIA GH200 Grace Hopper Superchip datasheet", {
    aliases: ["GH200 144G HBM3e", "GH200 144GB HBM3e"],
    notes: "HBM3e version; the Grace CPU's LPDDR5X is not counted.",
  }),

  // Blackwell.
  datacenter("B200", "blackwell-dc", 180, 8000, "NVIDIA DGX B200 / HGX B200 datasheets", {
    aliases: ["B200 SXM", "B200 180GB", "B200 192GB"],
    notes:
      "Announced with 192 GB HBM3e; shipping HGX/DGX B200 systems expose 180 GB per GPU " +
      "(1,440 GB per 8 GPUs), which is the figure used here.",
  }),
  datacenter("GB200", "blackwell-dc", 186, 8000, "NVIDIA GB200 NVL72 datasheet", {
    notes: "Per GPU: GB200 NVL72 lists 13.4 TB HBM3e and 576 TB/s for 72 GPUs.",
  }),
];
