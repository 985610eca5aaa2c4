/**
 * EvictionService.Session: one bidirectional stream per holder process.
 *
 * Liveness: while the session is open and the holder has been heard from within three
 * heartbeat intervals, the coordinator renews all of the holder's leases itself (every
 * min(heartbeat interval, min TTL / 3)); client heartbeats renew them too. A session silent for
 * three intervals is ended (DEADLINE_EXCEEDED); a dead connection is noticed earlier by the
 * transport's HTTP/2 PINGs. When a session ends the holder is disconnected in the core: its
 * paused leases are dropped at once, its active leases live on until their TTL.
 *
 * Re-attaching (a new session of the same holder, e.g. after a coordinator restart): Welcome
 * lists the holder's live leases; then the session is sent what the holder missed while it had
 * no session: checkpoint requests still pending for its leases, and resumes of its leases that
 * were re-granted in the meantime (each resume is sent once, see Runtime.pendingResumes). A
 * lease that was checkpointing when the coordinator stopped came back active (it still holds
 * its memory); if its holder then reports `checkpointed`, it is answered with `resume` (the
 * lease is still its own, active), and a `refused` for it is simply accepted.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { CoreEvent } from "../core/index.js";
import {
  EvictionService,
  SessionResponseSchema,
  type SessionRequest,
  type SessionResponse,
} from "../../gen/ts/cforch/v1/eviction_pb.js";
import type { PriorityClass } from "../../gen/ts/cforch/v1/common_pb.js";
import type { CoordinatorConfig } from "../config/schema.js";
import type { Runtime } from "../runtime.js";
import { leaseToPb, ts } from "./convert.js";
import { abortError, CLOSED, Mailbox, TIMEOUT } from "./mailbox.js";
import { checkIdField, checkLeaseId, invalid, toConnectError } from "./validate.js";

type SessionCfg = Pick<CoordinatorConfig, "sessionHeartbeatMs" | "minTtlMs">;

/** "NotFound" → "NOT_FOUND" (SessionError.code carries gRPC status code names). */
export function codeName(code: Code): string {
  return (Code[code] ?? "Unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

type Outgoing = { kind: "msg"; msg: SessionResponse } | { kind: "event"; event: CoreEvent };

function nextOrAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export function evictionService(rt: Runtime, cfg: SessionCfg): ServiceImpl<typeof EvictionService> {
  const s = rt.scheduler;
  const nodeOf = rt.gpus.nodeOf;
  const sessions = new Set<string>();
  rt.metrics.gauges.set("cforch_eviction_sessions", {
    help: "Open eviction sessions.",
    value: () => sessions.size,
  });
  const interval = cfg.sessionHeartbeatMs;
  const renewEvery = Math.max(20, Math.min(interval, Math.floor(cfg.minTtlMs / 3)));

  const msg = (
    m: NonNullable<MessageInitShape<typeof SessionResponseSchema>["msg"]>,
  ): SessionResponse => create(SessionResponseSchema, { msg: m });
  const sessionError = (leaseId: string, err: unknown): SessionResponse => {
    const ce = toConnectError(err);
    const c = ce instanceof ConnectError ? ce : new ConnectError(String(ce), Code.Internal);
    return msg({
      case: "error",
      value: { leaseId, code: codeName(c.code), message: c.rawMessage },
    });
  };

  /** Checks that a lease exists and belongs to this holder. */
  const ownLease = (holderId: string, leaseId: string, field: string): void => {
    checkLeaseId(leaseId, field);
    const lease = s.getLease(leaseId);
    if (!lease || lease.holderId !== holderId)
      throw new ConnectError(
        `${field}: holder ${holderId} has no live lease ${JSON.stringify(leaseId)}`,
        Code.NotFound,
      );
  };

  /** A lease restored active from "checkpointing" that no checkpoint is pending for now. */
  const restoredActive = (leaseId: string) => {
    if (!rt.wereCheckpointing.has(leaseId)) return undefined;
    const lease = s.getLease(leaseId);
    return lease && lease.state === "active" ? lease : undefined;
  };

  /** What the holder missed while it had no session: pending checkpoints, undelivered resumes. */
  const missed = (holderId: string): Array<{ msg: SessionResponse; resumed?: string }> => {
    const out: Array<{ msg: SessionResponse; resumed?: string }> = [];
    for (const ev of s.evictions()) {
      if (ev.victimHolderId !== holderId || ev.state !== "requested") continue;
      const pre = s.getEntry(ev.preemptorRequestId);
      out.push({
        msg: msg({
          case: "checkpoint",
          value: {
            leaseId: ev.victimLeaseId,
            deadline: ts(ev.deadline),
            preemptorRequestId: ev.preemptorRequestId,
            preemptorService: pre?.slot.service ?? "",
            preemptorPriority: (pre?.slot.priority ?? 0) as number as PriorityClass,
          },
        }),
      });
    }
    for (const [leaseId, holder] of rt.pendingResumes) {
      if (holder !== holderId) continue;
      const lease = s.getLease(leaseId);
      if (!lease || lease.state !== "active") continue;
      out.push({
        msg: msg({ case: "resume", value: { lease: leaseToPb(lease, nodeOf) } }),
        resumed: leaseId,
      });
    }
    return out;
  };

  /** Handles one client message after hello; returns the answer, if any. */
  const handle = (holderId: string, req: SessionRequest): SessionResponse | undefined => {
    const m = req.msg;
    let leaseId = "";
    try {
      switch (m.case) {
        case "register": {
          leaseId = m.value.leaseId;
          ownLease(holderId, leaseId, "register.lease_id");
          const w = m.value.workLostMs;
          const workLostMs =
            w === 0n
              ? undefined
              : Number(w > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : w);
          const lease = rt.call(
            () =>
              s.registerEvictable(
                leaseId,
                holderId,
                workLostMs !== undefined ? { workLostMs } : {},
              ),
            [leaseId],
          );
          return msg({ case: "registered", value: { lease: leaseToPb(lease, nodeOf) } });
        }
        case "unregister": {
          leaseId = m.value.leaseId;
          ownLease(holderId, leaseId, "unregister.lease_id");
          rt.call(() => s.unregisterEvictable(leaseId), [leaseId]);
          const lease = s.getLease(leaseId);
          return msg({
            case: "registered",
            value: { lease: lease ? leaseToPb(lease, nodeOf) : undefined },
          });
        }
        case "checkpointed": {
          leaseId = m.value.leaseId;
          ownLease(holderId, leaseId, "checkpointed.lease_id");
          const interrupted = restoredActive(leaseId);
          if (interrupted) {
            // Its checkpoint request died with the previous coordinator; the lease is active
            // and still the holder's: tell it to resume.
            rt.wereCheckpointing.delete(leaseId);
            return msg({ case: "resume", value: { lease: leaseToPb(interrupted, nodeOf) } });
          }
          rt.call(() => s.checkpointed(leaseId));
          return undefined;
        }
        case "refused": {
          leaseId = m.value.leaseId;
          ownLease(holderId, leaseId, "refused.lease_id");
          if (m.value.reason.length > 256)
            throw invalid("refused.reason", `at most 256 characters, got ${m.value.reason.length}`);
          const reason = m.value.reason;
          if (restoredActive(leaseId)) {
            rt.wereCheckpointing.delete(leaseId); // it keeps its lease, as a refusal means
            return undefined;
          }
          rt.call(() => s.refused(leaseId, reason || "refused"));
          return undefined;
        }
        case "heartbeat":
          rt.call(() => s.keepAliveHolder(holderId));
          rt.touch();
          return msg({ case: "heartbeat", value: { sentAt: timestampNow() } });
        case "hello":
          throw invalid("hello", "only the first message of a session may be hello");
        default:
          throw invalid(
            "msg",
            "one of hello, register, unregister, checkpointed, refused, heartbeat is required",
          );
      }
    } catch (err) {
      return sessionError(leaseId, err);
    }
  };

  /** Core event → message for the holder, if it concerns it. */
  const translate = (e: CoreEvent): SessionResponse | undefined => {
    switch (e.type) {
      case "checkpoint-requested": {
        const pre = s.getEntry(e.preemptorRequestId);
        return msg({
          case: "checkpoint",
          value: {
            leaseId: e.victim.leaseId,
            deadline: ts(e.deadline),
            preemptorRequestId: e.preemptorRequestId,
            preemptorService: pre?.slot.service ?? "",
            preemptorPriority: (pre?.slot.priority ?? 0) as number as PriorityClass,
          },
        });
      }
      case "resumed":
        return msg({ case: "resume", value: { lease: leaseToPb(e.lease, nodeOf) } });
      case "released":
        return msg({ case: "lost", value: { leaseId: e.lease.leaseId, reason: e.reason } });
      case "paused-dropped":
        return msg({
          case: "lost",
          value: { leaseId: e.lease.leaseId, reason: `dropped (${e.reason})` },
        });
      default:
        return undefined;
    }
  };

  return {
    async *session(requests, ctx) {
      rt.assertServing();
      const it = requests[Symbol.asyncIterator]();
      const first = await nextOrAbort(it.next(), ctx.signal);
      if (first.done) return;
      const m = first.value.msg;
      if (m.case !== "hello")
        throw invalid("hello", "the first message of a session must be hello");
      const holderId = checkIdField(m.value.holderId, "hello.holder_id");
      if (m.value.service.length > 64)
        throw invalid("hello.service", `at most 64 characters, got ${m.value.service.length}`);
      if (sessions.has(holderId))
        throw new ConnectError(
          `hello.holder_id: another session of holder ${holderId} is open`,
          Code.FailedPrecondition,
        );
      sessions.add(holderId);
      const out = new Mailbox<Outgoing>();
      const unsubscribe = rt.subscribeHolder(holderId, (event) =>
        out.push({ kind: "event", event }),
      );
      const log = rt.logger.child({ holderId, service: m.value.service || undefined });
      log.debug("eviction session opened");
      let lastHeard = Date.now();
      let lastSent = Date.now();
      let pumpError: unknown;
      let ended = false;
      try {
        rt.call(() => s.keepAliveHolder(holderId));
        const leases = s.leases().filter((l) => l.holderId === holderId);
        yield msg({
          case: "welcome",
          value: { heartbeatIntervalMs: interval, leases: leases.map((l) => leaseToPb(l, nodeOf)) },
        });
        lastSent = Date.now();
        for (const m of missed(holderId)) {
          yield m.msg;
          if (m.resumed) rt.resumeDelivered(m.resumed);
        }

        // Read client messages in the background; answers go through the same mailbox.
        void (async () => {
          try {
            for (;;) {
              const r = await it.next();
              if (r.done || ended) break;
              lastHeard = Date.now();
              const answer = handle(holderId, r.value);
              if (answer) out.push({ kind: "msg", msg: answer });
            }
          } catch (err) {
            pumpError = err;
          }
          out.close();
        })();

        let nextRenew = Date.now() + renewEvery;
        for (;;) {
          const now = Date.now();
          if (now - lastHeard > 3 * interval)
            throw new ConnectError(
              `no message from holder ${holderId} for ${now - lastHeard} ms (3 heartbeat intervals of ${interval} ms)`,
              Code.DeadlineExceeded,
            );
          if (now >= nextRenew) {
            // An open, live session keeps every lease of its holder alive.
            if (rt.call(() => s.keepAliveHolder(holderId)) > 0) rt.bump();
            nextRenew = now + renewEvery;
          }
          if (now - lastSent >= interval) {
            lastSent = now;
            yield msg({ case: "heartbeat", value: { sentAt: timestampNow() } });
            continue;
          }
          const wait = Math.min(nextRenew, lastSent + interval, lastHeard + 3 * interval + 1) - now;
          const item = await out.next(ctx.signal, Math.max(1, wait));
          if (item === TIMEOUT) continue;
          if (item === CLOSED) {
            if (pumpError !== undefined && !ctx.signal.aborted) throw pumpError;
            return;
          }
          let resumed: string | undefined;
          if (item.kind === "event" && item.event.type === "resumed") {
            // Sent once: it may already have gone out with this session's opening.
            resumed = item.event.lease.leaseId;
            if (!rt.pendingResumes.has(resumed)) continue;
          }
          const reply = item.kind === "msg" ? item.msg : translate(item.event);
          if (reply) {
            lastSent = Date.now();
            yield reply;
            if (resumed) rt.resumeDelivered(resumed);
          }
        }
      } finally {
        ended = true;
        unsubscribe();
        sessions.delete(holderId);
        log.debug("eviction session closed");
        if (!rt.shuttingDown) {
          try {
            // It clears evictable flags without events: rewrite the holder's lease rows too.
            const own = s
              .leases()
              .filter((l) => l.holderId === holderId)
              .map((l) => l.leaseId);
            rt.call(() => s.holderDisconnected(holderId), own);
          } catch (err) {
            log.debug({ err }, "holderDisconnected failed");
          }
        }
      }
    },
  };
}
