/**
 * ResourceCoordinator: the client products use to lease VRAM (PRODUCT.md §5).
 *
 * Coordinated mode: each lease is an Acquire stream (queue updates, then GRANTED), kept alive by
 * KeepAlive calls every TTL/3, made evictable through one shared eviction session when the
 * caller passes checkpoint/resume callbacks. Local mode (coordinator unreachable,
 * fallback "local"): leases are served one at a time from an in-process FIFO mutex until the
 * background probe finds the coordinator again.
 */
import { randomUUID } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import type { Logger } from "pino";
import { PriorityClass } from "../gen/ts/cforch/v1/common_pb.js";
import { EvictionService, type CheckpointRequest } from "../gen/ts/cforch/v1/eviction_pb.js";
import { LeaseService, type Lease as ProtoLease } from "../gen/ts/cforch/v1/lease_pb.js";
import { GpuProfileService } from "../gen/ts/cforch/v1/profile_pb.js";
import { Health } from "../gen/ts/grpc/health/v1/health_pb.js";
import { acquireLease } from "./acquire-stream.js";
import {
  CancelledError,
  CfOrchError,
  CoordinatorUnavailableError,
  InvalidSlotError,
} from "./errors.js";
import { EvictionSession } from "./eviction-session.js";
import type { CheckFitQuery, CheckFitResult, GpuProfileInfo } from "./gpu-profiles.js";
import { KeepAlive } from "./keep-alive.js";
import { Lease, LeaseCore, type LeaseCallbacks } from "./lease.js";
import { releaseLease, renewLease, withdrawRequest } from "./lease-rpc.js";
import { LocalQueue } from "./local-queue.js";
import { ModeController } from "./mode-controller.js";
import {
  DEFAULT_TTL_MS,
  resolveOptions,
  type ResolvedOptions,
  type ResourceCoordinatorOptions,
} from "./options.js";
import { ProfileQueries } from "./profile-queries.js";
import { createCoordinatorTransport, type CoordinatorTransport } from "./transport.js";
import { TypedEmitter } from "./typed-emitter.js";
import type { CoordinatorMode, PreemptionInfo, QueueUpdate } from "./types.js";
import { UpdateFeed } from "./update-feed.js";
import { VRAMSlot, type PriorityName, type VRAMSlotInit } from "./vram-slot.js";
import { waitSignal } from "./wait-signal.js";

export interface LeaseOptions extends LeaseCallbacks {
  /** Stops waiting when it aborts (CancelledError "aborted"); in withLease also aborts lease.signal. */
  signal?: AbortSignal;
  /** Stops waiting after this many milliseconds (CancelledError "timeout"). Covers the wait only. */
  timeoutMs?: number;
  /** Called with every queue update while waiting. */
  onQueued?: (update: QueueUpdate) => void;
  /** TTL for this lease; default the coordinator option, then the coordinator's default. */
  ttlMs?: number;
}

export interface CoordinatorEvents extends Record<string, unknown[]> {
  /** The mode changed ("local" when the coordinator became unreachable, "coordinated" when back). */
  mode: [mode: CoordinatorMode, previous: CoordinatorMode];
}

/** A lease request in flight: its id, its queue updates, and the lease it will become. */
export interface LeaseRequest {
  readonly requestId: string;
  /** Resolves with the granted lease; rejects with a CfOrchError. */
  readonly lease: Promise<Lease>;
  /** Queue updates from now until the request is granted or fails (then the iteration ends). */
  updates(): AsyncIterableIterator<QueueUpdate>;
}

const PRIORITY_NAMES: Partial<Record<PriorityClass, PriorityName>> = {
  [PriorityClass.BATCH]: "batch",
  [PriorityClass.LOW]: "low",
  [PriorityClass.NORMAL]: "normal",
  [PriorityClass.HIGH]: "high",
  [PriorityClass.CRITICAL]: "critical",
};

interface Clients {
  lease: Client<typeof LeaseService>;
  eviction: Client<typeof EvictionService>;
  profile: Client<typeof GpuProfileService>;
  health: Client<typeof Health>;
}

export class ResourceCoordinator implements AsyncDisposable {
  readonly url: string;
  readonly service: string;
  readonly holderId: string;
  readonly fallback: "local" | "error";
  readonly #opts: ResolvedOptions;
  readonly #log: Logger;
  readonly #clients: Clients;
  readonly #ownedTransport: CoordinatorTransport | undefined;
  readonly #modes: ModeController;
  readonly #profiles: ProfileQueries;
  readonly #emitter: TypedEmitter<CoordinatorEvents>;
  readonly #localQueue = new LocalQueue();
  readonly #held = new Set<LeaseCore>();
  readonly #coordinated = new Map<string, LeaseCore>();
  readonly #background = new Set<Promise<unknown>>();
  readonly #closing = new AbortController();
  #session: EvictionSession | undefined;
  #seq = 0;
  #closed: Promise<void> | undefined;

  constructor(options: ResourceCoordinatorOptions) {
    this.#opts = resolveOptions(options);
    this.url = this.#opts.url;
    this.service = this.#opts.service;
    this.holderId = this.#opts.holderId;
    this.fallback = this.#opts.fallback;
    this.#log = this.#opts.logger.child({ service: this.service, holderId: this.holderId });
    this.#emitter = new TypedEmitter<CoordinatorEvents>((err, event) =>
      this.#log.error({ err, event }, "cf-orch event listener threw"),
    );
    let transport = this.#opts.transport;
    if (!transport) {
      this.#ownedTransport = createCoordinatorTransport({
        url: this.url,
        token: this.#opts.token,
        connectTimeoutMs: this.#opts.connectTimeoutMs,
        pingIntervalMs: 15_000,
      });
      transport = this.#ownedTransport.transport;
    }
    this.#clients = {
      lease: createClient(LeaseService, transport),
      eviction: createClient(EvictionService, transport),
      profile: createClient(GpuProfileService, transport),
      health: createClient(Health, transport),
    };
    this.#profiles = new ProfileQueries({
      client: this.#clients.profile,
      url: this.url,
      offline: () => this.mode === "local",
      signal: this.#closing.signal,
    });
    this.#modes = new ModeController({
      url: this.url,
      logger: this.#log,
      probe: this.#opts.probe,
      check: async () => {
        await this.#clients.health.check(
          {},
          { timeoutMs: this.#opts.connectTimeoutMs + 2_000, signal: this.#closing.signal },
        );
      },
      onChange: (mode, previous) => this.#emitter.emit("mode", mode, previous),
    });
  }

  /** "coordinated", or "local" while the coordinator is unreachable (fallback "local"). */
  get mode(): CoordinatorMode {
    return this.#modes.mode;
  }

  on<K extends keyof CoordinatorEvents>(
    event: K,
    listener: (...args: CoordinatorEvents[K]) => void,
  ): this {
    this.#emitter.on(event, listener);
    return this;
  }

  off<K extends keyof CoordinatorEvents>(
    event: K,
    listener: (...args: CoordinatorEvents[K]) => void,
  ): this {
    this.#emitter.off(event, listener);
    return this;
  }

  once<K extends keyof CoordinatorEvents>(
    event: K,
    listener: (...args: CoordinatorEvents[K]) => void,
  ): this {
    this.#emitter.once(event, listener);
    return this;
  }

  /** Waits for a lease. Release it with `release()` or `await using`. */
  lease(slot: VRAMSlot | VRAMSlotInit, options: LeaseOptions = {}): Promise<Lease> {
    return this.#start(slot, options, randomUUID(), undefined).then((core) => core.lease);
  }

  /** Like lease(), exposing the request id and an async iterator of queue updates. */
  acquire(slot: VRAMSlot | VRAMSlotInit, options: LeaseOptions = {}): LeaseRequest {
    const requestId = randomUUID();
    const feed = new UpdateFeed<QueueUpdate>();
    const lease = this.#start(slot, options, requestId, (update) => feed.publish(update))
      .then((core) => core.lease)
      .finally(() => feed.end());
    // The caller may only iterate the updates; the failure still reaches whoever awaits `lease`.
    lease.catch(() => undefined);
    return { requestId, lease, updates: () => feed.iterate() };
  }

  /**
   * Runs `fn` under a lease and releases it on every exit path (return, throw, abort). When
   * `options.signal` aborts while `fn` runs, `lease.signal` aborts too (reason: CancelledError)
   * and the lease is released once `fn` settles: the VRAM stays accounted for as long as the
   * task may still use it.
   */
  async withLease<T>(
    slot: VRAMSlot | VRAMSlotInit,
    fn: (lease: Lease) => T | Promise<T>,
    options: LeaseOptions = {},
  ): Promise<T> {
    const core = await this.#start(slot, options, randomUUID(), undefined);
    const signal = options.signal;
    const onAbort = (): void =>
      core.abortTask(
        new CancelledError(
          "aborted",
          "withLease aborted by the caller while holding the lease",
          signal?.reason,
        ),
      );
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await fn(core.lease);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      await core.release();
    }
  }

  /** A GPU profile by name, from the coordinator, or from the bundled registry when it is unreachable. */
  getGpuProfile(name: string, options: { vramMb?: number } = {}): Promise<GpuProfileInfo> {
    return this.#profiles.getGpuProfile(name, options);
  }

  /**
   * Which of fp16 / int8 / int4 fit a GPU, through the coordinator; from the bundled registry
   * when it is unreachable (gpuName only: a gpuId needs the coordinator).
   */
  checkFit(query: CheckFitQuery): Promise<CheckFitResult> {
    return this.#profiles.checkFit(query);
  }

  /** Releases every held lease (their signals abort), ends the session, stops probing. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort(new CancelledError("closed", "ResourceCoordinator closed"));
      this.#modes.close();
      const held = [...this.#held];
      for (const core of held) {
        core.markLost(
          "closed",
          `lease ${core.init.id}: ResourceCoordinator closed while it was held`,
        );
      }
      await Promise.all(held.map((core) => core.release()));
      await this.#session?.close();
      await Promise.allSettled([...this.#background]);
      this.#ownedTransport?.close();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- acquisition ----

  async #start(
    slotInput: VRAMSlot | VRAMSlotInit,
    options: LeaseOptions,
    requestId: string,
    publish: ((update: QueueUpdate) => void) | undefined,
  ): Promise<LeaseCore> {
    if (this.#closed) throw new CfOrchError("ResourceCoordinator is closed");
    const slot = slotInput instanceof VRAMSlot ? slotInput : new VRAMSlot(slotInput);
    const ttlMs = checkTtl(options.ttlMs) ?? this.#opts.ttlMs;
    const onQueued = (update: QueueUpdate): void => {
      publish?.(update);
      try {
        options.onQueued?.(update);
      } catch (err) {
        this.#log.error({ err, requestId }, "cf-orch onQueued callback threw");
      }
    };
    const wait = waitSignal(options.signal, options.timeoutMs, this.#closing.signal);
    const seq = ++this.#seq;
    try {
      if (this.mode === "coordinated") {
        try {
          return await this.#startCoordinated(
            seq,
            slot,
            options,
            requestId,
            ttlMs,
            wait.signal,
            onQueued,
          );
        } catch (err) {
          if (!(err instanceof CoordinatorUnavailableError) || this.fallback === "error") throw err;
          this.#modes.enterLocal(err.cause);
        }
      }
      return await this.#startLocal(seq, slot, requestId, wait.signal, onQueued);
    } finally {
      this.#localQueue.unexpect(seq);
      wait.dispose();
    }
  }

  async #startCoordinated(
    seq: number,
    slot: VRAMSlot,
    options: LeaseOptions,
    requestId: string,
    ttlMs: number,
    signal: AbortSignal,
    onQueued: (update: QueueUpdate) => void,
  ): Promise<LeaseCore> {
    // Until this request hears from the coordinator, a later one must not overtake it in the
    // local queue should both fail over (see LocalQueue).
    this.#localQueue.expect(seq);
    let granted: ProtoLease;
    try {
      granted = await acquireLease(
        {
          client: this.#clients.lease,
          url: this.url,
          logger: this.#log,
          retry: this.#opts.retry,
          reconnectWindowMs: this.#opts.reconnectWindowMs,
        },
        { requestId, slot, ttlMs, holderId: this.holderId },
        { signal, onQueued, onContact: () => this.#localQueue.unexpect(seq) },
      );
    } catch (err) {
      if (err instanceof CancelledError) {
        // The caller gave up: Release by request id (see withdrawRequest). In the background:
        // the caller's rejection does not wait for the coordinator.
        this.#track(
          withdrawRequest(this.#clients.lease, requestId, {
            delayMs: this.#opts.retry.initialMs,
          }).then(
            (outcome) =>
              this.#log[outcome === "unreachable" ? "info" : "debug"](
                { requestId, outcome },
                outcome === "unreachable"
                  ? "cf-orch could not withdraw a cancelled request; anything granted to it expires after its TTL"
                  : "cf-orch withdrew a cancelled request",
              ),
            (e: unknown) =>
              this.#log.warn(
                { err: e, requestId },
                "cf-orch withdrawing a cancelled request failed",
              ),
          ),
        );
      }
      throw err;
    }
    const receivedAt = Date.now();
    this.#localQueue.unexpect(seq);
    const core = this.#adopt(granted, slot, options, requestId, ttlMs, receivedAt);
    if (signal.aborted) {
      // A grant raced the cancel: give it back.
      await core.release();
      throw signal.reason;
    }
    if (options.checkpoint) await this.#makeEvictable(core);
    return core;
  }

  #adopt(
    granted: ProtoLease,
    slot: VRAMSlot,
    options: LeaseOptions,
    requestId: string,
    requestedTtlMs: number,
    receivedAt: number,
  ): LeaseCore {
    const id = granted.leaseId;
    const ttlMs = granted.ttlMs || requestedTtlMs || DEFAULT_TTL_MS;
    const logger = this.#log.child({ leaseId: id });
    const core: LeaseCore = new LeaseCore({
      mode: "coordinated",
      id,
      requestId: granted.requestId || requestId,
      slot,
      gpuId: granted.gpuId,
      node: granted.node,
      vramMb: Number(granted.vramMb) || slot.vramMb,
      fencingToken: granted.fencingToken,
      ttlMs,
      callbacks: { checkpoint: options.checkpoint, resume: options.resume },
      logger,
      release: () => releaseLease(this.#clients.lease, id),
      onEnded: () => {
        this.#held.delete(core);
        this.#coordinated.delete(id);
        this.#session?.forget(id);
      },
    });
    this.#held.add(core);
    this.#coordinated.set(id, core);
    core.keepAlive = new KeepAlive({
      leaseId: id,
      ttlMs,
      logger,
      renew: (timeoutMs) =>
        renewLease(this.#clients.lease, id, core.state === "paused", {
          timeoutMs,
          signal: this.#closing.signal,
        }),
      onLost: (reason, message, cause) => core.markLost(reason, message, cause),
    });
    core.keepAlive.start(receivedAt);
    logger.debug(
      { gpuId: granted.gpuId, vramMb: core.init.vramMb, ttlMs },
      "cf-orch lease granted",
    );
    return core;
  }

  async #makeEvictable(core: LeaseCore): Promise<void> {
    this.#session ??= new EvictionSession({
      client: this.#clients.eviction,
      holderId: this.holderId,
      service: this.service,
      logger: this.#log,
      reconnect: this.#opts.retry,
      registerTimeoutMs: this.#opts.registerTimeoutMs,
      handlers: {
        registered: (leaseId) => {
          const core = this.#coordinated.get(leaseId);
          if (core && !core.ended && core.init.callbacks.checkpoint) core.evictable = true;
        },
        checkpoint: (leaseId, request) => this.#onCheckpoint(leaseId, request),
        resume: async (lease) => {
          await this.#coordinated
            .get(lease.leaseId)
            ?.resume(lease.gpuId, lease.node, lease.fencingToken);
        },
        lost: (leaseId, reason) =>
          this.#coordinated.get(leaseId)?.markLost(
            // Expired or dropped: the coordinator forgot it; anything else was taken away.
            /expire|drop|not found/i.test(reason) ? "not_found" : "revoked",
            `lease ${leaseId} lost: ${reason || "reported by the coordinator"}`,
          ),
      },
    });
    try {
      await this.#session.register(core.init.id);
      core.evictable = !core.ended;
    } catch (err) {
      // The lease stays valid, just not evictable: better than failing work that could run.
      // The session keeps it registered and flips lease.evictable once the coordinator accepts
      // it (e.g. after a previous session of this holder is closed).
      core.init.logger.warn(
        { err },
        "cf-orch could not register the lease as evictable yet; the session keeps trying",
      );
    }
  }

  async #onCheckpoint(leaseId: string, request: CheckpointRequest): Promise<string | undefined> {
    const core = this.#coordinated.get(leaseId);
    if (!core) return "unknown lease";
    const info: PreemptionInfo = {
      preemptorRequestId: request.preemptorRequestId,
      preemptorService: request.preemptorService,
      preemptorPriority: PRIORITY_NAMES[request.preemptorPriority] ?? "unspecified",
      deadline: request.deadline ? timestampDate(request.deadline) : undefined,
    };
    return core.checkpoint(info);
  }

  async #startLocal(
    seq: number,
    slot: VRAMSlot,
    requestId: string,
    signal: AbortSignal,
    onQueued: (update: QueueUpdate) => void,
  ): Promise<LeaseCore> {
    const unlock = await this.#localQueue.acquire(seq, signal, (status) =>
      onQueued({
        mode: "local",
        requestId,
        position: status.position,
        vramAheadMb: 0,
        reason: "local",
        reasonText: `coordinator unreachable: waiting behind ${status.ahead} local lease(s) of this process`,
      }),
    );
    if (signal.aborted) {
      unlock();
      throw signal.reason;
    }
    const id = `local-${randomUUID()}`;
    const core: LeaseCore = new LeaseCore({
      mode: "local",
      id,
      requestId,
      slot,
      gpuId: slot.gpu ?? "",
      node: slot.node ?? "",
      vramMb: slot.vramMb,
      fencingToken: 0n,
      ttlMs: 0,
      callbacks: {},
      logger: this.#log.child({ leaseId: id }),
      release: async () => unlock(),
      onEnded: () => this.#held.delete(core),
    });
    this.#held.add(core);
    return core;
  }

  #track(promise: Promise<unknown>): void {
    this.#background.add(promise);
    void promise.finally(() => this.#background.delete(promise));
  }
}

function checkTtl(ttlMs: number | undefined): number | undefined {
  if (ttlMs === undefined) return undefined;
  if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > 3_600_000) {
    throw new InvalidSlotError(
      "ttlMs",
      "ttlMs must be a whole number of milliseconds in [1, 3600000]",
    );
  }
  return ttlMs;
}
