/**
 * grpc.health.v1.Health: Check and Watch for "" (the whole server) and each service name.
 * Everything is SERVING while the coordinator runs and NOT_SERVING from the moment shutdown
 * starts; Watch streams every change and, per the health protocol, reports SERVICE_UNKNOWN
 * (instead of failing) for a name it does not know.
 */
import { ConnectError, Code, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
} from "../../gen/ts/grpc/health/v1/health_pb.js";
import { Mailbox, CLOSED, TIMEOUT } from "./mailbox.js";

export { Status as ServingStatus };

export class HealthState {
  private readonly status = new Map<string, Status>();
  private readonly watchers = new Set<() => void>();

  constructor(serviceNames: readonly string[]) {
    this.status.set("", Status.SERVING);
    for (const n of serviceNames) this.status.set(n, Status.SERVING);
  }

  get(service: string): Status | undefined {
    return this.status.get(service);
  }

  setAll(s: Status): void {
    for (const k of this.status.keys()) this.status.set(k, s);
    for (const w of this.watchers) w();
  }

  subscribe(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }
}

const MAX_NAME = 512;

export function healthService(state: HealthState): ServiceImpl<typeof Health> {
  return {
    check(req) {
      if (req.service.length > MAX_NAME)
        throw new ConnectError(`service: at most ${MAX_NAME} characters`, Code.InvalidArgument);
      const s = state.get(req.service);
      if (s === undefined)
        throw new ConnectError(
          `service: unknown service ${JSON.stringify(req.service)}`,
          Code.NotFound,
        );
      return create(HealthCheckResponseSchema, { status: s });
    },
    async *watch(req, ctx) {
      if (req.service.length > MAX_NAME)
        throw new ConnectError(`service: at most ${MAX_NAME} characters`, Code.InvalidArgument);
      const changed = new Mailbox<true>();
      const unsubscribe = state.subscribe(() => changed.push(true));
      try {
        let last: Status | undefined;
        for (;;) {
          const s = state.get(req.service) ?? Status.SERVICE_UNKNOWN;
          if (s !== last) {
            last = s;
            yield create(HealthCheckResponseSchema, { status: s });
          }
          const got = await changed.next(ctx.signal);
          if (got === CLOSED || got === TIMEOUT) return;
          changed.drain();
        }
      } finally {
        unsubscribe();
      }
    },
  };
}
