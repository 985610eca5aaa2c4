/**
 * Measured usage from this host's nvidia-smi (PRODUCT.md §6): runs it every `periodMs` (0: never
 * periodically) and, through poll(), at once when memory was released on a GPU it measures.
 *
 * Why the extra runs: on a measured GPU the core holds released memory back as unaccounted until
 * a measurement shows it free (core/gpu-inventory.ts), so a waiter gets it only after the next
 * measurement. Running nvidia-smi right after the release makes that hand-off cost one nvidia-smi
 * run instead of up to one period. A process may take a moment to let go of its memory after
 * releasing its lease (teardown of a CUDA context), so while requests wait, the run is repeated
 * after 100, 200, 400, 800 and 1600 ms (fewer when the period is shorter); the period takes over
 * after that.
 *
 * Coalesced: at most one run in flight. A poll() asked for while one runs schedules exactly one
 * follow-up after it (that run may have started before the release, so it may not show the
 * memory free); any number of such requests share that follow-up. A new poll() restarts the
 * retry series. Periodic ticks that find a run in flight are skipped.
 */
import type { Logger } from "pino";
import { queryNvidiaSmi, type SmiGpu } from "./config/nvidia-smi.js";

export type PollTrigger = "period" | "release" | "retry";

/** Re-runs after a release-triggered run, while requests wait (see the module comment). */
export const RETRY_DELAYS_MS: readonly number[] = [100, 200, 400, 800, 1600];

export interface UsagePollerOptions {
  path: string;
  periodMs: number;
  /** Applies a measurement (called with the core idle, never from inside an event listener). */
  apply: (smi: SmiGpu[]) => void;
  /** Whether retries are worth running (some request waits). Default: always. */
  wanted?: () => boolean;
  /** Default RETRY_DELAYS_MS. */
  retryDelaysMs?: readonly number[];
  logger: Logger;
  /** Counts runs by trigger and result (metrics). */
  onRun?: (trigger: PollTrigger, ok: boolean) => void;
  query?: (path: string) => Promise<SmiGpu[]>;
}

export class UsagePoller {
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private running = false;
  /** A release-triggered run is owed after the one in flight. */
  private again = false;
  /** Next index into RETRY_DELAYS_MS. */
  private step = 0;
  private failing = false;
  private stopped = false;
  private readonly query: (path: string) => Promise<SmiGpu[]>;
  private readonly delays: readonly number[];

  constructor(private readonly opts: UsagePollerOptions) {
    this.query = opts.query ?? queryNvidiaSmi;
    this.delays = opts.retryDelaysMs ?? RETRY_DELAYS_MS;
  }

  start(): void {
    if (this.opts.periodMs <= 0 || this.timer || this.stopped) return;
    this.timer = setInterval(() => this.run("period"), this.opts.periodMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clearRetry();
  }

  /** Measure again as soon as possible (memory was released on a GPU nvidia-smi measures). */
  poll(): void {
    if (this.stopped) return;
    this.step = 0;
    this.clearRetry();
    if (this.running) this.again = true;
    else this.run("release");
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private scheduleRetry(): void {
    const delay = this.delays[this.step];
    if (delay === undefined || this.retryTimer) return;
    if (this.opts.periodMs > 0 && delay >= this.opts.periodMs) return;
    if (!(this.opts.wanted?.() ?? true)) return;
    this.step++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.running) this.again = true;
      else this.run("retry");
    }, delay);
    this.retryTimer.unref();
  }

  private run(trigger: PollTrigger): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.query(this.opts.path)
      .then((smi) => {
        if (this.failing) this.opts.logger.info("nvidia-smi answers again");
        this.failing = false;
        this.opts.onRun?.(trigger, true);
        if (this.stopped) return;
        try {
          this.opts.apply(smi);
        } catch (err) {
          this.opts.logger.error({ err }, "applying measured usage failed");
        }
      })
      .catch((err: unknown) => {
        this.opts.onRun?.(trigger, false);
        if (!this.failing)
          this.opts.logger.warn(
            { err: (err as Error).message },
            "nvidia-smi polling failed; memory released on its GPUs is held back until it answers",
          );
        this.failing = true;
      })
      .finally(() => {
        this.running = false;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.run("release");
        } else if (trigger !== "period") this.scheduleRetry();
      });
  }
}
