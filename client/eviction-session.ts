/**
 * The holder's eviction session (EvictionService.Session): one bidirectional stream per
 * ResourceCoordinator, opened when the first evictable lease is registered and re-opened with
 * back-off while evictable leases remain. It answers checkpoint requests by running the
 * lease's checkpoint callback, applies resume notices, and reports losses. Heartbeats go out at
 * the interval the coordinator asks for in Welcome (it declares the session dead after three
 * missed intervals). After a reconnect every registered lease is registered again, since the
 * coordinator may have restarted.
 *
 * A reconnect can be refused with FAILED_PRECONDITION ("another session of this holder is
 * open") while the coordinator has not yet noticed that the previous connection is dead (its
 * HTTP/2 PINGs do within ping interval + timeout, 15 s by default): the session keeps retrying
 * with back-off, says so once at info level, and every lease registered meanwhile is
 * registered as soon as it is accepted (handlers.registered), even if register() timed out.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  SessionRequestSchema,
  type CheckpointRequest,
  type EvictionService,
  type SessionRequest,
} from "../gen/ts/cforch/v1/eviction_pb.js";
import type { Lease as ProtoLease } from "../gen/ts/cforch/v1/lease_pb.js";
import { AsyncChannel } from "./async-channel.js";
import { Backoff, sleep, type BackoffOptions } from "./backoff.js";
import { CfOrchError } from "./errors.js";
import { classifyFailure } from "./rpc-errors.js";

export interface SessionHandlers {
  /** The coordinator accepted the lease as evictable (also after a late or repeated register). */
  registered?(leaseId: string): void;
  /** Run the lease's checkpoint; resolve with a refusal reason, or undefined when done. */
  checkpoint(leaseId: string, request: CheckpointRequest): Promise<string | undefined>;
  resume(lease: ProtoLease): Promise<void>;
  lost(leaseId: string, reason: string): void;
}

export interface EvictionSessionOptions {
  readonly client: Client<typeof EvictionService>;
  readonly holderId: string;
  readonly service: string;
  readonly logger: Logger;
  readonly handlers: SessionHandlers;
  readonly reconnect: BackoffOptions;
  /** How long register() waits for the coordinator's acknowledgement. */
  readonly registerTimeoutMs: number;
}

export const DEFAULT_SESSION_HEARTBEAT_MS = 5000;

interface Pending {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class EvictionSession {
  readonly #registered = new Set<string>();
  readonly #pending = new Map<string, Pending>();
  readonly #abort = new AbortController();
  #outgoing: AsyncChannel<SessionRequest> | undefined;
  #connection: AbortController | undefined;
  #welcomed = false;
  #loop: Promise<void> | undefined;
  #closed = false;

  constructor(private readonly options: EvictionSessionOptions) {}

  /** Marks a lease evictable; resolves once the coordinator acknowledged it. */
  register(leaseId: string): Promise<void> {
    if (this.#closed) return Promise.reject(new CfOrchError("eviction session closed"));
    this.#registered.add(leaseId);
    const acknowledged = new Promise<void>((resolve, reject) => {
      this.#pending.get(leaseId)?.reject(new CfOrchError("registration superseded"));
      this.#pending.set(leaseId, { resolve, reject });
    });
    if (this.#welcomed) this.#sendRegister(leaseId);
    this.#ensureRunning();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new CfOrchError(
              `eviction session: no acknowledgement for lease ${leaseId} within ${this.options.registerTimeoutMs} ms`,
            ),
          ),
        this.options.registerTimeoutMs,
      );
    });
    return Promise.race([acknowledged, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * Stops tracking a lease (released or lost); the coordinator forgets it on its own. With no
   * evictable lease left the session ends, so an idle client does not hold a stream (and keep
   * the process alive) for nothing.
   */
  forget(leaseId: string): void {
    this.#registered.delete(leaseId);
    this.#pending.delete(leaseId);
    if (this.#registered.size === 0) this.#connection?.abort(new CfOrchError("session idle"));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort(new CfOrchError("eviction session closed"));
    this.#outgoing?.close();
    for (const pending of this.#pending.values()) {
      pending.reject(new CfOrchError("eviction session closed"));
    }
    this.#pending.clear();
    await this.#loop;
  }

  #send(msg: MessageInitShape<typeof SessionRequestSchema>["msg"]): void {
    this.#outgoing?.push(create(SessionRequestSchema, { msg }));
  }

  #sendRegister(leaseId: string): void {
    this.#send({ case: "register", value: { leaseId, workLostMs: 0n } });
  }

  #ensureRunning(): void {
    if (this.#loop || this.#closed) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = undefined;
      // A lease registered while the loop was winding down still needs a session.
      if (!this.#closed && this.#registered.size > 0) this.#ensureRunning();
    });
  }

  async #run(): Promise<void> {
    const backoff = new Backoff(this.options.reconnect);
    const log = this.options.logger;
    let busyReported = false;
    while (!this.#closed && this.#registered.size > 0) {
      const outgoing = new AsyncChannel<SessionRequest>();
      this.#outgoing = outgoing;
      this.#welcomed = false;
      const connection = new AbortController();
      this.#connection = connection;
      let heartbeat: NodeJS.Timeout | undefined;
      this.#send({
        case: "hello",
        value: { holderId: this.options.holderId, service: this.options.service },
      });
      try {
        const responses = this.options.client.session(outgoing, {
          signal: AbortSignal.any([this.#abort.signal, connection.signal]),
        });
        for await (const response of responses) {
          const msg = response.msg;
          switch (msg.case) {
            case "welcome": {
              backoff.reset();
              if (busyReported)
                log.info(
                  { holderId: this.options.holderId },
                  "cf-orch eviction session re-attached",
                );
              busyReported = false;
              this.#welcomed = true;
              const every = msg.value.heartbeatIntervalMs || DEFAULT_SESSION_HEARTBEAT_MS;
              heartbeat = setInterval(() => {
                this.#send({ case: "heartbeat", value: { sentAt: timestampNow() } });
              }, every);
              heartbeat.unref();
              log.debug(
                { holderId: this.options.holderId, heartbeatMs: every },
                "cf-orch eviction session open",
              );
              for (const leaseId of this.#registered) this.#sendRegister(leaseId);
              break;
            }
            case "registered": {
              const leaseId = msg.value.lease?.leaseId ?? "";
              this.#pending.get(leaseId)?.resolve();
              this.#pending.delete(leaseId);
              if (msg.value.lease?.evictable && this.#registered.has(leaseId))
                this.options.handlers.registered?.(leaseId);
              break;
            }
            case "error": {
              const { leaseId, code, message } = msg.value;
              log.warn({ leaseId, code, message }, "cf-orch eviction session error");
              const pending = this.#pending.get(leaseId);
              if (pending) {
                this.#pending.delete(leaseId);
                pending.reject(new CfOrchError(`eviction session: ${message}`, { code }));
              }
              if (code === "NOT_FOUND" && this.#registered.has(leaseId)) {
                this.#registered.delete(leaseId);
                this.options.handlers.lost(leaseId, message || "not found");
              }
              break;
            }
            case "checkpoint":
              void this.#onCheckpoint(msg.value);
              break;
            case "resume":
              if (msg.value.lease) void this.options.handlers.resume(msg.value.lease);
              break;
            case "lost":
              this.#registered.delete(msg.value.leaseId);
              this.options.handlers.lost(msg.value.leaseId, msg.value.reason);
              break;
            default:
              break;
          }
        }
      } catch (err) {
        if (!this.#closed && !connection.signal.aborted) {
          const failure = classifyFailure(err);
          if (
            failure.code === Code.FailedPrecondition &&
            /another session/i.test(failure.message)
          ) {
            // The coordinator still holds our previous session (its connection died without a
            // word); it lets go once its PINGs time out. Expected after a network cut: retry.
            log[busyReported ? "debug" : "info"](
              { holderId: this.options.holderId, err: failure.message },
              "cf-orch eviction session: the coordinator still has this holder's previous session open; retrying until it is closed",
            );
            busyReported = true;
          } else {
            log.warn(
              { holderId: this.options.holderId, err: failure.message, errnos: failure.errnos },
              "cf-orch eviction session broke; reconnecting",
            );
          }
        }
      } finally {
        clearInterval(heartbeat);
        outgoing.close();
        this.#welcomed = false;
        if (this.#outgoing === outgoing) this.#outgoing = undefined;
      }
      if (this.#connection === connection) this.#connection = undefined;
      if (this.#closed || this.#registered.size === 0) break;
      if (connection.signal.aborted) continue;
      try {
        await sleep(backoff.nextDelay(), this.#abort.signal, true);
      } catch {
        break;
      }
    }
  }

  async #onCheckpoint(request: CheckpointRequest): Promise<void> {
    const leaseId = request.leaseId;
    let refusal: string | undefined;
    try {
      refusal = await this.options.handlers.checkpoint(leaseId, request);
    } catch (err) {
      refusal = err instanceof Error ? err.message : String(err);
    }
    if (refusal === undefined) {
      this.#send({ case: "checkpointed", value: { leaseId } });
    } else {
      this.#send({ case: "refused", value: { leaseId, reason: refusal.slice(0, 256) } });
    }
    if (request.deadline && Date.now() > timestampDate(request.deadline).getTime()) {
      this.options.logger.warn(
        { leaseId },
        "cf-orch checkpoint answered after its deadline; the coordinator may have given up on it",
      );
    }
  }
}
