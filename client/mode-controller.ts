/**
 * Coordinated vs local mode. Entering local mode logs one warning (not one per lease: a
 * product running hundreds of tasks would drown its logs) and starts probing the coordinator
 * with exponential back-off (1 s → 30 s by default). The first answer of any kind, even an
 * error status, proves it is back: new leases go to it again; leases already running locally
 * finish locally.
 */
import type { Logger } from "pino";
import { Backoff, sleep, type BackoffOptions } from "./backoff.js";
import { classifyFailure } from "./rpc-errors.js";
import type { CoordinatorMode } from "./types.js";

export interface ModeControllerOptions {
  readonly url: string;
  readonly logger: Logger;
  readonly probe: BackoffOptions;
  /** One reachability check; rejects when the coordinator cannot be reached. */
  readonly check: () => Promise<void>;
  readonly onChange: (mode: CoordinatorMode, previous: CoordinatorMode) => void;
}

export class ModeController {
  #mode: CoordinatorMode = "coordinated";
  #probing: AbortController | undefined;
  #closed = false;

  constructor(private readonly options: ModeControllerOptions) {}

  get mode(): CoordinatorMode {
    return this.#mode;
  }

  /** The coordinator could not be reached: switch to local mode (once) and start probing. */
  enterLocal(cause: unknown): void {
    if (this.#mode === "local" || this.#closed) return;
    const failure = classifyFailure(cause);
    const { initialMs, maxMs } = this.options.probe;
    this.options.logger.warn(
      { url: this.options.url, err: failure.message, errnos: failure.errnos },
      `cf-orch coordinator unreachable at ${this.options.url}: running leases locally, one at a ` +
        `time in this process, WITHOUT coordination with other products; retrying the ` +
        `coordinator with back-off (${initialMs} ms → ${maxMs} ms)`,
    );
    this.#set("local");
    void this.#probe();
  }

  close(): void {
    this.#closed = true;
    this.#probing?.abort();
  }

  #set(mode: CoordinatorMode): void {
    const previous = this.#mode;
    if (previous === mode) return;
    this.#mode = mode;
    this.options.onChange(mode, previous);
  }

  async #probe(): Promise<void> {
    if (this.#probing) return;
    const controller = new AbortController();
    this.#probing = controller;
    const backoff = new Backoff(this.options.probe);
    try {
      for (let attempt = 1; !controller.signal.aborted; attempt++) {
        // Probe timers are unref'd: probing alone never keeps the process alive.
        await sleep(backoff.nextDelay(), controller.signal, true);
        try {
          await this.options.check();
        } catch (err) {
          if (classifyFailure(err).kind !== "fatal") continue;
          // Any status from the server (UNIMPLEMENTED, UNAUTHENTICATED...) means it is there.
        }
        if (controller.signal.aborted) return;
        this.options.logger.info(
          { url: this.options.url, attempts: attempt },
          `cf-orch coordinator at ${this.options.url} is reachable again: new leases are coordinated`,
        );
        this.#set("coordinated");
        return;
      }
    } catch {
      // Aborted by close().
    } finally {
      if (this.#probing === controller) this.#probing = undefined;
    }
  }
}
