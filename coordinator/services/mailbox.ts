/**
 * A small async queue for streaming handlers: producers push synchronously (from core event
 * listeners), the handler awaits `next()`, which also wakes on a timeout (heartbeats) and
 * rejects when the call's signal aborts. connect-node's `ctx.signal` fires when the client goes
 * away, the deadline passes, or the server shuts down, but a handler only notices while it
 * waits on something abortable: this is that something.
 */
import { ConnectError, Code } from "@connectrpc/connect";

export const TIMEOUT: unique symbol = Symbol("timeout");
export const CLOSED: unique symbol = Symbol("closed");

export function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof ConnectError) return r;
  if (r instanceof Error && r.name === "TimeoutError")
    return new ConnectError("the call's deadline passed", Code.DeadlineExceeded);
  return new ConnectError("the call was cancelled", Code.Canceled);
}

export class Mailbox<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  get size(): number {
    return this.items.length;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Drops queued items that match (e.g. superseded status updates). */
  drain(): T[] {
    return this.items.splice(0, this.items.length);
  }

  /**
   * The next item; TIMEOUT after `timeoutMs` (if given); CLOSED once closed and empty.
   * Rejects with a ConnectError when `signal` aborts.
   */
  async next(signal: AbortSignal, timeoutMs?: number): Promise<T | typeof TIMEOUT | typeof CLOSED> {
    if (signal.aborted) throw abortError(signal);
    if (this.items.length > 0) return this.items.shift()!;
    if (this.closed) return CLOSED;
    return new Promise<T | typeof TIMEOUT | typeof CLOSED>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.waiter = undefined;
      };
      const onAbort = () => {
        cleanup();
        reject(abortError(signal));
      };
      this.waiter = () => {
        cleanup();
        if (this.items.length > 0) resolve(this.items.shift()!);
        else resolve(CLOSED);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => {
            cleanup();
            resolve(TIMEOUT);
          },
          Math.max(0, timeoutMs),
        );
      }
    });
  }
}

/** Resolves after `ms`, rejecting early when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
