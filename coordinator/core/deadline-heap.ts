/**
 * Binary min-heap of (time, key) with lazy deletion. Lease expiries and checkpoint deadlines are
 * pushed on every keep-alive; instead of a decrease-key we push a new item and let the owner
 * discard stale ones when they surface (`isLive`). The heap is rebuilt from the live items when
 * stale ones dominate, so memory stays proportional to the live deadlines.
 */
export interface DeadlineItem {
  at: number;
  kind: "lease" | "eviction";
  /** Lease id (for "eviction": the victim's lease id). */
  id: string;
}

export class DeadlineHeap {
  private items: DeadlineItem[] = [];

  get size(): number {
    return this.items.length;
  }

  push(item: DeadlineItem): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = a[p]!;
      if (parent.at <= item.at) break;
      a[i] = parent;
      i = p;
    }
    a[i] = item;
  }

  peek(): DeadlineItem | undefined {
    return this.items[0];
  }

  pop(): DeadlineItem | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && a[r]!.at < a[l]!.at ? r : l;
      if (a[c]!.at >= last.at) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }

  /** Drop stale items when they are more than half of the heap (amortised O(1) per push). */
  compact(isLive: (item: DeadlineItem) => boolean, liveCount: number): void {
    if (this.items.length < 1024 || this.items.length < 2 * liveCount) return;
    const keep = this.items.filter(isLive);
    this.items = [];
    for (const it of keep) this.push(it);
  }
}
