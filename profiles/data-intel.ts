/**
 * Intel Arc GPUs. Figures from Intel's product specifications (intel.com, ark). Drivers name
 * them "Intel(R) Arc(TM) A770 Graphics"; the A770 ships with 8 GB and 16 GB under that one
 * name, so both carry their size and the resolver needs it (or a memory hint) to choose.
 */
import { defineGpu } from "./define.js";
import type { GpuProfile } from "./types.js";

const ARK = "Intel Arc A-series graphics product specifications (intel.com ark)";
const ARK_B = "Intel Arc B-series graphics product specifications (intel.com ark)";

export const INTEL_GPUS: readonly GpuProfile[] = [
  defineGpu({
    name: "Arc A750",
    arch: "xe-hpg",
    vramGb: 8,
    memoryBandwidthGBs: 512,
    formFactor: "desktop",
    source: ARK,
  }),
  defineGpu({
    name: "Arc A770 8GB",
    arch: "xe-hpg",
    vramGb: 8,
    memoryBandwidthGBs: 512,
    formFactor: "desktop",
    source: ARK,
  }),
  defineGpu({
    name: "Arc A770 16GB",
    arch: "xe-hpg",
    vramGb: 16,
    memoryBandwidthGBs: 560,
    formFactor: "desktop",
    source: ARK,
  }),
  defineGpu({
    name: "Arc B580",
    arch: "xe2-hpg",
    vramGb: 12,
    memoryBandwidthGBs: 456,
    formFactor: "desktop",
    source: ARK_B,
  }),
];
