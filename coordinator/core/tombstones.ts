/**
 * Bounded memory of ended ids (leases released, requests finished). It makes release and acquire
 * idempotent for retries ("already released" instead of "never heard of it") without keeping
 * every id forever: the oldest are forgotten first (a Map iterates in insertion order).
 */
export class Tombstones<V = true> {
  private readonly map = new Map<string, V>();

  constructor(private readonly capacity: number) {}

  add(id: string, value: V): void {
    this.map.delete(id);
    this.map.set(id, value);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
  }

  has(id: string): boolean {
    return this.map.has(id);
  }

  get(id: string): V | undefined {
    return this.map.get(id);
  }

  entries(): [string, V][] {
    return [...this.map.entries()];
  }
}
