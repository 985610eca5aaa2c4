/**
 * Exponential back-off with jitter, and an abortable sleep. Jitter (±20 %) keeps many clients
 * that lost the same coordinator from reconnecting in lock-step when it comes back.
 */
export interface BackoffOptions {
  /** First delay in milliseconds. */
  initialMs: number;
  /** Upper bound of the delay in milliseconds. */
  maxMs: number;
  /** Growth factor per attempt; default 2. */
  factor?: number;
}

export class Backoff {
  #next: number;

  constructor(private readonly options: BackoffOptions) {
    this.#next = options.initialMs;
  }

  /** The delay before the next attempt; each call grows the following one. */
  nextDelay(): number {
    const base = this.#next;
    this.#next = Math.min(this.options.maxMs, base * (this.options.factor ?? 2));
    const jittered = base * (0.8 + Math.random() * 0.4);
    return Math.max(1, Math.min(this.options.maxMs, Math.round(jittered)));
  }

  reset(): void {
    this.#next = this.options.initialMs;
  }
}

/**
 * Resolves after `ms`, or rejects with the signal's reason when it aborts first. Background
 * loops pass `unref` so that a probe alone never keeps the process alive; a caller awaiting a
 * retry must not (Node would exit with the promise pending).
 */
export function sleep(ms: number, signal?: AbortSignal, unref = false): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    if (unref) timer.unref();
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
