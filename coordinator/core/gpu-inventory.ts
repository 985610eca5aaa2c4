/**
 * GPU inventory: per-GPU memory accounting and eligibility ("could this slot ever run here?").
 *
 * Accounting per GPU (rule 1 of §2, never over-commit):
 *   leased (active + checkpointing leases) + reserved (in-flight evictions) + unaccounted <= capacity
 * and free = capacity - leased - reserved - unaccounted, clamped at 0 (a new measurement can push
 * the sum over capacity; then nothing more is granted there until it drops).
 *
 * Unaccounted memory (§6) on a GPU that has been measured at least once:
 *   - each measurement sets it afresh: unaccounted = max(0, measured - leased);
 *   - between measurements, when a lease's memory leaves the GPU by release, expiry or holder
 *     gone, its VRAM is ADDED to unaccounted: a released lease's process may still hold the
 *     memory (teardown, caching allocators, a hung process whose lease expired), and its lease
 *     may have used less than its vramMb while some unmanaged process used more, so
 *     measured - leased underestimated the unmanaged use by that slack. Released memory is
 *     reusable only once a fresh measurement confirms it is free. With M, L_m the measured and
 *     leased memory at the last measurement and R the grants since, after any releases
 *     free = capacity - leased_now - (M - L_m) - released = capacity - M - R: exactly what is
 *     really free if every new grant is fully used.
 *   - not when a checkpointing victim answers checkpointed: the cooperative protocol says its
 *     holder freed the memory, so it goes to the preemptor at once. Reservations returned by an
 *     abandoned eviction are bookkeeping only and are free at once too.
 * A GPU never measured keeps unaccounted = 0 and hands released memory over at once.
 *
 * Eligibility ignores current usage: a slot is eligible for a GPU when its constraints (gpuId,
 * node, requires) hold and the GPU's capacity is at least the slot's VRAM. Requests with the same
 * eligible set share a Signature, interned here; the wait queue groups requests by signature.
 */
import type { LeaseRec } from "./records.js";
import type { GpuSpec, GpuView, Priority, SlotSpec } from "./types.js";

export class GpuState {
  leasedMb = 0;
  reservedMb = 0;
  measuredUsedMb = 0;
  unaccountedMb = 0;
  /** True once a measurement arrived: released memory then waits for the next one. */
  measured = false;
  /** Leases holding memory here (active + checkpointing). */
  readonly leases = new Set<LeaseRec>();
  /** VRAM of active, evictable leases here, by class (index 1..5): a quick eviction feasibility bound. */
  readonly evictableMb: number[] = [0, 0, 0, 0, 0, 0];
  /** Pass stamp: equal to the current pass number when an earlier waiting request claims this GPU. */
  blockStamp = 0;

  constructor(public spec: GpuSpec) {}

  /** Human name for reason texts: "node-a/1" when the index is known, else the id. */
  get label(): string {
    const s = this.spec;
    return s.index !== undefined ? `${s.node}/${s.index}` : s.id;
  }

  get id(): string {
    return this.spec.id;
  }

  get freeMb(): number {
    return Math.max(0, this.spec.capacityMb - this.leasedMb - this.reservedMb - this.unaccountedMb);
  }

  /** Free memory if `reservedMb` of the reservations were handed back (a preemptor's own). */
  freeIgnoring(reservedMb: number): number {
    return Math.max(
      0,
      this.spec.capacityMb - this.leasedMb - (this.reservedMb - reservedMb) - this.unaccountedMb,
    );
  }

  evictableBelow(cls: Priority): number {
    let sum = 0;
    for (let c = 1; c < cls; c++) sum += this.evictableMb[c]!;
    return sum;
  }

  view(): GpuView {
    return {
      spec: this.spec,
      leasedMb: this.leasedMb,
      reservedMb: this.reservedMb,
      measuredUsedMb: this.measuredUsedMb,
      unaccountedMb: this.unaccountedMb,
      freeMb: this.freeMb,
    };
  }
}

/** A set of eligible GPUs, shared by every request with exactly that set. */
export interface Signature {
  readonly key: string;
  /** Sorted by GPU id: placement ties break by id. */
  readonly gpus: readonly GpuState[];
}

export function satisfies(slot: SlotSpec, spec: GpuSpec): boolean {
  if (slot.gpuId !== undefined && slot.gpuId !== spec.id) return false;
  if (slot.node !== undefined && slot.node !== spec.node) return false;
  if (slot.requires !== undefined && slot.requires.length > 0) {
    const caps = spec.capabilities;
    if (caps === undefined) return false;
    for (const p of slot.requires) if (!caps.includes(p)) return false;
  }
  return spec.capacityMb >= slot.vramMb;
}

export class Inventory {
  private readonly byId = new Map<string, GpuState>();
  private sorted: GpuState[] = [];
  private readonly signatures = new Map<string, Signature>();

  get(id: string): GpuState | undefined {
    return this.byId.get(id);
  }

  all(): readonly GpuState[] {
    return this.sorted;
  }

  get size(): number {
    return this.sorted.length;
  }

  hasNode(node: string): boolean {
    for (const g of this.sorted) if (g.spec.node === node) return true;
    return false;
  }

  add(spec: GpuSpec): GpuState {
    const g = new GpuState(spec);
    this.byId.set(spec.id, g);
    this.resort();
    return g;
  }

  /** Replace the spec of a known GPU (same id); accounting is kept. */
  replace(spec: GpuSpec): GpuState {
    const g = this.byId.get(spec.id);
    if (!g) return this.add(spec);
    g.spec = spec;
    this.resort();
    return g;
  }

  remove(id: string): void {
    this.byId.delete(id);
    this.resort();
  }

  /** Call after any change to the GPU set or a spec: cached signatures may be wrong now. */
  private resort(): void {
    this.sorted = [...this.byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.signatures.clear();
  }

  /** O(#GPUs). The empty signature (key "") means the slot can never run anywhere. */
  signatureFor(slot: SlotSpec): Signature {
    const gpus = this.sorted.filter((g) => satisfies(slot, g.spec));
    const key = gpus.map((g) => g.id).join("\u0000");
    let sig = this.signatures.get(key);
    if (!sig) {
      sig = { key, gpus };
      this.signatures.set(key, sig);
    }
    return sig;
  }
}
