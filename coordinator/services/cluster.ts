/** ClusterService: status snapshots and watches, node registration and measured usage. */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  ClusterService,
  GetStatusResponseSchema,
  RegisterNodeResponseSchema,
  ReportUsageResponseSchema,
  WatchStatusResponseSchema,
  type GetStatusResponse,
  type GpuStatus,
} from "../../gen/ts/cforch/v1/cluster_pb.js";
import type { Runtime } from "../runtime.js";
import { describeGpu, gpuId, toGpuSpec, type GpuRecord } from "../gpus.js";
import { evictionToPb, gpuStatusToPb, leaseToPb, queuedRequestToPb, ts } from "./convert.js";
import { CLOSED, Mailbox, TIMEOUT, sleep } from "./mailbox.js";
import { MAX_VRAM_MB, NODE_RE, OPAQUE_RE, invalid } from "./validate.js";

const MAX_GPUS_PER_NODE = 1024;
const MAX_USAGE_ENTRIES = 1024;

export function gpuStatuses(rt: Runtime, filter?: (id: string) => boolean): GpuStatus[] {
  return rt.scheduler
    .gpus()
    .filter((g) => !filter || filter(g.spec.id))
    .map((g) => {
      const rec = rt.gpus.get(g.spec.id);
      const extra = rec
        ? {
            index: rec.index,
            name: rec.name,
            uuid: rec.uuid,
            ...(rec.profile ? { profile: rec.profile } : {}),
          }
        : undefined;
      return gpuStatusToPb(g, extra);
    });
}

/** A consistent snapshot: everything is read synchronously between two core calls. */
export function snapshot(rt: Runtime): GetStatusResponse {
  const s = rt.scheduler;
  const nodeOf = rt.gpus.nodeOf;
  const leases = s
    .leases()
    .sort((a, b) => (BigInt(a.fencingToken) < BigInt(b.fencingToken) ? -1 : 1))
    .map((l) => leaseToPb(l, nodeOf));
  return create(GetStatusResponseSchema, {
    gpus: gpuStatuses(rt),
    leases,
    queue: s.queue().map(queuedRequestToPb),
    evictions: s.evictions().map(evictionToPb),
    now: ts(rt.clock.now()),
    revision: rt.revision,
  });
}

export function clusterService(rt: Runtime): ServiceImpl<typeof ClusterService> {
  const s = rt.scheduler;
  return {
    getStatus() {
      return snapshot(rt);
    },

    async *watchStatus(req, ctx) {
      rt.assertServing();
      if (req.minIntervalMs > 60_000)
        throw invalid("min_interval_ms", `must be at most 60000, got ${req.minIntervalMs}`);
      const minInterval = req.minIntervalMs === 0 ? 100 : req.minIntervalMs;
      const changed = new Mailbox<true>();
      const unsubscribe = rt.onChange(() => {
        if (changed.size === 0) changed.push(true);
      });
      try {
        let sentRevision = rt.revision;
        yield create(WatchStatusResponseSchema, { status: snapshot(rt) });
        let sentAt = Date.now();
        for (;;) {
          const got = await changed.next(ctx.signal);
          if (got === CLOSED || got === TIMEOUT) return;
          const wait = sentAt + minInterval - Date.now();
          if (wait > 0) await sleep(wait, ctx.signal);
          changed.drain();
          if (rt.revision === sentRevision) continue;
          sentRevision = rt.revision;
          yield create(WatchStatusResponseSchema, { status: snapshot(rt) });
          sentAt = Date.now();
        }
      } finally {
        unsubscribe();
      }
    },

    registerNode(req) {
      const node = req.node;
      if (node.length === 0)
        throw invalid("node", "required (1 to 128 characters from [A-Za-z0-9._-])");
      if (!NODE_RE.test(node))
        throw invalid("node", "must be 1 to 128 characters from [A-Za-z0-9._-]");
      if (req.gpus.length === 0) throw invalid("gpus", "at least one GPU is required");
      if (req.gpus.length > MAX_GPUS_PER_NODE)
        throw invalid("gpus", `at most ${MAX_GPUS_PER_NODE} GPUs, got ${req.gpus.length}`);
      const seen = new Set<number>();
      const recs: GpuRecord[] = [];
      req.gpus.forEach((g, i) => {
        const at = `gpus[${i}]`;
        if (seen.has(g.index)) throw invalid(`${at}.index`, `duplicate index ${g.index}`);
        seen.add(g.index);
        if (g.name.length > 128)
          throw invalid(`${at}.name`, `at most 128 characters, got ${g.name.length}`);
        if (g.uuid !== "" && !OPAQUE_RE.test(g.uuid))
          throw invalid(`${at}.uuid`, "must be at most 128 printable characters without spaces");
        if (g.memoryTotalMb < 1n || g.memoryTotalMb > BigInt(MAX_VRAM_MB))
          throw invalid(
            `${at}.memory_total_mb`,
            `must be between 1 and ${MAX_VRAM_MB} MiB, got ${g.memoryTotalMb}`,
          );
        if (g.capacityMb > g.memoryTotalMb)
          throw invalid(
            `${at}.capacity_mb`,
            `must be 0 (all) or at most memory_total_mb (${g.memoryTotalMb}), got ${g.capacityMb}`,
          );
        if (g.uuid !== "") {
          const owner = rt.gpus.resolve(g.uuid);
          if (owner !== undefined && owner !== gpuId(node, g.index))
            throw invalid(`${at}.uuid`, `already registered as GPU ${owner}`);
        }
        const memoryTotalMb = Number(g.memoryTotalMb);
        recs.push(
          describeGpu({
            node,
            index: g.index,
            name: g.name,
            uuid: g.uuid,
            capacityMb: g.capacityMb === 0n ? memoryTotalMb : Number(g.capacityMb),
            memoryTotalMb,
          }),
        );
      });
      // All-or-nothing: refuse before changing anything if a GPU would shrink below its use.
      const views = new Map(s.gpus().map((v) => [v.spec.id, v]));
      recs.forEach((rec, i) => {
        const v = views.get(rec.id);
        if (v && rec.capacityMb < v.leasedMb + v.reservedMb)
          throw new ConnectError(
            `gpus[${i}].capacity_mb: GPU ${rec.id} has ${v.leasedMb + v.reservedMb} MiB leased or reserved; cannot shrink to ${rec.capacityMb}`,
            Code.FailedPrecondition,
          );
      });
      for (const rec of recs) {
        rt.call(() => s.addGpu(toGpuSpec(rec)));
        rt.gpus.set(rec);
        // Remembered so that leases on it come back after a restart, before the agent does.
        rt.persistGpu({
          id: rec.id,
          node: rec.node,
          index: rec.index,
          name: rec.name,
          uuid: rec.uuid,
          capacityMb: rec.capacityMb,
          ...(rec.memoryTotalMb !== undefined ? { memoryTotalMb: rec.memoryTotalMb } : {}),
        });
      }
      rt.touch();
      rt.logger.info(
        { node, gpus: recs.map((r) => ({ id: r.id, name: r.name, capacityMb: r.capacityMb })) },
        "node registered",
      );
      const ids = new Set(recs.map((r) => r.id));
      return create(RegisterNodeResponseSchema, { gpus: gpuStatuses(rt, (id) => ids.has(id)) });
    },

    reportUsage(req) {
      if (req.usage.length === 0) throw invalid("usage", "at least one measurement is required");
      if (req.usage.length > MAX_USAGE_ENTRIES)
        throw invalid(
          "usage",
          `at most ${MAX_USAGE_ENTRIES} measurements, got ${req.usage.length}`,
        );
      const updates: Array<[string, number]> = [];
      req.usage.forEach((u, i) => {
        const at = `usage[${i}]`;
        if (u.gpuId === "") throw invalid(`${at}.gpu_id`, "required");
        if (!OPAQUE_RE.test(u.gpuId))
          throw invalid(`${at}.gpu_id`, "must be at most 128 printable characters without spaces");
        if (u.usedMb > BigInt(MAX_VRAM_MB))
          throw invalid(`${at}.used_mb`, `must be at most ${MAX_VRAM_MB} MiB, got ${u.usedMb}`);
        updates.push([u.gpuId, Number(u.usedMb)]);
      });
      // Existence after form, and all before any change.
      const resolved = updates.map(([id, used], i): [string, number] => {
        const gid = rt.gpus.resolve(id);
        if (gid === undefined)
          throw new ConnectError(`usage[${i}].gpu_id: no GPU ${JSON.stringify(id)}`, Code.NotFound);
        return [gid, used];
      });
      for (const [gid, used] of resolved) rt.call(() => s.setMeasuredUsage(gid, used));
      rt.touch();
      return create(ReportUsageResponseSchema, { gpus: gpuStatuses(rt) });
    },
  };
}
