/**
 * The scheduling core of cf-orch: leases, the waiting line, placement, TTLs and cooperative
 * eviction (PRODUCT.md §2, §3). Pure logic: time comes from an injected clock, results go out as
 * synchronous events, emitted in order inside the call that caused them. No I/O, no timers: the
 * server calls advance() when nextDeadline() is due.
 *
 * ## Order of service and the blocking rule (§2 rules 2-4)
 * Waiting entries are served in one global order: class (critical..batch), then paused leases
 * before new requests within a class, then arrival. A waiting entry W is *eligible* for a GPU when
 * its constraints (gpuId, node, requires) hold and the GPU's capacity is at least W's VRAM,
 * whatever is in use right now. The exact rule implemented:
 *
 *   An entry may be placed on GPU g only if no entry ahead of it in the order of service is still
 *   waiting and eligible for g.
 *
 * So a waiting entry blocks every later entry of its own or a lower class from all the GPUs it
 * could ever use; a later entry goes first only where it cannot take memory the earlier one could
 * use (the earlier one is pinned elsewhere, or too big for that GPU). There is no backfilling
 * on a GPU that an earlier entry waits for: leases have no known end, so a small "quick" grant
 * could delay the earlier entry indefinitely. After every state change one pass walks the order
 * of service and grants every entry that may be placed (no lost wake-ups); memory reserved for an
 * in-flight eviction belongs to its preemptor and is not free for anyone else.
 *
 * Placement: among the eligible, unblocked GPUs with enough free memory, best fit (the least free
 * memory that fits, counting a preemptor's own reservation), ties by GPU id.
 *
 * ## Cooperative eviction (§3)
 * When an entry of class P cannot be placed, and on an eligible unblocked GPU its free memory
 * plus active evictable leases of classes < P would fit it, victims are chosen (eviction-planner:
 * lowest class, least work lost, fewest victims; among GPUs the best victim set, then GPU id), the
 * missing free memory is reserved and each victim gets checkpoint-requested with a deadline.
 * checkpointed: the victim becomes PAUSED (a waiting entry at the head of its class) and its
 * memory moves into the reservation; when the reservation covers the preemptor it is granted
 * there. refused / deadline / victim's holder gone: the victim keeps its lease, is never asked
 * again by that preemptor, and the next pass tops the plan up (more free memory, other victims on
 * the same GPU) or abandons it (reservation returned) and plans afresh. A victim released or
 * expired mid-eviction gives its memory to the reservation, except on a measured GPU (below),
 * where it is held back like any released memory and the plan comes up short. The preemptor
 * leaving abandons its pending evictions; victims already paused stay in line. A lease is the
 * victim of at most one plan at a time, and a checkpointing victim still counts as leased, so
 * memory is never promised twice and never granted while a victim still uses it. A plan that can
 * no longer be completed is dropped at the end of the pass, so reservations cannot deadlock.
 *
 * ## Measured usage (§6)
 * setMeasuredUsage sets a GPU's unaccounted memory to max(0, measured - leased). From a GPU's
 * first measurement on, memory that leaves it by release, expiry or holder gone is added to its
 * unaccounted memory and becomes grantable only when the next measurement shows it free (the
 * process may still hold it; see gpu-inventory.ts for the arithmetic). A checkpointed victim's
 * memory is trusted to be free and goes to its preemptor at once. Unmeasured GPUs hand released
 * memory over at once. The server re-measures right after such a release (server.ts).
 *
 * ## Complexity (n waiting entries, G non-empty eligibility groups, K GPUs, L leases on a GPU)
 * - A pass looks only at group heads (wait-queue.ts): O(G·(grants + G) + K) per event, with
 *   eviction planning O(L log L) for a head that needs it; it stops as soon as every GPU is
 *   blocked. Independent of n.
 * - acquire: O(K) to compute eligibility, O(1) to enqueue. cancel / release / keep-alive: O(1)
 *   plus the pass; deadlines in a binary heap, O(log d).
 * - Position updates: O(entries whose position may have changed) per event, inherent in telling
 *   each of them; heads and plan holders (O(G)) are re-explained on every event.
 * - Rare topology changes (addGpu/removeGpu) regroup the queue in O(n·K).
 */
import { randomUUID } from "node:crypto";
import { CoreError } from "./errors.js";
import { chooseVictims, isBetter, type Candidate, type VictimChoice } from "./eviction-planner.js";
import { behindText, evictionText, noGpuFreeText, notFittable, pausedText } from "./explain.js";
import { DeadlineHeap, type DeadlineItem } from "./deadline-heap.js";
import { GpuState, Inventory, type Signature } from "./gpu-inventory.js";
import { checkPersisted, type PersistedLease, type PersistedState } from "./persist.js";
import {
  coverage,
  leaseView,
  type EvictionRec,
  type LeaseRec,
  type Plan,
  type WaitEntry,
} from "./records.js";
import { Tombstones } from "./tombstones.js";
import {
  PRIORITIES_DESC,
  type AbandonReason,
  type AcquireInput,
  type AcquireResult,
  type Clock,
  type CoreEvent,
  type EndResult,
  type EvictionView,
  type GpuSpec,
  type GpuView,
  type Lease,
  type QueueEntryView,
  type ReleaseReason,
  type ReleaseResult,
  type SchedulerOptions,
  type SlotSpec,
} from "./types.js";
import {
  checkAcquire,
  checkGpuSpec,
  checkId,
  checkMeasured,
  checkWorkLost,
  type Limits,
  type ValidAcquire,
} from "./validate.js";
import { newLinks, WaitQueue, type Group } from "./wait-queue.js";

/** Placement settles in a couple of rounds; more means a bug, and looping forever is worse. */
const MAX_ROUNDS = 10_000;

function isLease(x: WaitEntry | LeaseRec): x is LeaseRec {
  return "leaseId" in x;
}

function sameSlot(a: SlotSpec, b: SlotSpec): boolean {
  const req = (s: SlotSpec): string => [...(s.requires ?? [])].sort().join(",");
  return (
    a.service === b.service &&
    a.taskType === b.taskType &&
    a.vramMb === b.vramMb &&
    a.priority === b.priority &&
    a.gpuId === b.gpuId &&
    a.node === b.node &&
    req(a) === req(b)
  );
}

function sameView(a: QueueEntryView | undefined, b: QueueEntryView): boolean {
  return (
    a !== undefined &&
    a.position === b.position &&
    a.vramAheadMb === b.vramAheadMb &&
    a.reason === b.reason &&
    a.reasonText === b.reasonText &&
    a.pausedLeaseId === b.pausedLeaseId
  );
}

function sameSpec(a: GpuSpec, b: GpuSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class Scheduler {
  private readonly clock: Clock;
  private readonly limits: Limits;
  private readonly checkpointDeadlineMs: number;
  private readonly newLeaseId: () => string;
  private readonly onListenerError: ((err: unknown, event: CoreEvent) => void) | undefined;
  private readonly inv = new Inventory();
  private readonly waiting = new WaitQueue<WaitEntry>();
  private readonly leasesById = new Map<string, LeaseRec>();
  /** Every live request id: a waiting entry, or the lease it became (paused leases included). */
  private readonly byRequest = new Map<string, WaitEntry | LeaseRec>();
  private readonly byHolder = new Map<string, Set<LeaseRec>>();
  private readonly plans = new Set<Plan>();
  /** Pending (unanswered) evictions by victim lease id. */
  private readonly pendingEvictions = new Map<string, EvictionRec>();
  private readonly deadlines = new DeadlineHeap();
  private readonly leaseTombs: Tombstones;
  private readonly requestTombs: Tombstones;
  private readonly listeners = new Set<(e: CoreEvent) => void>();
  /** Entries whose explanation changed for reasons other than their position. */
  private readonly viewDirty = new Set<WaitEntry>();
  private fencing = 0n;
  private seq = 0;
  private passNo = 0;
  private flushNo = 0;
  private freedInPass = false;
  private busy = false;
  /** Problems found by restore() (e.g. a lease that no longer fits its GPU's capacity). */
  readonly restoreWarnings: string[] = [];

  constructor(opts: SchedulerOptions) {
    this.clock = opts.clock;
    const num = (v: number | undefined, dflt: number, field: string): number => {
      const x = v ?? dflt;
      if (!Number.isInteger(x) || x <= 0)
        throw new CoreError("invalid-argument", `${field} must be a positive integer`, field);
      return x;
    };
    this.limits = {
      defaultTtlMs: num(opts.defaultTtlMs, 30_000, "defaultTtlMs"),
      minTtlMs: num(opts.minTtlMs, 1_000, "minTtlMs"),
      maxTtlMs: num(opts.maxTtlMs, 3_600_000, "maxTtlMs"),
      maxVramMb: num(opts.maxVramMb, 16 * 1024 * 1024, "maxVramMb"),
    };
    const { minTtlMs, maxTtlMs, defaultTtlMs } = this.limits;
    if (minTtlMs > maxTtlMs || defaultTtlMs < minTtlMs || defaultTtlMs > maxTtlMs)
      throw new CoreError(
        "invalid-argument",
        "need minTtlMs <= defaultTtlMs <= maxTtlMs",
        "defaultTtlMs",
      );
    this.checkpointDeadlineMs = num(opts.checkpointDeadlineMs, 30_000, "checkpointDeadlineMs");
    const memory = num(opts.releasedMemory, 10_000, "releasedMemory");
    this.leaseTombs = new Tombstones(memory);
    this.requestTombs = new Tombstones(memory);
    this.newLeaseId = opts.newLeaseId ?? (() => `lease_${randomUUID()}`);
    this.onListenerError = opts.onListenerError;
    for (const raw of opts.gpus) {
      const spec = checkGpuSpec(raw, this.limits.maxVramMb);
      if (this.inv.get(spec.id))
        throw new CoreError("already-exists", `duplicate GPU id ${spec.id}`, "gpu.id");
      this.inv.add(spec);
    }
  }

  // ---------------------------------------------------------------- events

  /** Listen to every state change. Returns the unsubscribe function. */
  onEvent(listener: (e: CoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: CoreEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        // A broken listener must not leave the core half-updated.
        this.onListenerError?.(err, e);
      }
    }
  }

  /**
   * Every mutating call runs through here: due deadlines first (so a lease past its TTL is gone
   * whatever timer jitter the server has), then the body, then placement and position updates.
   * Listeners must not call back into the scheduler: events fire mid-update.
   */
  private run<T>(body: () => T): T {
    if (this.busy)
      throw new CoreError("failed-precondition", "scheduler called from inside an event listener");
    this.busy = true;
    try {
      this.processDue();
      return body();
    } finally {
      try {
        this.schedule();
        this.flushViews();
      } finally {
        this.busy = false;
      }
    }
  }

  private now(): number {
    return this.clock.now();
  }

  // ---------------------------------------------------------------- acquire / cancel

  acquire(input: AcquireInput): AcquireResult {
    const v = checkAcquire(input, this.limits);
    let entry: WaitEntry | undefined;
    const early = this.run((): AcquireResult | undefined => {
      const existing = this.existing(v);
      if (existing) return existing;
      const sig = this.fittable(v.slot);
      entry = {
        requestId: v.requestId,
        holderId: v.holderId,
        slot: v.slot,
        ttlMs: v.ttlMs,
        cls: v.slot.priority,
        tier: 1,
        seq: ++this.seq,
        vramMb: v.slot.vramMb,
        sigKey: sig.key,
        sig,
        links: newLinks(),
        enqueuedAt: this.now(),
        viewStamp: 0,
      };
      this.waiting.add(entry);
      this.byRequest.set(entry.requestId, entry);
      return undefined;
    });
    if (early) return early;
    const e = entry!;
    if (this.waiting.has(e)) return { kind: "queued", entry: e.view ?? this.computeView(e) };
    const rec = this.byRequest.get(e.requestId);
    if (!rec || !isLease(rec)) throw new Error("acquire: request vanished during placement");
    return { kind: "granted", lease: leaseView(rec) };
  }

  /** Idempotency: what a request id already is, or undefined if it is new. */
  private existing(v: ValidAcquire): AcquireResult | undefined {
    const x = this.byRequest.get(v.requestId);
    if (x) {
      if (x.holderId !== v.holderId)
        throw new CoreError(
          "already-exists",
          "request id is in use by another holder",
          "request_id",
        );
      if (!sameSlot(x.slot, v.slot))
        throw new CoreError(
          "already-exists",
          "request id was used with a different slot",
          "request_id",
        );
      if (!isLease(x)) return { kind: "existing", entry: x.view ?? this.computeView(x) };
      const lease = leaseView(x);
      const w = x.waiting;
      return w
        ? { kind: "existing", lease, entry: w.view ?? this.computeView(w) }
        : { kind: "existing", lease };
    }
    if (this.requestTombs.has(v.requestId)) return { kind: "existing" };
    return undefined;
  }

  /** Unknown GPU or node: not-found. Fits no eligible GPU even when empty: not-fittable. */
  private fittable(slot: SlotSpec): Signature {
    if (slot.gpuId !== undefined && !this.inv.get(slot.gpuId))
      throw new CoreError("not-found", `unknown GPU ${slot.gpuId}`, "slot.gpu_id");
    if (slot.node !== undefined && !this.inv.hasNode(slot.node))
      throw new CoreError("not-found", `unknown node ${slot.node}`, "slot.node");
    const sig = this.inv.signatureFor(slot);
    if (sig.gpus.length === 0) {
      const why = notFittable(slot, this.inv);
      throw new CoreError("not-fittable", why.message, why.field);
    }
    return sig;
  }

  /** Leave the queue. True if the request was waiting (paused leases are released instead). */
  cancel(requestId: string): boolean {
    checkId(requestId, "request_id");
    return this.run(() => {
      const x = this.byRequest.get(requestId);
      if (!x || isLease(x)) return false;
      this.dropWaiting(x, { type: "cancelled", requestId });
      return true;
    });
  }

  /** Whatever the request became, end it: cancel if waiting, release if leased. */
  releaseByRequestId(requestId: string): EndResult {
    checkId(requestId, "request_id");
    return this.run((): EndResult => {
      const x = this.byRequest.get(requestId);
      if (!x) return { kind: "none" };
      if (!isLease(x)) {
        this.dropWaiting(x, { type: "cancelled", requestId });
        return { kind: "cancelled" };
      }
      const lease = leaseView(x);
      this.endLease(x, "released");
      return { kind: "released", lease };
    });
  }

  /** Take a waiting request out of the line; `why` is announced before the consequences. */
  private dropWaiting(e: WaitEntry, why: CoreEvent): void {
    this.waiting.remove(e);
    this.emit(why);
    if (e.plan) this.endPlan(e.plan, "preemptor-gone");
    this.viewDirty.delete(e);
    this.byRequest.delete(e.requestId);
    this.requestTombs.add(e.requestId, true);
  }

  // ---------------------------------------------------------------- release / liveness

  /** Idempotent: a remembered id answers released:false; a never-known id is not-found. */
  release(leaseId: string): ReleaseResult {
    checkId(leaseId, "lease_id");
    return this.run((): ReleaseResult => {
      const rec = this.leasesById.get(leaseId);
      if (!rec) {
        if (this.leaseTombs.has(leaseId)) return { released: false };
        throw new CoreError("not-found", `unknown lease ${leaseId}`, "lease_id");
      }
      const lease = leaseView(rec);
      this.endLease(rec, "released");
      return { released: true, lease };
    });
  }

  /** Renew one lease: expiresAt = now + its TTL. */
  keepAlive(leaseId: string): Lease {
    checkId(leaseId, "lease_id");
    return this.run(() => {
      const rec = this.mustLease(leaseId);
      this.renew(rec);
      return leaseView(rec);
    });
  }

  /** Renew every lease of a holder (session heartbeat). Returns how many. */
  keepAliveHolder(holderId: string): number {
    checkId(holderId, "holder_id");
    return this.run(() => {
      const set = this.byHolder.get(holderId);
      if (!set) return 0;
      for (const rec of set) this.renew(rec);
      return set.size;
    });
  }

  /** Process expiries and checkpoint deadlines due at clock.now(), then place what fits. */
  advance(): void {
    this.run(() => undefined);
  }

  /** Earliest pending expiry or checkpoint deadline, for the server's single timer. */
  nextDeadline(): number | undefined {
    for (;;) {
      const top = this.deadlines.peek();
      if (!top || this.isLive(top)) return top?.at;
      this.deadlines.pop();
    }
  }

  private renew(rec: LeaseRec): void {
    rec.expiresAt = this.now() + rec.ttlMs;
    this.pushDeadline({ at: rec.expiresAt, kind: "lease", id: rec.leaseId });
  }

  private mustLease(leaseId: string): LeaseRec {
    const rec = this.leasesById.get(leaseId);
    if (!rec) throw new CoreError("not-found", `unknown or ended lease ${leaseId}`, "lease_id");
    return rec;
  }

  private pushDeadline(item: DeadlineItem): void {
    this.deadlines.push(item);
    this.deadlines.compact(
      (i) => this.isLive(i),
      this.leasesById.size + this.pendingEvictions.size,
    );
  }

  private isLive(item: DeadlineItem): boolean {
    if (item.kind === "lease") return this.leasesById.get(item.id)?.expiresAt === item.at;
    return this.pendingEvictions.get(item.id)?.deadline === item.at;
  }

  private processDue(): void {
    const now = this.now();
    for (;;) {
      const top = this.deadlines.peek();
      if (!top || top.at > now) return;
      this.deadlines.pop();
      if (!this.isLive(top)) continue;
      if (top.kind === "lease") {
        const rec = this.leasesById.get(top.id)!;
        this.endLease(rec, "expired");
      } else {
        this.abandonVictim(
          this.pendingEvictions.get(top.id)!,
          "deadline",
          "no answer by the deadline",
        );
      }
    }
  }

  /** Remove a lease for good, whatever its state, and say so (the cause before its effects). */
  private endLease(rec: LeaseRec, reason: ReleaseReason | "not-fittable"): void {
    const before = leaseView(rec);
    const w = rec.waiting;
    const gone = rec.eviction;
    let heldBack = false;
    if (w) {
      this.waiting.remove(w);
      this.viewDirty.delete(w);
      rec.waiting = undefined;
    } else {
      this.detachFromGpu(rec);
      // Released, expired (or holder gone): on a measured GPU the memory stays unaccounted until
      // a new measurement shows it free (gpu-inventory.ts): the process may still hold it.
      heldBack = rec.gpu.measured;
      if (heldBack) rec.gpu.unaccountedMb += rec.vramMb;
      if (gone) {
        // The victim went away mid-eviction. Its memory was promised to the preemptor: it goes
        // straight into the reservation when free now (unmeasured GPU); on a measured GPU it
        // was just held back, and the plan is topped up or dropped like any short plan.
        const plan = gone.plan;
        this.takePending(gone);
        if (!heldBack) {
          plan.gpu.reservedMb += gone.vramMb;
          plan.reservedMb += gone.vramMb;
        }
        (plan.preemptor.excluded ??= new Set()).add(rec.leaseId);
      }
    }
    this.leasesById.delete(rec.leaseId);
    this.byRequest.delete(rec.requestId);
    const hs = this.byHolder.get(rec.holderId);
    hs?.delete(rec);
    if (hs?.size === 0) this.byHolder.delete(rec.holderId);
    this.leaseTombs.add(rec.leaseId, true);
    this.requestTombs.add(rec.requestId, true);
    if (reason === "not-fittable" || (w && reason !== "released"))
      this.emit({ type: "paused-dropped", lease: before, reason });
    else this.emit({ type: "released", lease: before, reason });
    if (w?.plan) this.endPlan(w.plan, "preemptor-gone");
    if (gone) {
      this.emit({
        type: "eviction-abandoned",
        victimLeaseId: rec.leaseId,
        preemptorRequestId: gone.plan.preemptor.requestId,
        reason: "victim-gone",
        detail: heldBack
          ? `victim lease ${reason}; its memory is reusable once a new measurement shows it free`
          : `victim lease ${reason}; its memory went to the preemptor`,
      });
      this.viewDirty.add(gone.plan.preemptor);
      this.completeIfCovered(gone.plan);
    }
  }

  private detachFromGpu(rec: LeaseRec): void {
    const g = rec.gpu;
    g.leases.delete(rec);
    g.leasedMb -= rec.vramMb;
    if (rec.state === "active" && rec.evictable) g.evictableMb[rec.cls]! -= rec.vramMb;
  }

  private attachToGpu(rec: LeaseRec, g: GpuState): void {
    rec.gpu = g;
    g.leases.add(rec);
    g.leasedMb += rec.vramMb;
    if (rec.state === "active" && rec.evictable) g.evictableMb[rec.cls]! += rec.vramMb;
  }

  // ---------------------------------------------------------------- eviction: holder side

  /** Mark a lease checkpointable. The holder must be the lease's holder. */
  registerEvictable(leaseId: string, holderId: string, opts?: { workLostMs?: number }): Lease {
    checkId(leaseId, "lease_id");
    checkId(holderId, "holder_id");
    const workLostMs = checkWorkLost(opts?.workLostMs);
    return this.run(() => {
      const rec = this.mustLease(leaseId);
      if (rec.holderId !== holderId)
        throw new CoreError("failed-precondition", "lease belongs to another holder", "holder_id");
      if (rec.state === "active" && !rec.evictable) rec.gpu.evictableMb[rec.cls]! += rec.vramMb;
      rec.evictable = true;
      if (workLostMs === undefined) delete rec.workLostMs;
      else rec.workLostMs = workLostMs;
      return leaseView(rec);
    });
  }

  /** No longer checkpointable; a pending checkpoint request counts as refused. */
  unregisterEvictable(leaseId: string): void {
    checkId(leaseId, "lease_id");
    this.run(() => {
      const rec = this.mustLease(leaseId);
      this.clearEvictable(rec);
      if (rec.eviction) this.abandonVictim(rec.eviction, "refused", "lease no longer evictable");
    });
  }

  private clearEvictable(rec: LeaseRec): void {
    if (rec.state === "active" && rec.evictable) rec.gpu.evictableMb[rec.cls]! -= rec.vramMb;
    rec.evictable = false;
  }

  /** The victim freed its memory: it becomes PAUSED and the memory goes to its preemptor. */
  checkpointed(leaseId: string): void {
    checkId(leaseId, "lease_id");
    this.run(() => {
      const rec = this.mustLease(leaseId);
      const ev = rec.eviction;
      if (!ev)
        throw new CoreError(
          "failed-precondition",
          "no checkpoint was requested from this lease",
          "lease_id",
        );
      const plan = ev.plan;
      this.takePending(ev);
      this.detachFromGpu(rec);
      plan.gpu.reservedMb += rec.vramMb;
      plan.reservedMb += rec.vramMb;
      ev.state = "checkpointed";
      plan.done.push(ev);
      const now = this.now();
      rec.state = "paused";
      rec.pausedAt = now;
      rec.pausedBy = plan.preemptor.requestId;
      rec.pauseCount++;
      this.renew(rec); // a fresh TTL to wait in line; the holder's heartbeat keeps it
      this.enqueuePaused(rec, now);
      this.emit({ type: "paused", lease: leaseView(rec) });
      this.viewDirty.add(plan.preemptor);
      this.completeIfCovered(plan);
    });
  }

  /** The victim will not checkpoint now: it keeps its lease. */
  refused(leaseId: string, reason: string): void {
    checkId(leaseId, "lease_id");
    this.run(() => {
      const rec = this.mustLease(leaseId);
      if (!rec.eviction)
        throw new CoreError(
          "failed-precondition",
          "no checkpoint was requested from this lease",
          "lease_id",
        );
      this.abandonVictim(rec.eviction, "refused", String(reason).slice(0, 500));
    });
  }

  /**
   * The holder's session is gone: its paused leases are dropped (nobody is left to resume them),
   * its pending checkpoints are abandoned and its leases stop being evictable. Its active leases
   * stay until their TTL: the process may still be using the memory.
   */
  holderDisconnected(holderId: string): void {
    checkId(holderId, "holder_id");
    this.run(() => {
      const set = this.byHolder.get(holderId);
      if (!set) return;
      for (const rec of [...set]) {
        if (rec.state === "paused") {
          this.endLease(rec, "holder-gone");
          continue;
        }
        this.clearEvictable(rec);
        if (rec.eviction) this.abandonVictim(rec.eviction, "victim-gone", "holder disconnected");
      }
    });
  }

  private enqueuePaused(rec: LeaseRec, now: number): void {
    const sig = this.inv.signatureFor(rec.slot);
    const w: WaitEntry = {
      requestId: rec.requestId,
      holderId: rec.holderId,
      slot: rec.slot,
      ttlMs: rec.ttlMs,
      cls: rec.cls,
      tier: 0,
      seq: ++this.seq,
      vramMb: rec.vramMb,
      sigKey: sig.key,
      sig,
      links: newLinks(),
      enqueuedAt: now,
      paused: rec,
      viewStamp: 0,
    };
    rec.waiting = w;
    this.waiting.add(w);
  }

  // ---------------------------------------------------------------- eviction: plans

  /** Remove a pending eviction from the books (the victim's lease itself is untouched). */
  private takePending(ev: EvictionRec): void {
    ev.plan.pending.delete(ev.victim.leaseId);
    this.pendingEvictions.delete(ev.victim.leaseId);
    ev.victim.eviction = undefined;
  }

  /** A victim keeps its lease: refused, missed the deadline, or its holder went away. */
  private abandonVictim(ev: EvictionRec, reason: AbandonReason, detail?: string): void {
    const rec = ev.victim;
    const plan = ev.plan;
    this.takePending(ev);
    rec.state = "active";
    if (rec.evictable) rec.gpu.evictableMb[rec.cls]! += rec.vramMb;
    if (reason === "refused" || reason === "deadline" || reason === "victim-gone")
      (plan.preemptor.excluded ??= new Set()).add(rec.leaseId);
    this.viewDirty.add(plan.preemptor);
    this.emit({
      type: "eviction-abandoned",
      victimLeaseId: rec.leaseId,
      preemptorRequestId: plan.preemptor.requestId,
      reason,
      ...(detail !== undefined ? { detail } : {}),
    });
  }

  /** End a plan: return its reservation and release its pending victims. */
  private endPlan(plan: Plan, reason: AbandonReason, detail?: string): void {
    // Returned memory and returned victims (evictable again) can both unblock entries the
    // current pass has already looked at, so another pass is needed.
    this.freedInPass = true;
    plan.gpu.reservedMb -= plan.reservedMb;
    plan.reservedMb = 0;
    for (const ev of [...plan.pending.values()]) this.abandonVictim(ev, reason, detail);
    this.plans.delete(plan);
    plan.preemptor.plan = undefined;
    this.viewDirty.add(plan.preemptor);
  }

  private completeIfCovered(plan: Plan): void {
    if (!this.plans.has(plan) || plan.reservedMb < plan.needMb) return;
    if (plan.gpu.freeIgnoring(plan.reservedMb) >= plan.needMb) this.grant(plan.preemptor, plan.gpu);
    // Only a new measurement of unaccounted usage can get here: the memory gathered is taken by
    // something no lease accounts for. Holding it would help nobody; wait in line instead.
    else this.endPlan(plan, "not-needed", "measured usage leaves no room on the GPU");
  }

  private candidates(g: GpuState, e: WaitEntry): Candidate[] {
    const now = this.now();
    const out: Candidate[] = [];
    for (const rec of g.leases) {
      if (rec.state !== "active" || !rec.evictable || rec.cls >= e.cls) continue;
      if (e.excluded?.has(rec.leaseId)) continue;
      out.push({
        leaseId: rec.leaseId,
        cls: rec.cls,
        vramMb: rec.vramMb,
        workLostMs: rec.workLostMs ?? now - rec.grantedAt,
      });
    }
    return out;
  }

  /** Try to start an eviction plan for e on an unblocked eligible GPU. */
  private tryStartPlan(e: WaitEntry, stamp: number): void {
    if (e.cls === 1) return; // nothing ranks below batch
    let best: { g: GpuState; choice: VictimChoice } | undefined;
    for (const g of e.sig.gpus) {
      if (g.blockStamp === stamp) continue;
      const free = g.freeMb;
      if (free + g.evictableBelow(e.cls) < e.vramMb) continue; // cheap bound first
      const choice = chooseVictims(this.candidates(g, e), e.vramMb - free);
      if (choice && (!best || isBetter(choice, best.choice))) best = { g, choice };
    }
    if (!best) return;
    const plan: Plan = {
      preemptor: e,
      gpu: best.g,
      needMb: e.vramMb,
      reservedMb: 0,
      pending: new Map(),
      done: [],
    };
    e.plan = plan;
    this.plans.add(plan);
    this.viewDirty.add(e);
    this.gather(plan, best.choice);
  }

  /** Reserve the free memory the victims will not cover, then ask each victim to checkpoint. */
  private gather(plan: Plan, choice: VictimChoice | undefined): void {
    let victimsMb = 0;
    for (const c of choice?.victims ?? []) victimsMb += c.vramMb;
    const take = Math.max(0, plan.needMb - coverage(plan) - victimsMb);
    if (take > plan.gpu.freeMb) throw new Error("eviction plan would over-commit");
    plan.gpu.reservedMb += take;
    plan.reservedMb += take;
    const now = this.now();
    for (const c of choice?.victims ?? []) {
      const rec = this.leasesById.get(c.leaseId)!;
      const ev: EvictionRec = {
        plan,
        victim: rec,
        vramMb: rec.vramMb,
        startedAt: now,
        deadline: now + this.checkpointDeadlineMs,
        state: "requested",
      };
      rec.gpu.evictableMb[rec.cls]! -= rec.vramMb;
      rec.state = "checkpointing";
      rec.eviction = ev;
      plan.pending.set(rec.leaseId, ev);
      this.pendingEvictions.set(rec.leaseId, ev);
      this.pushDeadline({ at: ev.deadline, kind: "eviction", id: rec.leaseId });
      this.emit({
        type: "checkpoint-requested",
        victim: leaseView(rec),
        preemptorRequestId: plan.preemptor.requestId,
        deadline: ev.deadline,
      });
    }
    this.completeIfCovered(plan);
  }

  /** Top up a plan that lost victims: more free memory, then other victims on the same GPU. */
  private extendPlan(plan: Plan): boolean {
    const short = plan.needMb - coverage(plan);
    const free = plan.gpu.freeMb;
    if (short <= free) {
      this.gather(plan, undefined);
      return true;
    }
    const choice = chooseVictims(this.candidates(plan.gpu, plan.preemptor), short - free);
    if (!choice) return false;
    this.gather(plan, choice);
    return true;
  }

  // ---------------------------------------------------------------- placement

  /** Run passes until nothing more can be placed (a pass that frees memory needs another). */
  private schedule(): void {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      this.freedInPass = false;
      this.pass();
      if (!this.freedInPass) return;
    }
    throw new Error("scheduler: placement did not settle");
  }

  /**
   * One walk of the order of service over group heads (see the module comment). Within a class
   * the heads of all groups are merged by (tier, seq); a head that cannot be placed blocks the
   * GPUs it is eligible for, which also blocks the rest of its group.
   */
  private pass(): void {
    if (this.waiting.size > 0) {
      const stamp = ++this.passNo;
      const total = this.inv.size;
      let blocked = 0;
      const sigOf = (gr: Group<WaitEntry>): Signature => gr.head()!.sig;
      const fullyBlocked = (sig: Signature): boolean =>
        sig.gpus.every((g) => g.blockStamp === stamp);
      outer: for (const cls of PRIORITIES_DESC) {
        let live = [...this.waiting.groupsOf(cls)].filter((gr) => !fullyBlocked(sigOf(gr)));
        while (live.length > 0) {
          let bi = 0;
          for (let i = 1; i < live.length; i++) {
            const a = live[i]!.head()!;
            const b = live[bi]!.head()!;
            if (a.tier < b.tier || (a.tier === b.tier && a.seq < b.seq)) bi = i;
          }
          const gr = live[bi]!;
          const e = gr.head()!;
          if (this.tryServe(e, stamp)) {
            if (gr.size === 0) live.splice(bi, 1);
            continue;
          }
          for (const g of e.sig.gpus) {
            if (g.blockStamp !== stamp) {
              g.blockStamp = stamp;
              blocked++;
            }
          }
          if (blocked >= total) break outer;
          live = live.filter((x) => x.size > 0 && !fullyBlocked(sigOf(x)));
        }
      }
    }
    // A plan still short now was not (or could not be) topped up: drop it rather than let its
    // reservation sit idle while others wait.
    for (const plan of [...this.plans])
      if (coverage(plan) < plan.needMb)
        this.endPlan(plan, "not-needed", "plan could not gather enough memory; trying again later");
  }

  /** Place e if allowed; otherwise maybe start or repair an eviction for it. True if granted. */
  private tryServe(e: WaitEntry, stamp: number): boolean {
    const plan = e.plan;
    let best: GpuState | undefined;
    let bestAvail = Infinity;
    for (const g of e.sig.gpus) {
      if (g.blockStamp === stamp) continue;
      const avail = plan && plan.gpu === g ? g.freeIgnoring(plan.reservedMb) : g.freeMb;
      if (avail >= e.vramMb && avail < bestAvail) {
        best = g;
        bestAvail = avail;
      }
    }
    if (best) {
      this.grant(e, best);
      return true;
    }
    if (plan) {
      if (coverage(plan) >= plan.needMb) return false;
      if (plan.gpu.blockStamp !== stamp && this.extendPlan(plan)) return !this.waiting.has(e);
      this.endPlan(plan, "not-needed", "plan could not gather enough memory; trying elsewhere");
    }
    this.tryStartPlan(e, stamp);
    return !this.waiting.has(e);
  }

  /** Grant (or resume) e on g. The caller has checked that it fits. */
  private grant(e: WaitEntry, g: GpuState): void {
    const plan = e.plan;
    const taken = plan && plan.gpu === g ? plan.reservedMb : 0;
    if (g.freeIgnoring(taken) < e.vramMb) throw new Error("grant would over-commit");
    if (plan) {
      // The preemptor's own reservation is consumed here; whatever it held beyond its need,
      // or held on another GPU, goes back to the pool (endPlan marks the pass as freeing).
      plan.reservedMb -= taken;
      g.reservedMb -= taken;
      if (taken > e.vramMb) this.freedInPass = true;
      this.endPlan(plan, "not-needed", "preemptor placed");
    }
    this.waiting.remove(e);
    this.viewDirty.delete(e);
    const now = this.now();
    this.fencing += 1n;
    const rec = e.paused;
    if (rec) {
      rec.waiting = undefined;
      rec.state = "active";
      rec.fencingToken = this.fencing;
      rec.grantedAt = now;
      delete rec.pausedAt;
      delete rec.pausedBy;
      this.attachToGpu(rec, g);
      this.renew(rec);
      this.emit({ type: "resumed", lease: leaseView(rec) });
      return;
    }
    const lease: LeaseRec = {
      leaseId: this.newLeaseId(),
      requestId: e.requestId,
      holderId: e.holderId,
      slot: e.slot,
      cls: e.cls,
      vramMb: e.vramMb,
      ttlMs: e.ttlMs,
      gpu: g,
      state: "active",
      fencingToken: this.fencing,
      grantedAt: now,
      firstGrantedAt: now,
      expiresAt: now + e.ttlMs,
      evictable: false,
      pauseCount: 0,
    };
    this.addLease(lease);
    this.attachToGpu(lease, g);
    this.emit({ type: "granted", lease: leaseView(lease), waitedMs: now - e.enqueuedAt });
  }

  private addLease(rec: LeaseRec): void {
    if (this.leasesById.has(rec.leaseId) || this.leaseTombs.has(rec.leaseId))
      throw new Error(`lease id ${rec.leaseId} generated twice`);
    this.leasesById.set(rec.leaseId, rec);
    this.byRequest.set(rec.requestId, rec);
    let hs = this.byHolder.get(rec.holderId);
    if (!hs) this.byHolder.set(rec.holderId, (hs = new Set()));
    hs.add(rec);
    this.pushDeadline({ at: rec.expiresAt, kind: "lease", id: rec.leaseId });
  }

  // ---------------------------------------------------------------- explanations

  private flushViews(): void {
    const stamp = ++this.flushNo;
    this.waiting.flush((e) => this.refreshView(e, stamp));
    for (const gr of this.waiting.allGroups()) this.refreshView(gr.head()!, stamp);
    for (const e of this.waiting.demoted) this.refreshView(e, stamp);
    this.waiting.demoted.clear();
    for (const e of this.viewDirty) if (this.waiting.has(e)) this.refreshView(e, stamp);
    this.viewDirty.clear();
    for (const p of this.plans) this.refreshView(p.preemptor, stamp);
  }

  private refreshView(e: WaitEntry, stamp: number): void {
    if (e.viewStamp === stamp) return;
    e.viewStamp = stamp;
    const v = this.computeView(e);
    if (sameView(e.view, v)) return;
    e.view = v;
    this.emit({ type: "queued", entry: v });
  }

  private computeView(e: WaitEntry): QueueEntryView {
    const position = this.waiting.position(e);
    let reason: QueueEntryView["reason"];
    let text: string;
    if (e.plan) {
      reason = "waiting-for-eviction";
      text = evictionText(e.plan.pending.size, e.plan.gpu);
    } else {
      // Only a group's head can be waiting for room: everyone behind it waits for the head.
      if (this.waiting.isHead(e) && !e.sig.gpus.some((g) => g.freeMb >= e.vramMb)) {
        reason = "no-gpu-free";
        text = noGpuFreeText(e.vramMb, e.sig.gpus);
      } else {
        reason = "behind-earlier";
        text = behindText(position - 1);
      }
      if (e.paused) {
        reason = "paused";
        text = pausedText(e.paused.pausedBy, text);
      }
    }
    const v: QueueEntryView = {
      requestId: e.requestId,
      holderId: e.holderId,
      slot: e.slot,
      position,
      vramAheadMb: this.waiting.vramAhead(e),
      reason,
      reasonText: text,
      enqueuedAt: e.enqueuedAt,
    };
    if (e.paused) v.pausedLeaseId = e.paused.leaseId;
    return Object.freeze(v);
  }

  // ---------------------------------------------------------------- GPUs and measured usage

  /**
   * §6: memory used that no lease accounts for is not granted. unaccounted = max(0, measured -
   * leased), fixed until the next measurement except that memory of leases released or expired
   * since is added to it (gpu-inventory.ts): from the first measurement on, released memory on
   * this GPU is reusable only once a measurement confirms it free.
   */
  setMeasuredUsage(gpuId: string, usedMb: number): void {
    if (typeof gpuId !== "string" || gpuId.length === 0)
      throw new CoreError("invalid-argument", "gpu_id is required", "gpu_id");
    const used = checkMeasured(usedMb, this.limits.maxVramMb);
    const g = this.inv.get(gpuId);
    if (!g) throw new CoreError("not-found", `unknown GPU ${gpuId}`, "gpu_id");
    this.run(() => {
      g.measuredUsedMb = used;
      g.measured = true;
      // Fixed at measurement time: leases granted later are not in this measurement yet, and a
      // lease released later was in it, so recomputing against today's leases would be wrong.
      g.unaccountedMb = Math.max(0, used - g.leasedMb);
    });
  }

  /**
   * Add a GPU, or update the spec of a known one (agents re-register after restarts). Returns
   * false when the id exists with an identical spec. Shrinking capacity below what is in use is
   * refused. Waiting requests that can no longer fit anywhere fail (request-failed).
   */
  addGpu(spec: GpuSpec): boolean {
    const s = checkGpuSpec(spec, this.limits.maxVramMb);
    const cur = this.inv.get(s.id);
    if (cur && sameSpec(cur.spec, s)) return false;
    if (cur && s.capacityMb < cur.leasedMb + cur.reservedMb)
      throw new CoreError(
        "failed-precondition",
        `GPU ${s.id} has more than that in use`,
        "gpu.capacity_mb",
      );
    return this.run(() => {
      this.inv.replace(s);
      this.topologyChanged();
      return true;
    });
  }

  /** Remove an idle GPU (no leases or reservations on it). */
  removeGpu(id: string): void {
    const g = this.inv.get(id);
    if (!g) throw new CoreError("not-found", `unknown GPU ${id}`, "gpu_id");
    if (g.leasedMb > 0 || g.reservedMb > 0 || g.leases.size > 0)
      throw new CoreError("failed-precondition", `GPU ${id} still has leases`, "gpu_id");
    this.run(() => {
      this.inv.remove(id);
      this.topologyChanged();
    });
  }

  /** Recompute every waiting entry's eligibility; fail those that can never fit any more. */
  private topologyChanged(): void {
    for (const e of [...this.waiting.inOrder()]) {
      const sig = this.inv.signatureFor(e.slot);
      if (sig.gpus.length > 0) {
        e.sig = sig;
        if (e.plan && !sig.gpus.includes(e.plan.gpu))
          this.endPlan(e.plan, "not-needed", "GPU changed");
        continue;
      }
      if (e.paused) {
        this.endLease(e.paused, "not-fittable");
        continue;
      }
      const unknown = e.slot.gpuId !== undefined && !this.inv.get(e.slot.gpuId);
      this.dropWaiting(e, {
        type: "request-failed",
        requestId: e.requestId,
        code: unknown ? "unknown-gpu" : "not-fittable",
        message: unknown ? `GPU ${e.slot.gpuId} is gone` : notFittable(e.slot, this.inv).message,
      });
    }
    this.waiting.regroup((e) => e.sig.key);
    // Groups were rebuilt: any entry may have gained or lost its place at a group's head.
    for (const e of this.waiting.inOrder()) this.viewDirty.add(e);
  }

  // ---------------------------------------------------------------- read-only views

  getLease(leaseId: string): Lease | undefined {
    const rec = this.leasesById.get(leaseId);
    return rec && leaseView(rec);
  }

  /** The waiting entry of a request (a paused lease included), if it waits. */
  getEntry(requestId: string): QueueEntryView | undefined {
    const x = this.byRequest.get(requestId);
    const w = x && (isLease(x) ? x.waiting : x);
    return w && (w.view ?? this.computeView(w));
  }

  leases(): Lease[] {
    return [...this.leasesById.values()].map(leaseView);
  }

  /** How many entries wait (paused leases included). O(1). */
  get waitingCount(): number {
    return this.waiting.size;
  }

  /** Waiting entries in the order of service. O(n). */
  queue(): QueueEntryView[] {
    return [...this.waiting.inOrder()].map((e) => e.view ?? this.computeView(e));
  }

  evictions(): EvictionView[] {
    const out: EvictionView[] = [];
    for (const plan of this.plans)
      for (const ev of [...plan.done, ...plan.pending.values()])
        out.push({
          preemptorRequestId: plan.preemptor.requestId,
          victimLeaseId: ev.victim.leaseId,
          victimHolderId: ev.victim.holderId,
          gpuId: plan.gpu.id,
          vramMb: ev.vramMb,
          deadline: ev.deadline,
          startedAt: ev.startedAt,
          state: ev.state,
        });
    return out;
  }

  gpus(): GpuView[] {
    return this.inv.all().map((g) => g.view());
  }

  // ---------------------------------------------------------------- persistence

  exportState(): PersistedState {
    const leases: PersistedLease[] = [];
    const persist = (r: LeaseRec): void => {
      const p: PersistedLease = {
        leaseId: r.leaseId,
        requestId: r.requestId,
        holderId: r.holderId,
        slot: r.slot,
        gpuId: r.gpu.id,
        vramMb: r.vramMb,
        state: r.state === "paused" ? "paused" : "active",
        fencingToken: r.fencingToken.toString(),
        grantedAt: r.grantedAt,
        firstGrantedAt: r.firstGrantedAt,
        ttlMs: r.ttlMs,
        evictable: r.evictable,
        pauseCount: r.pauseCount,
      };
      if (r.workLostMs !== undefined) p.workLostMs = r.workLostMs;
      if (r.pausedAt !== undefined) p.pausedAt = r.pausedAt;
      if (r.pausedBy !== undefined) p.pausedBy = r.pausedBy;
      leases.push(p);
    };
    for (const r of this.leasesById.values()) if (r.state !== "paused") persist(r);
    for (const e of this.waiting.inOrder()) if (e.paused) persist(e.paused);
    return {
      version: 1,
      exportedAt: this.now(),
      fencingCounter: this.fencing.toString(),
      gpus: this.inv.all().map((g) => g.spec),
      leases,
      releasedLeaseIds: this.leaseTombs.entries().map(([id]) => id),
      endedRequestIds: this.requestTombs.entries().map(([id]) => id),
    };
  }

  /**
   * Rebuild from exportState(). GPUs are opts.gpus plus persisted ones not in it (agent GPUs come
   * back before their agents re-register). Every lease gets expiresAt = now + ttl as a fresh grace
   * period. No events are emitted here: attach listeners, then call advance() so paused leases
   * that fit are resumed.
   */
  static restore(opts: SchedulerOptions, state: PersistedState): Scheduler {
    const st = checkPersisted(state);
    const known = new Set(opts.gpus.map((g) => g.id));
    const s = new Scheduler({
      ...opts,
      gpus: [...opts.gpus, ...st.gpus.filter((g) => !known.has(g.id))],
    });
    const now = s.now();
    let counter = BigInt(st.fencingCounter);
    for (const p of st.leases) {
      // A paused lease holds no memory; its GPU is only "where it last ran" and may be gone.
      const g =
        s.inv.get(p.gpuId) ??
        (p.state === "paused" ? new GpuState({ id: p.gpuId, node: "", capacityMb: 1 }) : undefined);
      if (!g) {
        s.restoreWarnings.push(`lease ${p.leaseId}: unknown GPU ${p.gpuId}, dropped`);
        continue;
      }
      const slot = Object.freeze({ ...p.slot });
      const rec: LeaseRec = {
        leaseId: p.leaseId,
        requestId: p.requestId,
        holderId: p.holderId,
        slot,
        cls: slot.priority,
        vramMb: p.vramMb,
        ttlMs: p.ttlMs,
        gpu: g,
        state: p.state === "paused" ? "paused" : "active",
        fencingToken: BigInt(p.fencingToken),
        grantedAt: p.grantedAt,
        firstGrantedAt: p.firstGrantedAt,
        expiresAt: now + p.ttlMs,
        evictable: p.evictable,
        pauseCount: p.pauseCount,
      };
      if (p.workLostMs !== undefined) rec.workLostMs = p.workLostMs;
      if (p.pausedAt !== undefined) rec.pausedAt = p.pausedAt;
      if (p.pausedBy !== undefined) rec.pausedBy = p.pausedBy;
      if (rec.fencingToken > counter) counter = rec.fencingToken;
      if (rec.state === "paused" && s.inv.signatureFor(slot).gpus.length === 0) {
        s.restoreWarnings.push(`paused lease ${p.leaseId} fits no GPU any more, dropped`);
        continue;
      }
      s.addLease(rec);
      if (rec.state === "paused") s.enqueuePaused(rec, rec.pausedAt ?? now);
      else {
        s.attachToGpu(rec, g);
        if (g.leasedMb > g.spec.capacityMb)
          s.restoreWarnings.push(
            `GPU ${g.id} is over-committed after restore (${g.leasedMb} MiB leased)`,
          );
      }
    }
    s.fencing = counter;
    for (const id of st.releasedLeaseIds) s.leaseTombs.add(id, true);
    for (const id of st.endedRequestIds) s.requestTombs.add(id, true);
    return s;
  }
}
