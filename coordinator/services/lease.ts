/** LeaseService: Acquire (server streaming), Release, KeepAlive, GetLease, ListLeases. */
import { createHash, randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { CoreEvent, Lease, QueueEntryView } from "../core/index.js";
import {
  AcquireResponseSchema,
  GetLeaseResponseSchema,
  KeepAliveResponseSchema,
  LeaseService,
  LeaseState,
  ListLeasesResponseSchema,
  ReleaseResponseSchema,
  type AcquireResponse,
} from "../../gen/ts/cforch/v1/lease_pb.js";
import type { CoordinatorConfig } from "../config/schema.js";
import type { Runtime } from "../runtime.js";
import { leaseToPb, queueStatusToPb } from "./convert.js";
import { CLOSED, Mailbox, TIMEOUT } from "./mailbox.js";
import {
  ID_RE,
  OPAQUE_RE,
  SERVICE_RE,
  checkIdField,
  checkLeaseId,
  checkSlot,
  checkTtlMs,
  invalid,
} from "./validate.js";

type LeaseCfg = Pick<
  CoordinatorConfig,
  "minTtlMs" | "maxTtlMs" | "queuedHeartbeatMs" | "queuedMinIntervalMs" | "holdHeartbeatMs"
>;

/** Holder id when the request gives none: "<service>:<request_id>", hashed if too long. */
export function deriveHolderId(service: string, requestId: string): string {
  const plain = `${service}:${requestId}`;
  if (plain.length <= 128) return plain;
  return `${service}:${createHash("sha256").update(requestId).digest("hex").slice(0, 32)}`;
}

const sameView = (a: QueueEntryView | undefined, b: QueueEntryView): boolean =>
  a !== undefined &&
  a.position === b.position &&
  a.vramAheadMb === b.vramAheadMb &&
  a.reason === b.reason &&
  a.reasonText === b.reasonText;

export function leaseService(rt: Runtime, cfg: LeaseCfg): ServiceImpl<typeof LeaseService> {
  const s = rt.scheduler;
  const nodeOf = rt.gpus.nodeOf;
  /** Open Acquire streams per request id (a retried Acquire re-attaches to the same request). */
  const attached = new Map<string, number>();
  let openStreams = 0;
  rt.metrics.gauges.set("cforch_acquire_streams", {
    help: "Open Acquire streams (waiting or holding).",
    value: () => openStreams,
  });

  const queued = (e: QueueEntryView): AcquireResponse =>
    create(AcquireResponseSchema, { event: { case: "queued", value: queueStatusToPb(e) } });

  return {
    async *acquire(req, ctx) {
      rt.assertServing();
      const requestId =
        req.requestId === "" ? `req_${randomUUID()}` : checkIdField(req.requestId, "request_id");
      const slot = checkSlot(req.slot, {
        resolveGpu: (id) => rt.gpus.resolve(id),
        hasNode: (n) => rt.gpus.hasNode(n),
      });
      const ttlMs = checkTtlMs(req.ttlMs, cfg.minTtlMs, cfg.maxTtlMs);
      const holderId =
        req.holderId === ""
          ? deriveHolderId(slot.service, requestId)
          : checkIdField(req.holderId, "holder_id");

      const box = new Mailbox<CoreEvent>();
      // QUEUED events only replace `latest` (coalescing: the handler sends the latest view when
      // its interval allows); the handler is woken only when it sleeps with nothing pending.
      // Every other event (GRANTED, failures) goes to the mailbox at once, so it is never delayed.
      let latest: QueueEntryView | undefined;
      let idle = false;
      const unsubscribe = rt.subscribeRequest(requestId, (e) => {
        if (e.type !== "queued") return box.push(e);
        latest = e.entry;
        if (idle) {
          idle = false;
          box.push(e);
        }
      });
      let isAttached = false;
      let delivered = false;
      let lease: Lease | undefined;
      openStreams++;
      try {
        const result = rt.call(() =>
          s.acquire({ requestId, holderId, slot, ...(ttlMs !== undefined ? { ttlMs } : {}) }),
        );
        isAttached = true;
        attached.set(requestId, (attached.get(requestId) ?? 0) + 1);
        rt.rememberRequest(requestId);
        let view: QueueEntryView | undefined;
        if (result.kind === "granted") lease = result.lease;
        else if (result.kind === "queued") view = result.entry;
        else if (result.entry) view = result.entry;
        else if (result.lease) lease = result.lease;
        else
          throw new ConnectError(
            `request_id: request ${requestId} already ended (released, withdrawn or failed); use a new request_id`,
            Code.FailedPrecondition,
          );

        if (!lease) {
          // QUEUED updates: the latest view, coalesced (so a long line does not cost
          // O(waiters) messages per grant), plus a heartbeat. A waiter at position p sends at most
          // one update per queuedMinIntervalMs * max(1, p / 8): the head of the line stays
          // responsive, the far back (whose position says little) is told less often.
          let sent: QueueEntryView = view!;
          yield queued(sent);
          let sentAt = Date.now();
          let nextBeat = sentAt + cfg.queuedHeartbeatMs;
          while (!lease) {
            const now = Date.now();
            const pending = latest !== undefined && !sameView(sent, latest) ? latest : undefined;
            const interval = pending
              ? cfg.queuedMinIntervalMs * Math.max(1, pending.position / 8)
              : 0;
            if (pending && now - sentAt >= interval) {
              sent = pending;
              sentAt = now;
              nextBeat = now + cfg.queuedHeartbeatMs;
              yield queued(sent);
              continue;
            }
            if (now >= nextBeat) {
              sent = pending ?? s.getEntry(requestId) ?? sent;
              sentAt = now;
              nextBeat = now + cfg.queuedHeartbeatMs;
              yield queued(sent);
              continue;
            }
            const wakeAt = pending ? Math.min(nextBeat, sentAt + interval) : nextBeat;
            idle = pending === undefined;
            const got = await box.next(ctx.signal, wakeAt - now);
            idle = false;
            if (got === TIMEOUT || got === CLOSED) continue;
            switch (got.type) {
              case "queued":
                break; // `latest` holds it
              case "granted":
              case "resumed":
                lease = got.lease;
                break;
              case "request-failed":
                throw new ConnectError(
                  got.message,
                  got.code === "unknown-gpu" ? Code.NotFound : Code.FailedPrecondition,
                );
              case "cancelled":
                throw new ConnectError(
                  `request ${requestId} was withdrawn by Release`,
                  Code.Canceled,
                );
              case "released":
              case "paused-dropped":
                throw new ConnectError(
                  `lease ${got.lease.leaseId} ended while paused (${got.type === "released" ? got.reason : got.reason})`,
                  Code.NotFound,
                );
              default:
                break;
            }
          }
        }
        const grantedLease: Lease = lease;
        yield create(AcquireResponseSchema, {
          event: { case: "granted", value: leaseToPb(grantedLease, nodeOf) },
        });
        // The caller may have gone (cancel, deadline) while GRANTED was in flight; then it
        // never learns of the lease, so the finally block releases it.
        delivered = !ctx.signal.aborted || rt.shuttingDown;
        if (!req.hold) return;

        // Held stream: keep the lease alive while the stream is open; release it when it closes.
        const leaseId = grantedLease.leaseId;
        const every = Math.max(
          50,
          Math.min(cfg.holdHeartbeatMs, Math.floor(grantedLease.ttlMs / 3)),
        );
        let nextRenew = Date.now() + every;
        for (;;) {
          const got = await box.next(ctx.signal, nextRenew - Date.now());
          if (got === TIMEOUT || Date.now() >= nextRenew) {
            const renewed: Lease = rt.call(() => s.keepAlive(leaseId));
            rt.touch();
            nextRenew = Date.now() + every;
            yield create(AcquireResponseSchema, {
              event: { case: "renewed", value: leaseToPb(renewed, nodeOf) },
            });
          }
          if (got === TIMEOUT || got === CLOSED) continue;
          if (got.type === "resumed") {
            yield create(AcquireResponseSchema, {
              event: { case: "renewed", value: leaseToPb(got.lease, nodeOf) },
            });
          } else if (got.type === "released" || got.type === "paused-dropped") {
            if (got.type === "released" && got.reason === "released") return;
            throw new ConnectError(
              `lease ${got.lease.leaseId} was lost (${got.reason})`,
              Code.NotFound,
            );
          }
        }
      } finally {
        openStreams--;
        unsubscribe();
        if (isAttached) {
          const left = (attached.get(requestId) ?? 1) - 1;
          if (left > 0) attached.set(requestId, left);
          else attached.delete(requestId);
          // The caller went away (or the stream failed) before it got its lease: leave the
          // queue, and if a grant raced the cancel, release that lease. A held stream releases
          // its lease when it closes. On shutdown both stay: the caller retries with the same id.
          if (left <= 0 && !rt.shuttingDown) {
            try {
              if (!delivered) rt.call(() => s.releaseByRequestId(requestId));
              else if (req.hold && lease) {
                const id: string = lease.leaseId;
                if (s.getLease(id)) rt.call(() => s.release(id));
              }
            } catch (err) {
              rt.logger.debug({ err, requestId }, "cleanup after Acquire stream failed");
            }
          }
        }
      }
    },

    release(req) {
      const t = req.target;
      if (t.case === "leaseId") {
        const id = checkLeaseId(t.value, "lease_id");
        const r = rt.call(() => s.release(id));
        return create(ReleaseResponseSchema, {
          released: r.released,
          alreadyReleased: !r.released,
          lease: r.lease ? leaseToPb(r.lease, nodeOf, LeaseState.RELEASED) : undefined,
        });
      }
      if (t.case === "requestId") {
        const id = checkIdField(t.value, "request_id");
        const r = rt.call(() => s.releaseByRequestId(id));
        if (r.kind === "cancelled") return create(ReleaseResponseSchema, { released: true });
        if (r.kind === "released")
          return create(ReleaseResponseSchema, {
            released: true,
            lease: leaseToPb(r.lease, nodeOf, LeaseState.RELEASED),
          });
        if (!rt.knowsRequest(id))
          throw new ConnectError(
            `request_id: no request ${JSON.stringify(id)} is known`,
            Code.NotFound,
          );
        return create(ReleaseResponseSchema, { released: false, alreadyReleased: true });
      }
      throw invalid("target", "one of lease_id or request_id is required");
    },

    keepAlive(req) {
      const id = checkLeaseId(req.leaseId, "lease_id");
      const lease = rt.call(() => s.keepAlive(id));
      rt.touch();
      return create(KeepAliveResponseSchema, { lease: leaseToPb(lease, nodeOf) });
    },

    getLease(req) {
      const id = checkLeaseId(req.leaseId, "lease_id");
      const lease = s.getLease(id);
      if (!lease)
        throw new ConnectError(
          `lease_id: no live lease ${JSON.stringify(id)} (released, expired or never issued)`,
          Code.NotFound,
        );
      return create(GetLeaseResponseSchema, { lease: leaseToPb(lease, nodeOf) });
    },

    listLeases(req) {
      if (req.service !== "" && !SERVICE_RE.test(req.service))
        throw invalid("service", "must be empty or 1 to 64 characters from [A-Za-z0-9._-]");
      if (req.gpuId !== "" && !OPAQUE_RE.test(req.gpuId))
        throw invalid("gpu_id", "must be empty or at most 128 printable characters without spaces");
      if (req.holderId !== "" && !ID_RE.test(req.holderId))
        throw invalid("holder_id", "must be empty or 1 to 128 characters from [A-Za-z0-9._:-]");
      const gpu = req.gpuId === "" ? undefined : (rt.gpus.resolve(req.gpuId) ?? req.gpuId);
      const leases = s
        .leases()
        .filter(
          (l) =>
            (req.service === "" || l.slot.service === req.service) &&
            (gpu === undefined || l.gpuId === gpu) &&
            (req.holderId === "" || l.holderId === req.holderId),
        )
        .sort((a, b) => (BigInt(a.fencingToken) < BigInt(b.fencingToken) ? -1 : 1));
      return create(ListLeasesResponseSchema, { leases: leases.map((l) => leaseToPb(l, nodeOf)) });
    },
  };
}
