/**
 * The glue between the scheduling core and the RPC handlers:
 * - fans the core's synchronous events out to the streams that wait for them (by request id
 *   and by holder id) and to status watchers, logs them and counts them for /metrics;
 * - persists them first: the events of one core call are collected while it runs and, when it
 *   returns, their durable effect is written to the store in ONE transaction; only then are
 *   they delivered (so no GRANTED or resume ever leaves for a lease the store does not know).
 *   A store write that fails stops the coordinator (fail-stop) instead of serving on from a
 *   state that a restart would not reproduce;
 * - keeps ONE timer armed at scheduler.nextDeadline() that calls advance() (lease expiry and
 *   checkpoint deadlines);
 * - keeps the revision counter of GetStatus;
 * - knows whether the coordinator is shutting down.
 *
 * Core listeners must not call back into the scheduler (events fire mid-update), so listeners
 * here only push into mailboxes and counters.
 */
import { setMaxListeners } from "node:events";
import type { Logger } from "pino";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Clock, CoreEvent, Lease, Scheduler } from "./core/index.js";
import type { GpuCatalog } from "./gpus.js";
import type { LeaseStore, StoreBatch, StoredGpu } from "./storage/index.js";
import { Metrics } from "./metrics.js";
import { PRIORITY_NAMES } from "./services/convert.js";
import { toConnectError } from "./services/validate.js";

type Listener = (e: CoreEvent) => void;

/** Longest setTimeout delay Node accepts. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Request ids remembered after they end, to tell "already released" from "never issued". */
const REMEMBERED_REQUESTS = 100_000;
/** Sent with UNAVAILABLE at shutdown: when a caller may retry (the same request id). */
export const RETRY_AFTER_MS = 1000;

/** UNAVAILABLE with a retry hint (message, and a `retry-after-ms` header/trailer). */
export function unavailable(message: string): ConnectError {
  return new ConnectError(message, Code.Unavailable, { "retry-after-ms": String(RETRY_AFTER_MS) });
}

function requestIdOf(e: CoreEvent): string | undefined {
  switch (e.type) {
    case "queued":
      return e.entry.requestId;
    case "granted":
    case "released":
    case "paused":
    case "resumed":
    case "paused-dropped":
      return e.lease.requestId;
    case "checkpoint-requested":
      return e.victim.requestId;
    case "request-failed":
    case "cancelled":
      return e.requestId;
    case "eviction-abandoned":
      return undefined;
  }
}

function holderIdOf(e: CoreEvent): string | undefined {
  switch (e.type) {
    case "checkpoint-requested":
      return e.victim.holderId;
    case "paused":
    case "resumed":
    case "paused-dropped":
    case "released":
      return e.lease.holderId;
    default:
      return undefined;
  }
}

export class Runtime {
  readonly metrics = new Metrics();
  readonly shutdown = new AbortController();
  private readonly byRequest = new Map<string, Set<Listener>>();
  private readonly byHolder = new Map<string, Set<Listener>>();
  private readonly changeListeners = new Set<() => void>();
  private readonly seenRequests = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private revisionNo = 1n;
  private stopped = false;
  private readonly unsubscribe: () => void;
  /** Nesting of call()/tick(): events are flushed when the outermost one returns. */
  private depth = 0;
  private pending: CoreEvent[] = [];
  /** Leases changed without an event (evictable registrations): written at the next flush. */
  private dirty = new Set<string>();
  private flushQueued = false;
  private failure: Error | undefined;
  /** Resumes not yet sent to the holder's eviction session (lease id → holder id). */
  readonly pendingResumes = new Map<string, string>();
  /** Leases that were checkpointing when the coordinator last stopped (see eviction.ts). */
  readonly wereCheckpointing = new Set<string>();
  /** Called once when the store cannot be written (the server shuts down). */
  onFatal: ((err: Error) => void) | undefined;

  constructor(
    readonly scheduler: Scheduler,
    readonly gpus: GpuCatalog,
    readonly clock: Clock,
    readonly logger: Logger,
    readonly store?: LeaseStore,
  ) {
    this.unsubscribe = scheduler.onEvent((e) => this.onEvent(e));
    // connect links every call's signal to the shutdown signal: one listener per open call.
    setMaxListeners(0, this.shutdown.signal);
  }

  get shuttingDown(): boolean {
    return this.shutdown.signal.aborted;
  }

  get revision(): bigint {
    return this.revisionNo;
  }

  /** Set when the store could not be written: the coordinator is stopping. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Throws UNAVAILABLE once shutdown started. */
  assertServing(): void {
    if (this.shuttingDown)
      throw unavailable("the coordinator is shutting down; retry with the same request_id");
  }

  /**
   * Runs a core call, maps CoreError to ConnectError, persists and delivers its events, then
   * re-arms the deadline timer. `touched`: leases the call changes without an event (their rows
   * are rewritten in the same transaction).
   */
  call<T>(fn: () => T, touched?: Iterable<string>): T {
    this.depth++;
    try {
      return fn();
    } catch (err) {
      throw toConnectError(err);
    } finally {
      if (touched) for (const id of touched) this.dirty.add(id);
      this.depth--;
      this.arm();
      if (this.depth === 0) this.flush();
    }
  }

  /** Something changed that the core does not report as an event (keep-alive, usage). */
  touch(): void {
    this.revisionNo++;
    for (const l of this.changeListeners) l();
  }

  /**
   * A routine change (periodic renewals): the revision moves, so equal revisions still mean
   * equal snapshots, but watchers are not woken for it; they see it with the next real change.
   */
  bump(): void {
    this.revisionNo++;
  }

  subscribeRequest(requestId: string, fn: Listener): () => void {
    return add(this.byRequest, requestId, fn);
  }

  subscribeHolder(holderId: string, fn: Listener): () => void {
    return add(this.byHolder, holderId, fn);
  }

  onChange(fn: () => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  /** Whether this coordinator ever saw the request id (bounded memory). */
  knowsRequest(requestId: string): boolean {
    return this.seenRequests.has(requestId);
  }

  rememberRequest(requestId: string): void {
    if (this.seenRequests.has(requestId)) return;
    this.seenRequests.add(requestId);
    if (this.seenRequests.size > REMEMBERED_REQUESTS) {
      const oldest = this.seenRequests.values().next().value;
      if (oldest !== undefined) this.seenRequests.delete(oldest);
    }
  }

  /** (Re)arms the single deadline timer at the core's next deadline. */
  arm(): void {
    if (this.stopped) return;
    const next = this.scheduler.nextDeadline();
    if (next === undefined) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = undefined;
      return;
    }
    if (this.timer && this.timerAt === next) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - this.clock.now()));
    this.timerAt = next;
    this.timer = setTimeout(() => this.fire(), delay + 1);
    this.timer.unref();
  }

  /**
   * Processes what is due now and re-arms the timer. The timer does this by itself; tests that
   * inject a clock call it after moving their clock.
   */
  tick(): void {
    this.fire();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = undefined;
    this.depth++;
    try {
      this.scheduler.advance();
    } catch (err) {
      this.logger.error({ err }, "scheduler.advance failed");
    } finally {
      this.depth--;
    }
    this.arm();
    if (this.depth === 0) {
      try {
        this.flush();
      } catch {
        /* storeFailed() has logged it and is stopping the coordinator */
      }
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribe();
  }

  /** Remembers a GPU a node agent registered (fail-stop if the store cannot be written). */
  persistGpu(g: StoredGpu): void {
    if (this.failure) throw this.failureError();
    if (!this.store?.isOpen) return;
    try {
      this.store.saveGpu(g);
    } catch (err) {
      this.storeFailed(err);
      throw this.failureError();
    }
  }

  /** The holder's session was sent this lease's resume. */
  resumeDelivered(leaseId: string): void {
    if (!this.pendingResumes.delete(leaseId)) return;
    if (!this.store?.isOpen || this.failure) return;
    try {
      this.store.setResumePending(leaseId, false);
    } catch (err) {
      // Harmless to lose: at worst the resume is sent again after a restart.
      this.logger.warn({ err, leaseId }, "could not record a delivered resume");
    }
  }

  private onEvent(e: CoreEvent): void {
    this.pending.push(e);
    // Every core call goes through call() or tick(); an event from anywhere else is still
    // persisted before it is delivered, just one microtask later.
    if (this.depth === 0 && !this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => {
        this.flushQueued = false;
        try {
          this.flush();
        } catch {
          /* logged by storeFailed() */
        }
      });
    }
  }

  /** Persists what the finished core call changed, then delivers its events. */
  private flush(): void {
    if (this.pending.length === 0 && this.dirty.size === 0) return;
    const events = this.pending;
    const dirty = this.dirty;
    this.pending = [];
    this.dirty = new Set();
    if (this.failure) throw this.failureError();
    const batch = this.batchOf(events, dirty);
    if (this.store?.isOpen) {
      try {
        this.store.apply(batch);
      } catch (err) {
        this.storeFailed(err);
        throw this.failureError();
      }
    }
    for (const e of events) this.deliver(e);
  }

  /** The durable effect of a batch of events: the final state of every lease they touched. */
  private batchOf(events: CoreEvent[], dirty: Set<string>): StoreBatch {
    const touched = new Map<string, string>();
    const touch = (leaseId: string, requestId: string) => {
      if (!touched.get(leaseId)) touched.set(leaseId, requestId);
    };
    const pausedNow = new Set<string>();
    const endedRequests: string[] = [];
    let fencing: bigint | undefined;
    for (const e of events) {
      switch (e.type) {
        case "granted":
        case "resumed":
          touch(e.lease.leaseId, e.lease.requestId);
          if (fencing === undefined || e.lease.fencingToken > fencing)
            fencing = e.lease.fencingToken;
          if (e.type === "resumed") this.pendingResumes.set(e.lease.leaseId, e.lease.holderId);
          break;
        case "paused":
          touch(e.lease.leaseId, e.lease.requestId);
          pausedNow.add(e.lease.leaseId);
          break;
        case "released":
        case "paused-dropped":
          touch(e.lease.leaseId, e.lease.requestId);
          break;
        case "checkpoint-requested":
          touch(e.victim.leaseId, e.victim.requestId);
          break;
        case "eviction-abandoned":
          touch(e.victimLeaseId, "");
          break;
        case "cancelled":
        case "request-failed":
          endedRequests.push(e.requestId);
          break;
        case "queued":
          break;
      }
    }
    for (const id of dirty) touch(id, "");
    const batch: StoreBatch = { upserts: [], deletes: [], endedRequests };
    if (fencing !== undefined) batch.fencing = fencing;
    for (const [leaseId, requestId] of touched) {
      const lease = this.scheduler.getLease(leaseId);
      if (lease) {
        batch.upserts.push({
          lease,
          resumePending: this.pendingResumes.has(leaseId),
          pausedNow: pausedNow.has(leaseId),
        });
      } else {
        this.pendingResumes.delete(leaseId);
        this.wereCheckpointing.delete(leaseId);
        if (requestId) batch.deletes.push({ leaseId, requestId });
      }
    }
    return batch;
  }

  private failureError(): ConnectError {
    return unavailable(
      "the coordinator cannot write its lease store and is stopping; retry with the same request_id",
    );
  }

  /** Fail-stop: nothing more is granted or sent; the server shuts down (onFatal). */
  private storeFailed(err: unknown): void {
    if (this.failure) return;
    const file = this.store?.file ?? "(store)";
    this.failure = new Error(`cannot write the lease store ${file}: ${(err as Error).message}`);
    this.logger.fatal(
      { err, file },
      "store write failed: stopping, so that no lease is handed out that the store does not know",
    );
    if (!this.shutdown.signal.aborted) this.shutdown.abort(this.failureError());
    this.onFatal?.(this.failure);
  }

  private deliver(e: CoreEvent): void {
    this.revisionNo++;
    this.metrics.count(e);
    // A moving queue of n waiters delivers n `queued` events per grant: keep this path free of
    // per-event allocations (no log objects unless debug is on, no listener-set copies).
    if (e.type !== "queued" || this.logger.isLevelEnabled("debug")) this.log(e);
    const rid = requestIdOf(e);
    if (rid !== undefined) {
      this.rememberRequest(rid);
      const set = this.byRequest.get(rid);
      // Iterating a Set while a listener unsubscribes is safe (deleted entries are skipped).
      if (set) for (const l of set) this.safely(l, e);
    }
    const hid = holderIdOf(e);
    if (hid !== undefined) {
      const set = this.byHolder.get(hid);
      if (set) for (const l of set) this.safely(l, e);
    }
    for (const l of this.changeListeners) this.safely(l, e);
  }

  /** As in the core: one broken listener must not keep the others from their events. */
  private safely(l: (e: CoreEvent) => void, e: CoreEvent): void {
    try {
      l(e);
    } catch (err) {
      this.logger.error({ err, event: e.type }, "event listener failed");
    }
  }

  private leaseFields(l: Lease): Record<string, unknown> {
    return {
      leaseId: l.leaseId,
      requestId: l.requestId,
      holderId: l.holderId,
      service: l.slot.service,
      taskType: l.slot.taskType || undefined,
      priority: PRIORITY_NAMES[l.slot.priority],
      gpu: l.gpuId,
      vramMb: l.vramMb,
    };
  }

  private log(e: CoreEvent): void {
    const log = this.logger;
    const now = this.clock.now();
    switch (e.type) {
      case "queued":
        log.debug(
          {
            requestId: e.entry.requestId,
            service: e.entry.slot.service,
            vramMb: e.entry.slot.vramMb,
            position: e.entry.position,
            reason: e.entry.reason,
          },
          `queued: ${e.entry.reasonText}`,
        );
        return;
      case "granted":
        log.info(
          {
            ...this.leaseFields(e.lease),
            waitMs: e.waitedMs,
            fencingToken: String(e.lease.fencingToken),
            ttlMs: e.lease.ttlMs,
          },
          "lease granted",
        );
        return;
      case "released": {
        const heldMs = now - e.lease.firstGrantedAt;
        if (e.reason === "expired")
          log.warn(
            { ...this.leaseFields(e.lease), heldMs },
            "lease expired (holder stopped keeping it alive)",
          );
        else log.info({ ...this.leaseFields(e.lease), heldMs, reason: e.reason }, "lease released");
        return;
      }
      case "checkpoint-requested":
        log.info(
          {
            ...this.leaseFields(e.victim),
            preemptorRequestId: e.preemptorRequestId,
            deadlineInMs: e.deadline - now,
          },
          "eviction: checkpoint requested",
        );
        return;
      case "paused":
        log.info(
          { ...this.leaseFields(e.lease), pausedBy: e.lease.pausedBy },
          "eviction: lease paused",
        );
        return;
      case "resumed": {
        log.info(
          {
            ...this.leaseFields(e.lease),
            pausedMs: e.lease.pausedAt !== undefined ? now - e.lease.pausedAt : undefined,
          },
          "lease resumed",
        );
        return;
      }
      case "eviction-abandoned":
        log.warn(
          {
            leaseId: e.victimLeaseId,
            preemptorRequestId: e.preemptorRequestId,
            reason: e.reason,
            detail: e.detail,
          },
          e.reason === "refused"
            ? "eviction: checkpoint refused"
            : `eviction abandoned (${e.reason})`,
        );
        return;
      case "request-failed":
        log.info({ requestId: e.requestId, code: e.code }, `request failed: ${e.message}`);
        return;
      case "cancelled":
        log.info({ requestId: e.requestId }, "request left the queue");
        return;
      case "paused-dropped":
        log.warn({ ...this.leaseFields(e.lease), reason: e.reason }, "paused lease dropped");
        return;
    }
  }
}

function add(map: Map<string, Set<Listener>>, key: string, fn: Listener): () => void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(fn);
  return () => {
    const s = map.get(key);
    if (!s) return;
    s.delete(fn);
    if (s.size === 0) map.delete(key);
  };
}
