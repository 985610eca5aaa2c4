/**
 * Human sentences for "why does this request wait?" and "why can it never run?". Kept apart from
 * the scheduler so the wording can change without touching scheduling logic.
 */
import type { GpuState, Inventory } from "./gpu-inventory.js";
import type { SlotSpec } from "./types.js";

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

export function behindText(ahead: number): string {
  return ahead > 0
    ? `behind ${plural(ahead, "earlier request")}`
    : "waiting for an earlier request to be placed";
}

export function noGpuFreeText(vramMb: number, gpus: readonly GpuState[]): string {
  let best: GpuState | undefined;
  for (const g of gpus) if (!best || g.freeMb > best.freeMb) best = g;
  const largest = best ? `largest free: ${best.freeMb} MiB on ${best.label}` : "no eligible GPU";
  return `no GPU has ${vramMb} MiB free (${largest})`;
}

export function evictionText(pending: number, gpu: GpuState): string {
  return pending > 0
    ? `waiting for ${plural(pending, "eviction")} on ${gpu.label}`
    : `waiting for memory reserved on ${gpu.label}`;
}

export function pausedText(pausedBy: string | undefined, rest: string): string {
  return `paused${pausedBy ? ` for request ${pausedBy}` : ""}; ${rest}`;
}

/**
 * Why a slot fits no GPU at all, and which field to blame: the most specific constraint that
 * rules out every GPU.
 */
export function notFittable(slot: SlotSpec, inv: Inventory): { field: string; message: string } {
  let gpus = inv.all().filter((g) => slot.gpuId === undefined || g.id === slot.gpuId);
  if (slot.node !== undefined) {
    gpus = gpus.filter((g) => g.spec.node === slot.node);
    if (gpus.length === 0)
      return { field: "slot.node", message: `GPU ${slot.gpuId} is not on node ${slot.node}` };
  }
  const req = slot.requires ?? [];
  if (req.length > 0) {
    gpus = gpus.filter((g) => req.every((p) => g.spec.capabilities?.includes(p) ?? false));
    if (gpus.length === 0)
      return {
        field: "slot.requires",
        message: `no eligible GPU is known to support ${req.join(", ")}`,
      };
  }
  let largest: GpuState | undefined;
  for (const g of gpus) if (!largest || g.spec.capacityMb > largest.spec.capacityMb) largest = g;
  return {
    field: "slot.vram_mb",
    message: largest
      ? `${slot.vramMb} MiB can never fit: the largest eligible GPU is ${largest.label} with ${largest.spec.capacityMb} MiB`
      : `${slot.vramMb} MiB can never fit: no eligible GPU`,
  };
}
