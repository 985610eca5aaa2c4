/**
 * maxBatch: the per-GPU concurrency cap the registry suggests to the scheduler.
 *
 * Rule: budget 0.75 GB of memory per concurrent sequence — a 7–8B model's fp16 KV cache at
 * 2k–4k tokens (0.25–0.5 GB) plus its share of activations — and round down to a power of two
 * so batch sizes stay kernel-friendly:
 *
 *   maxBatch = clamp(2^floor(log2(vramGb / 0.75)), 1, 256)
 *
 * RTX 4090 (24 GB) → 24 / 0.75 = 32 → 32, as PRODUCT.md §4 states; 80 GB → 64; 8 GB → 8.
 * The cap at 256 keeps huge unified-memory parts (512 GB M3 Ultra) from suggesting batches no
 * runtime schedules well.
 */

export const GB_PER_SEQUENCE = 0.75;
export const MAX_BATCH_CAP = 256;

export function maxBatchForVram(vramGb: number): number {
  if (!(vramGb > 0)) return 1;
  const slots = vramGb / GB_PER_SEQUENCE;
  const pow2 = 2 ** Math.floor(Math.log2(slots));
  return Math.min(MAX_BATCH_CAP, Math.max(1, pow2));
}
