/**
 * A push-to-pull bridge: producers push values, one consumer iterates them with for-await.
 * Used for the outgoing half of the eviction session (connect-node reads client messages from
 * an AsyncIterable) and for the queue-status iterator of an acquire.
 */
export class AsyncChannel<T> implements AsyncIterable<T> {
  readonly #buffer: T[] = [];
  #waiter: ((result: IteratorResult<T>) => void) | undefined;
  #closed = false;

  /** @param capacity oldest buffered values are dropped beyond this (a slow reader misses some). */
  constructor(private readonly capacity = Number.POSITIVE_INFINITY) {}

  get closed(): boolean {
    return this.#closed;
  }

  push(value: T): void {
    if (this.#closed) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter({ value, done: false });
      return;
    }
    this.#buffer.push(value);
    if (this.#buffer.length > this.capacity) this.#buffer.shift();
  }

  /** Ends the iteration once the buffered values are read. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.#buffer.length > 0) {
          return Promise.resolve({ value: this.#buffer.shift() as T, done: false });
        }
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.#waiter = resolve;
        });
      },
      return: () => {
        this.close();
        this.#buffer.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      // connect-node requires throw() on request iterables (it aborts them with it); like a
      // generator that does not catch, the channel ends and the error comes back.
      throw: (err?: unknown) => {
        this.close();
        this.#buffer.length = 0;
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      },
    };
  }
}
