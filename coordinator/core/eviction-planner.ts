/**
 * Victim choice for cooperative eviction (PRODUCT.md §3): lowest class first, then least work
 * lost, then fewest victims.
 *
 * Greedy, because the exact problem (minimum-cost cover) is a knapsack: candidates are sorted by
 * (class asc, work lost asc, VRAM desc, lease id) and taken until the shortfall is covered; then
 * any victim that is no longer needed is dropped again, most expensive first. Sorting by VRAM
 * descending within equal class and work lost keeps the number of victims small.
 *
 * Plans on different GPUs are compared by (highest victim class, total work lost, victim count);
 * the caller breaks remaining ties by GPU id.
 */
import type { Priority } from "./types.js";

export interface Candidate {
  readonly leaseId: string;
  readonly cls: Priority;
  readonly vramMb: number;
  readonly workLostMs: number;
}

export interface VictimChoice {
  readonly victims: readonly Candidate[];
  readonly maxCls: number;
  readonly workLostMs: number;
}

function byCost(a: Candidate, b: Candidate): number {
  return (
    a.cls - b.cls ||
    a.workLostMs - b.workLostMs ||
    b.vramMb - a.vramMb ||
    (a.leaseId < b.leaseId ? -1 : a.leaseId > b.leaseId ? 1 : 0)
  );
}

/** Victims whose VRAM sums to at least shortfallMb (> 0), or undefined if impossible. */
export function chooseVictims(
  candidates: readonly Candidate[],
  shortfallMb: number,
): VictimChoice | undefined {
  const sorted = [...candidates].sort(byCost);
  const chosen: Candidate[] = [];
  let sum = 0;
  for (const c of sorted) {
    if (sum >= shortfallMb) break;
    chosen.push(c);
    sum += c.vramMb;
  }
  if (sum < shortfallMb) return undefined;
  for (let i = chosen.length - 1; i >= 0; i--) {
    const c = chosen[i]!;
    if (sum - c.vramMb >= shortfallMb) {
      chosen.splice(i, 1);
      sum -= c.vramMb;
    }
  }
  let maxCls = 0;
  let workLostMs = 0;
  for (const c of chosen) {
    maxCls = Math.max(maxCls, c.cls);
    workLostMs += c.workLostMs;
  }
  return { victims: chosen, maxCls, workLostMs };
}

/** True when a is a strictly better plan than b. */
export function isBetter(a: VictimChoice, b: VictimChoice): boolean {
  if (a.maxCls !== b.maxCls) return a.maxCls < b.maxCls;
  if (a.workLostMs !== b.workLostMs) return a.workLostMs < b.workLostMs;
  return a.victims.length < b.victims.length;
}
