/**
 * The registry: every profile, in a fixed order (vendor, then family, then size). The data
 * lives in one module per vendor or market; this module only joins them.
 */
import { AMD_GPUS } from "./data-amd.js";
import { APPLE_GPUS } from "./data-apple.js";
import { INTEL_GPUS } from "./data-intel.js";
import { NVIDIA_CONSUMER } from "./data-nvidia-consumer.js";
import { NVIDIA_DATACENTER, NVIDIA_WORKSTATION } from "./data-nvidia-pro.js";
import type { GpuProfile } from "./types.js";

export const GPU_PROFILES: readonly GpuProfile[] = Object.freeze([
  ...NVIDIA_CONSUMER,
  ...NVIDIA_WORKSTATION,
  ...NVIDIA_DATACENTER,
  ...AMD_GPUS,
  ...APPLE_GPUS,
  ...INTEL_GPUS,
]);
