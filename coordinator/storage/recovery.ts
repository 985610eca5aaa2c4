/**
 * Restart: rebuilds the scheduler from what the store holds (PRODUCT.md §8).
 *
 * - Leases come back with the same ids, holders, GPUs and fencing tokens, and a fresh grace
 *   period: each expires one TTL after the restart unless its holder keeps it alive (KeepAlive,
 *   a held stream, or its eviction session) by then.
 * - The fencing counter continues from the highest token ever issued: no token is reissued.
 * - Paused leases wait in line again at the head of their class; evictable registrations stay
 *   (checkpoint requests made before the holder's session re-attaches are sent when it does).
 *   A lease that was checkpointing comes back active: it still holds its memory.
 * - GPUs registered by node agents come back with their leases, before the agent registers again.
 * - A live lease on a GPU that is no longer configured stops the start (StoreError) unless
 *   `drop_missing_gpu_leases` is set: its holder may still use that memory, and forgetting it
 *   silently could double-book it once the GPU is back.
 * - Waiting requests are not stored: their callers retry with the same request id.
 */
import { Scheduler, type PersistedState, type SchedulerOptions } from "../core/index.js";
import { describeGpu, toGpuSpec, type GpuRecord } from "../gpus.js";
import { StoreError, type StoredState } from "./store.js";

export interface Recovery {
  scheduler: Scheduler;
  /** Agent GPUs from the store that the config does not list (for the catalogue). */
  agentGpus: GpuRecord[];
  active: number;
  paused: number;
  /** The highest fencing token issued so far; the next one is larger. */
  fencingCounter: bigint;
  /** Leases the restore could not take back: delete them from the store. */
  dropped: Array<{ leaseId: string; requestId: string }>;
  /** Leases whose resume the holder may not have received (lease id → holder id). */
  pendingResumes: Map<string, string>;
  /** Leases that were checkpointing when the coordinator stopped. */
  wereCheckpointing: Set<string>;
  /** Request ids the coordinator knows (live leases and ended requests). */
  knownRequests: string[];
  warnings: string[];
}

export interface RecoveryOptions {
  /** Forget live leases on GPUs that are no longer configured instead of refusing to start. */
  dropMissingGpuLeases: boolean;
}

function describeMissing(state: StoredState, known: ReadonlySet<string>): string[] {
  const byGpu = new Map<string, { n: number; mb: number }>();
  for (const l of state.leases) {
    if (l.state === "paused" || known.has(l.gpuId)) continue;
    const cur = byGpu.get(l.gpuId) ?? { n: 0, mb: 0 };
    cur.n++;
    cur.mb += l.vramMb;
    byGpu.set(l.gpuId, cur);
  }
  return [...byGpu].map(([id, { n, mb }]) => `${id} (${n} lease${n === 1 ? "" : "s"}, ${mb} MiB)`);
}

export function recover(
  state: StoredState,
  schedulerOptions: SchedulerOptions,
  opts: RecoveryOptions,
): Recovery {
  const configured = new Set(schedulerOptions.gpus.map((g) => g.id));
  const agentGpus = state.gpus
    .filter((g) => !configured.has(g.id))
    .map((g) =>
      describeGpu({
        node: g.node,
        index: g.index,
        name: g.name,
        uuid: g.uuid,
        capacityMb: g.capacityMb,
        ...(g.memoryTotalMb !== undefined ? { memoryTotalMb: g.memoryTotalMb } : {}),
      }),
    );
  const known = new Set([...configured, ...agentGpus.map((g) => g.id)]);
  const missing = describeMissing(state, known);
  const warnings: string[] = [];
  if (missing.length > 0) {
    if (!opts.dropMissingGpuLeases)
      throw new StoreError(
        `store ${state.file} holds live leases on GPUs that are not configured any more: ` +
          `${missing.join(", ")}. Their holders may still be using that memory. Put the GPUs ` +
          `back (gpus: in the config, nvidia-smi, or their node agent) until those leases end, ` +
          `or start once with drop_missing_gpu_leases: true (CF_ORCH_DROP_MISSING_GPU_LEASES=1, ` +
          `--drop-missing-gpu-leases) to forget them; their holders then get NOT_FOUND at ` +
          `their next keep-alive.`,
      );
    warnings.push(`forgetting live leases on GPUs no longer configured: ${missing.join(", ")}`);
  }

  const persisted: PersistedState = {
    version: 1,
    exportedAt: schedulerOptions.clock.now(),
    fencingCounter: state.fencingCounter.toString(),
    gpus: agentGpus.map(toGpuSpec),
    leases: state.leases,
    releasedLeaseIds: state.endedLeaseIds,
    endedRequestIds: state.endedRequestIds,
  };
  let scheduler = Scheduler.restore(schedulerOptions, persisted);
  warnings.push(...scheduler.restoreWarnings);
  const gone = state.leases.filter((l) => !scheduler.getLease(l.leaseId));
  if (gone.length > 0) {
    // Restore again without them, remembered as ended: a late Release of one is "already
    // released" and a retried Acquire of its request does not get a second lease.
    const ids = new Set(gone.map((l) => l.leaseId));
    scheduler = Scheduler.restore(schedulerOptions, {
      ...persisted,
      leases: state.leases.filter((l) => !ids.has(l.leaseId)),
      releasedLeaseIds: [...state.endedLeaseIds, ...gone.map((l) => l.leaseId)],
      endedRequestIds: [...state.endedRequestIds, ...gone.map((l) => l.requestId)],
    });
  }

  const dropped: Recovery["dropped"] = [];
  const pendingResumes = new Map<string, string>();
  const wereCheckpointing = new Set<string>();
  let active = 0;
  let paused = 0;
  for (const l of state.leases) {
    if (!scheduler.getLease(l.leaseId)) {
      dropped.push({ leaseId: l.leaseId, requestId: l.requestId });
      continue;
    }
    if (l.state === "paused") paused++;
    else active++;
    if (l.resumePending) pendingResumes.set(l.leaseId, l.holderId);
    if (l.storedState === "checkpointing") wereCheckpointing.add(l.leaseId);
  }
  let fencingCounter = state.fencingCounter;
  for (const l of state.leases) {
    const t = BigInt(l.fencingToken);
    if (t > fencingCounter) fencingCounter = t;
  }
  return {
    scheduler,
    agentGpus,
    active,
    paused,
    fencingCounter,
    dropped,
    pendingResumes,
    wereCheckpointing,
    knownRequests: [...state.endedRequestIds, ...state.leases.map((l) => l.requestId)],
    warnings,
  };
}
