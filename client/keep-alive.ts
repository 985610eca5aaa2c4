/**
 * Keeps one coordinated lease alive: a renewal every TTL/3, and a loss deadline.
 *
 * The deadline is measured from when the last successful renewal was *sent*: the coordinator
 * moved the expiry to (its receive time + TTL), which is no earlier, so when our deadline
 * passes the coordinator may already have given the VRAM to someone else and the task must
 * stop. A separate timer (not the next tick) fires the deadline, so loss is detected at
 * exactly TTL after the last renewal even while a renewal call hangs.
 *
 * Documented timings (TTL = the lease's ttl_ms, 30 s by default):
 * - renewal every TTL/3 (10 s);
 * - after a failed renewal, retries every min(TTL/3, 1 s);
 * - coordinator says NOT_FOUND (expired, released, revoked) → lost at that answer;
 * - coordinator unreachable → lost TTL after the last renewal that succeeded, i.e. at most
 *   TTL + TTL/3 after the coordinator went away (40 s by default).
 */
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { LeaseLostReason } from "./errors.js";
import { classifyFailure } from "./rpc-errors.js";

export type RenewOutcome = "renewed" | "gone";

export interface KeepAliveOptions {
  readonly leaseId: string;
  readonly ttlMs: number;
  /** One renewal; resolves "gone" when the coordinator no longer knows the lease. */
  readonly renew: (timeoutMs: number) => Promise<RenewOutcome>;
  readonly onLost: (reason: LeaseLostReason, message: string, cause?: unknown) => void;
  readonly logger: Logger;
}

export const MIN_RENEW_INTERVAL_MS = 50;
export const MAX_RETRY_INTERVAL_MS = 1000;

export function renewIntervalMs(ttlMs: number): number {
  return Math.max(MIN_RENEW_INTERVAL_MS, Math.floor(ttlMs / 3));
}

export class KeepAlive {
  readonly #intervalMs: number;
  #tick: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #stopped = false;
  #lastError: unknown;

  constructor(private readonly options: KeepAliveOptions) {
    this.#intervalMs = renewIntervalMs(options.ttlMs);
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** Starts the cycle; `aliveSince` is when the coordinator last vouched for the lease. */
  start(aliveSince = Date.now()): void {
    this.#armDeadline(aliveSince);
    this.#schedule(this.#intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#tick);
    clearTimeout(this.#deadline);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#tick);
    this.#tick = setTimeout(() => void this.#renew(), delayMs);
    // A held lease alone does not keep the process alive: the task using it does.
    this.#tick.unref();
  }

  #armDeadline(aliveSince: number): void {
    clearTimeout(this.#deadline);
    const remaining = Math.max(0, aliveSince + this.options.ttlMs - Date.now());
    this.#deadline = setTimeout(() => {
      if (this.#stopped) return;
      this.stop();
      this.options.onLost(
        "unreachable",
        `lease ${this.options.leaseId}: coordinator unreachable for longer than the lease TTL ` +
          `(${this.options.ttlMs} ms); the VRAM may have been given to another task`,
        this.#lastError,
      );
    }, remaining);
    this.#deadline.unref();
  }

  async #renew(): Promise<void> {
    if (this.#stopped) return;
    const sentAt = Date.now();
    let outcome: RenewOutcome;
    try {
      outcome = await this.options.renew(this.#intervalMs);
    } catch (err) {
      if (this.#stopped) return;
      const failure = classifyFailure(err);
      if (
        failure.kind === "fatal" &&
        (failure.code === Code.PermissionDenied || failure.code === Code.Unauthenticated)
      ) {
        this.stop();
        this.options.onLost("revoked", `lease ${this.options.leaseId}: ${failure.message}`, err);
        return;
      }
      this.#lastError = err;
      this.options.logger.debug(
        { leaseId: this.options.leaseId, err: failure.message, errnos: failure.errnos },
        "cf-orch keep-alive failed; retrying",
      );
      this.#schedule(Math.min(this.#intervalMs, MAX_RETRY_INTERVAL_MS));
      return;
    }
    if (this.#stopped) return;
    if (outcome === "gone") {
      this.stop();
      this.options.onLost(
        "not_found",
        `lease ${this.options.leaseId} is no longer known to the coordinator (expired, released or revoked)`,
      );
      return;
    }
    this.#lastError = undefined;
    this.#armDeadline(sentAt);
    this.#schedule(this.#intervalMs);
  }
}
