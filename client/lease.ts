/**
 * Lease: the public handle of a granted slot, and LeaseCore, its internal state machine.
 * The coordinator client drives the core (keep-alive results, checkpoint and resume requests,
 * loss, close); the Lease facade only reads it, so callers cannot corrupt it.
 *
 * States: active → checkpointing → paused → active (resumed) …, ending in released (by the
 * holder) or lost (coordinator says so, unreachable past the TTL, or the client was closed).
 */
import type { Logger } from "pino";
import { LeaseLostError, type LeaseLostReason } from "./errors.js";
import type { KeepAlive } from "./keep-alive.js";
import { TypedEmitter } from "./typed-emitter.js";
import type { CoordinatorMode, PreemptionInfo, ResumeInfo } from "./types.js";
import type { VRAMSlot } from "./vram-slot.js";

export type LeaseState = "active" | "checkpointing" | "paused" | "released" | "lost";

export interface LeaseCallbacks {
  /**
   * Makes the lease evictable: called when a more urgent request needs the memory. Free the
   * GPU memory (save state, unload the model) and return; throw to refuse (the lease is kept).
   */
  checkpoint?: (lease: Lease, info: PreemptionInfo) => void | Promise<void>;
  /** Called when a paused lease is granted again (possibly on another GPU, see lease.gpuId). */
  resume?: (lease: Lease, info: ResumeInfo) => void | Promise<void>;
}

export interface LeaseEvents extends Record<string, unknown[]> {
  /** A checkpoint was requested; the checkpoint callback is about to run. */
  checkpointing: [info: PreemptionInfo];
  /** The checkpoint callback finished: the lease is paused and its VRAM went to the preemptor. */
  paused: [info: PreemptionInfo];
  /** The lease runs again; the resume callback has finished. */
  resumed: [info: ResumeInfo];
  /** The lease is gone; lease.signal aborted with the same error. */
  lost: [error: LeaseLostError];
  /** The holder released it. */
  released: [];
}

export interface LeaseCoreInit {
  mode: CoordinatorMode;
  id: string;
  requestId: string;
  slot: VRAMSlot;
  gpuId: string;
  node: string;
  vramMb: number;
  fencingToken: bigint;
  ttlMs: number;
  callbacks: LeaseCallbacks;
  logger: Logger;
  /** Frees the VRAM: the Release RPC, or the local mutex. Called once. */
  release: () => Promise<void>;
  /** The lease ended (released or lost): stop tracking it. Called once. */
  onEnded: () => void;
}

export class LeaseCore {
  readonly lease: Lease;
  readonly init: LeaseCoreInit;
  readonly emitter: TypedEmitter<LeaseEvents>;
  readonly controller = new AbortController();
  state: LeaseState = "active";
  gpuId: string;
  node: string;
  fencingToken: bigint;
  evictable = false;
  keepAlive: KeepAlive | undefined;
  #ended = false;
  #releasing: Promise<void> | undefined;

  constructor(init: LeaseCoreInit) {
    this.init = init;
    this.gpuId = init.gpuId;
    this.node = init.node;
    this.fencingToken = init.fencingToken;
    this.emitter = new TypedEmitter<LeaseEvents>((err, event) =>
      init.logger.error({ err, event, leaseId: init.id }, "cf-orch lease event listener threw"),
    );
    this.lease = new Lease(this);
  }

  get ended(): boolean {
    return this.#ended;
  }

  get #log(): Logger {
    return this.init.logger;
  }

  /** The lease is gone: abort its signal so the task stops, and tell listeners. */
  markLost(reason: LeaseLostReason, message: string, cause?: unknown): void {
    if (this.#ended) return;
    this.#end();
    this.state = "lost";
    const error = new LeaseLostError(this.init.id, reason, message, { cause });
    const level = reason === "closed" ? "info" : "warn";
    this.#log[level]({ leaseId: this.init.id, reason, service: this.init.slot.service }, message);
    this.controller.abort(error);
    this.emitter.emit("lost", error);
  }

  /** Aborts the task's signal without ending the lease (withLease's caller aborted). */
  abortTask(reason: unknown): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  release(): Promise<void> {
    this.#releasing ??= (async () => {
      const wasLive = !this.#ended;
      this.#end();
      if (this.state !== "lost") this.state = "released";
      try {
        await this.init.release();
      } catch (err) {
        // Releasing is best effort: an unreachable coordinator reclaims the VRAM after the TTL.
        this.#log.warn(
          { err, leaseId: this.init.id },
          "cf-orch release failed; the coordinator will reclaim the lease after its TTL",
        );
      }
      if (wasLive) this.emitter.emit("released");
    })();
    return this.#releasing;
  }

  /** Runs the checkpoint callback. Resolves with a refusal reason, or undefined when paused. */
  async checkpoint(info: PreemptionInfo): Promise<string | undefined> {
    const callback = this.init.callbacks.checkpoint;
    if (!callback) return "lease is not checkpointable";
    if (this.state !== "active") return `lease is ${this.state}`;
    this.state = "checkpointing";
    this.emitter.emit("checkpointing", info);
    try {
      await callback(this.lease, info);
    } catch (err) {
      if (this.state === "checkpointing") this.state = "active";
      this.#log.info({ err, leaseId: this.init.id }, "cf-orch checkpoint callback refused");
      return err instanceof Error ? err.message.slice(0, 256) : String(err).slice(0, 256);
    }
    if (this.#ended) return undefined;
    this.state = "paused";
    this.#log.info(
      { leaseId: this.init.id, preemptor: info.preemptorRequestId, by: info.preemptorService },
      "cf-orch lease paused for a more urgent request",
    );
    this.emitter.emit("paused", info);
    return undefined;
  }

  /** The coordinator granted the paused lease again: update it and run the resume callback. */
  async resume(gpuId: string, node: string, fencingToken: bigint): Promise<void> {
    if (this.#ended) return;
    const info: ResumeInfo = { gpuId, previousGpuId: this.gpuId, fencingToken };
    this.gpuId = gpuId;
    this.node = node;
    this.fencingToken = fencingToken;
    this.state = "active";
    try {
      await this.init.callbacks.resume?.(this.lease, info);
    } catch (err) {
      this.#log.error({ err, leaseId: this.init.id }, "cf-orch resume callback threw");
    }
    if (this.#ended) return;
    this.#log.info({ leaseId: this.init.id, gpuId }, "cf-orch lease resumed");
    this.emitter.emit("resumed", info);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.keepAlive?.stop();
    this.init.onEnded();
  }
}

/**
 * A granted VRAM budget. Release it with `release()`, or let `await using` / withLease do it.
 * Watch `signal`: it aborts (with a LeaseLostError) when the lease is lost and the task must stop
 * using the GPU.
 */
export class Lease implements AsyncDisposable {
  readonly #core: LeaseCore;

  /** @internal Created by ResourceCoordinator. */
  constructor(core: LeaseCore) {
    this.#core = core;
  }

  /** Lease id (local leases: "local-<uuid>"). */
  get id(): string {
    return this.#core.init.id;
  }
  /** The Acquire request id (the idempotency key). */
  get requestId(): string {
    return this.#core.init.requestId;
  }
  /** "coordinated" when the coordinator granted it, "local" in fallback mode. */
  get mode(): CoordinatorMode {
    return this.#core.init.mode;
  }
  get slot(): VRAMSlot {
    return this.#core.init.slot;
  }
  /** GPU id ("<node>/<index>"); may change on resume. Local leases: the slot's gpu or "". */
  get gpuId(): string {
    return this.#core.gpuId;
  }
  get node(): string {
    return this.#core.node;
  }
  get vramMb(): number {
    return this.#core.init.vramMb;
  }
  /** Strictly increasing per grant and resume across the coordinator; 0n for local leases. */
  get fencingToken(): bigint {
    return this.#core.fencingToken;
  }
  get ttlMs(): number {
    return this.#core.init.ttlMs;
  }
  get state(): LeaseState {
    return this.#core.state;
  }
  /** Whether the coordinator accepted it as evictable (checkpoint callback and session). */
  get evictable(): boolean {
    return this.#core.evictable;
  }
  /** Aborts when the task must stop using the GPU; `signal.reason` says why. */
  get signal(): AbortSignal {
    return this.#core.controller.signal;
  }

  on<K extends keyof LeaseEvents>(event: K, listener: (...args: LeaseEvents[K]) => void): this {
    this.#core.emitter.on(event, listener);
    return this;
  }
  off<K extends keyof LeaseEvents>(event: K, listener: (...args: LeaseEvents[K]) => void): this {
    this.#core.emitter.off(event, listener);
    return this;
  }
  once<K extends keyof LeaseEvents>(event: K, listener: (...args: LeaseEvents[K]) => void): this {
    this.#core.emitter.once(event, listener);
    return this;
  }

  /** Frees the VRAM. Idempotent; never throws (an unreachable coordinator reclaims it by TTL). */
  release(): Promise<void> {
    return this.#core.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#core.release();
  }
}
