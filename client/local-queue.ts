/**
 * The local-mode mutex: one lease at a time in this process, served in request order.
 *
 * Order is by a sequence number taken when the caller asked for the lease, not by when it
 * reached this queue: when the coordinator goes away, several concurrent requests discover it at
 * about the same moment, in no guaranteed order. Requests whose connection attempt is still in
 * progress are "expected" (see expect()), and a later request is not served ahead of an earlier
 * expected one, so FIFO holds across that discovery too.
 */
import { CancelledError } from "./errors.js";

export interface LocalQueueStatus {
  /** 1-based position among local waiters. */
  position: number;
  /** Requests ahead of this one, including the running lease. */
  ahead: number;
}

interface Waiter {
  seq: number;
  resolve: (release: () => void) => void;
  reject: (err: unknown) => void;
  onQueued: ((status: LocalQueueStatus) => void) | undefined;
  lastPosition: number;
}

export class LocalQueue {
  #held = false;
  readonly #waiters: Waiter[] = [];
  readonly #expected = new Set<number>();
  #scheduled = false;

  /** Number of requests waiting (not counting the running one). */
  get waiting(): number {
    return this.#waiters.length;
  }

  get busy(): boolean {
    return this.#held;
  }

  /** Marks request `seq` as still trying the coordinator: later requests must not overtake it. */
  expect(seq: number): void {
    this.#expected.add(seq);
  }

  /** The request either reached the coordinator or is about to call acquire(): stop holding others. */
  unexpect(seq: number): void {
    if (this.#expected.delete(seq)) this.#schedule();
  }

  /**
   * Waits for the local mutex. Resolves with the function that releases it (idempotent).
   * Rejects with the signal's reason (a CancelledError) when the signal aborts first.
   */
  acquire(
    seq: number,
    signal?: AbortSignal,
    onQueued?: (status: LocalQueueStatus) => void,
  ): Promise<() => void> {
    this.#expected.delete(seq);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const waiter: Waiter = {
        seq,
        onQueued,
        lastPosition: 0,
        resolve: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
        reject,
      };
      const onAbort = (): void => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) {
          this.#waiters.splice(index, 1);
          this.#report();
        }
        reject(signal?.reason ?? new CancelledError("aborted", "local lease wait aborted"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const at = this.#waiters.findIndex((w) => w.seq > seq);
      this.#waiters.splice(at < 0 ? this.#waiters.length : at, 0, waiter);
      this.#schedule();
    });
  }

  // Granting is deferred by one macrotask so that requests failing over in the same burst are
  // all queued before the first is served.
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#grant();
    });
  }

  #grant(): void {
    const next = this.#waiters[0];
    if (this.#held || !next) {
      this.#report();
      return;
    }
    for (const seq of this.#expected) {
      if (seq < next.seq) {
        this.#report();
        return;
      }
    }
    this.#waiters.shift();
    this.#held = true;
    let released = false;
    next.resolve(() => {
      if (released) return;
      released = true;
      this.#held = false;
      this.#schedule();
    });
    this.#report();
  }

  #report(): void {
    this.#waiters.forEach((waiter, index) => {
      const position = index + 1;
      if (waiter.lastPosition === position || !waiter.onQueued) return;
      waiter.lastPosition = position;
      waiter.onQueued({ position, ahead: index + (this.#held ? 1 : 0) });
    });
  }
}
