/**
 * The waiting line, kept two ways at once:
 *
 * 1. Order lists, one per (class, tier), tier 0 = paused leases waiting to resume, tier 1 = new
 *    requests. The global order of service is: class descending, then tier, then arrival (seq).
 *    These give each entry its position and the VRAM ahead of it.
 * 2. Groups, one per (class, eligibility signature), each a FIFO per tier. Every request in a
 *    group is eligible for exactly the same GPUs, so if the group's head cannot be placed, nobody
 *    behind it in the group can be either (they would all be blocked by the head). Scheduling
 *    therefore only ever looks at group heads: the work of a pass is bounded by the number of
 *    groups, not the queue length.
 *
 * Positions are maintained lazily. Appending only touches the new node; removing a node marks the
 * rest of its order list "dirty from here". flush() walks each order list from its earliest dirty
 * node (or from its head when the lists ahead of it changed size), recomputes positions and hands
 * exactly those entries to the caller, which emits an update only if the view really changed. The
 * walk is O(entries whose position may have changed), which is the inherent cost of telling each
 * of them its new position.
 */
import { LinkedList, type ListNode } from "./linked-list.js";
import { PRIORITIES_DESC, type Priority } from "./types.js";

export interface QueueLinks {
  order: ListNode<QueueItem> | null;
  group: ListNode<QueueItem> | null;
  /** Index within its order list; valid after flush(). */
  idx: number;
  /** VRAM of the entries before it in its order list; valid after flush(). */
  vramBefore: number;
}

export interface QueueItem {
  readonly cls: Priority;
  /** 0 = paused lease (served first within its class), 1 = new request. */
  readonly tier: 0 | 1;
  /** Arrival order; strictly increasing across all entries. */
  readonly seq: number;
  readonly vramMb: number;
  sigKey: string;
  readonly links: QueueLinks;
}

export function newLinks(): QueueLinks {
  return { order: null, group: null, idx: 0, vramBefore: 0 };
}

class OrderList {
  readonly list = new LinkedList<QueueItem>();
  vram = 0;
  /** Earliest node whose idx/vramBefore may be stale; null = all clean. */
  dirty: ListNode<QueueItem> | null = null;
  /** Entries (count, VRAM) ahead of this list at the last flush. */
  lastCount = 0;
  lastVram = 0;
}

export class Group<E extends QueueItem> {
  readonly tiers = [new LinkedList<QueueItem>(), new LinkedList<QueueItem>()] as const;

  constructor(
    readonly cls: Priority,
    readonly key: string,
  ) {}

  head(): E | undefined {
    return (this.tiers[0].head?.value ?? this.tiers[1].head?.value) as E | undefined;
  }

  get size(): number {
    return this.tiers[0].size + this.tiers[1].size;
  }
}

export class WaitQueue<E extends QueueItem> {
  private readonly order: OrderList[] = [];
  private readonly groups: Map<string, Group<E>>[] = [];
  size = 0;
  /** Entries that stopped being the head of their group since the caller last cleared this. */
  readonly demoted = new Set<E>();

  constructor() {
    for (let i = 0; i < 12; i++) this.order.push(new OrderList());
    for (let c = 0; c <= 5; c++) this.groups.push(new Map());
  }

  private orderList(e: QueueItem): OrderList {
    return this.order[e.cls * 2 + e.tier]!;
  }

  add(e: E): void {
    const ol = this.orderList(e);
    const node = ol.list.append(e);
    ol.vram += e.vramMb;
    // Appended last: anything already dirty is earlier, so only mark when clean.
    if (ol.dirty === null) ol.dirty = node;
    e.links.order = node;
    this.addToGroup(e);
    this.size++;
  }

  private addToGroup(e: E): void {
    const byKey = this.groups[e.cls]!;
    let g = byKey.get(e.sigKey);
    if (!g) {
      g = new Group<E>(e.cls, e.sigKey);
      byKey.set(e.sigKey, g);
    }
    const oldHead = g.head();
    e.links.group = g.tiers[e.tier].append(e);
    // A paused lease joining ahead of the group's head demotes it. Its position may not change
    // (someone else may have left in the same call), so it must be re-explained explicitly.
    if (oldHead && g.head() !== oldHead) this.demoted.add(oldHead);
  }

  private removeFromGroup(e: E): void {
    const byKey = this.groups[e.cls]!;
    const g = byKey.get(e.sigKey);
    const node = e.links.group;
    if (!g || !node) throw new Error("wait-queue: entry is not in its group");
    g.tiers[e.tier].remove(node);
    e.links.group = null;
    if (g.size === 0) byKey.delete(e.sigKey);
  }

  remove(e: E): void {
    const node = e.links.order;
    if (!node) throw new Error("wait-queue: entry is not queued");
    const ol = this.orderList(e);
    // Everything after the removed node shifts up by one: mark it dirty unless an earlier
    // node already is.
    if (ol.dirty === node || ol.dirty === null || ol.dirty.value.seq > e.seq) ol.dirty = node.next;
    ol.list.remove(node);
    ol.vram -= e.vramMb;
    e.links.order = null;
    this.removeFromGroup(e);
    this.demoted.delete(e);
    this.size--;
  }

  has(e: E): boolean {
    return e.links.order !== null;
  }

  groupsOf(cls: Priority): IterableIterator<Group<E>> {
    return this.groups[cls]!.values();
  }

  *allGroups(): IterableIterator<Group<E>> {
    for (const c of PRIORITIES_DESC) yield* this.groups[c]!.values();
  }

  isHead(e: E): boolean {
    const g = this.groups[e.cls]!.get(e.sigKey);
    return g !== undefined && g.head() === e;
  }

  /** All entries in the global order of service. O(n): for status views and regrouping. */
  *inOrder(): IterableIterator<E> {
    for (const c of PRIORITIES_DESC)
      for (const t of [0, 1] as const) yield* this.order[c * 2 + t]!.list as Iterable<E>;
  }

  /** 1-based global position; valid after flush(). */
  position(e: E): number {
    return this.orderList(e).lastCount + e.links.idx + 1;
  }

  vramAhead(e: E): number {
    return this.orderList(e).lastVram + e.links.vramBefore;
  }

  /** Recompute positions where they may have changed; visit exactly those entries. */
  flush(visit: (e: E) => void): void {
    let count = 0;
    let vram = 0;
    for (const c of PRIORITIES_DESC) {
      for (const t of [0, 1] as const) {
        const ol = this.order[c * 2 + t]!;
        const shifted = ol.lastCount !== count || ol.lastVram !== vram;
        const start = shifted ? ol.list.head : ol.dirty;
        ol.lastCount = count;
        ol.lastVram = vram;
        ol.dirty = null;
        if (start) {
          const prev = start.prev?.value;
          let idx = prev ? prev.links.idx + 1 : 0;
          let before = prev ? prev.links.vramBefore + prev.vramMb : 0;
          for (let n: ListNode<QueueItem> | null = start; n; n = n.next) {
            n.value.links.idx = idx++;
            n.value.links.vramBefore = before;
            before += n.value.vramMb;
            visit(n.value as E);
          }
        }
        count += ol.list.size;
        vram += ol.vram;
      }
    }
  }

  /** Re-key every entry (GPU set changed, so eligibility signatures did). O(n), rare. */
  regroup(keyOf: (e: E) => string): void {
    for (const byKey of this.groups) byKey.clear();
    for (const e of this.inOrder()) {
      e.sigKey = keyOf(e);
      this.addToGroup(e);
    }
  }
}
