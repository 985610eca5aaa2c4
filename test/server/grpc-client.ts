/**
 * An independent client for the server tests: @grpc/grpc-js with the API loaded from proto/
 * by @grpc/proto-loader (no generated TypeScript), so the tests check the wire contract and
 * not our own stubs. Messages are plain objects with camelCase fields, enums as names, 64-bit
 * integers as strings.
 */
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { REPO_ROOT } from "../support/coordinator.js";

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Msg = Record<string, any>;

const PROTO_DIR = join(REPO_ROOT, "proto");

const definition = protoLoader.loadSync(
  [
    "cforch/v1/lease.proto",
    "cforch/v1/eviction.proto",
    "cforch/v1/cluster.proto",
    "cforch/v1/profile.proto",
  ].map((f) => join(PROTO_DIR, f)),
  { includeDirs: [PROTO_DIR], longs: String, enums: String, defaults: true, oneofs: true },
);
const pkg = grpc.loadPackageDefinition(definition) as any;

export interface GrpcClients {
  lease: any;
  eviction: any;
  cluster: any;
  profile: any;
  close(): void;
}

export function grpcClients(url: string): GrpcClients {
  const target = url.replace(/^http:\/\//, "");
  const creds = grpc.credentials.createInsecure();
  const lease = new pkg.cforch.v1.LeaseService(target, creds);
  const eviction = new pkg.cforch.v1.EvictionService(target, creds);
  const cluster = new pkg.cforch.v1.ClusterService(target, creds);
  const profile = new pkg.cforch.v1.GpuProfileService(target, creds);
  return {
    lease,
    eviction,
    cluster,
    profile,
    close() {
      for (const c of [lease, eviction, cluster, profile]) c.close();
    },
  };
}

/** Promisified unary call; rejects with the grpc-js ServiceError. */
export function unary(client: any, method: string, req: Msg): Promise<Msg> {
  return new Promise((resolve, reject) => {
    client[method](
      req,
      { deadline: Date.now() + 10_000 },
      (err: grpc.ServiceError | null, res: Msg) => (err ? reject(err) : resolve(res)),
    );
  });
}

/** Async queue over a grpc-js readable stream: next() waits (bounded) for the next message. */
export class StreamReader {
  private readonly items: Msg[] = [];
  private waiters: Array<() => void> = [];
  ended = false;
  error: grpc.ServiceError | undefined;

  constructor(readonly call: grpc.ClientReadableStream<Msg> | grpc.ClientDuplexStream<Msg, Msg>) {
    call.on("data", (m: Msg) => {
      this.items.push(m);
      this.wake();
    });
    call.on("error", (e: grpc.ServiceError) => {
      this.error = e;
      this.ended = true;
      this.wake();
    });
    call.on("end", () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next message, or throws on end / error / timeout. */
  async next(timeoutMs = 5000): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.items.shift();
      if (m) return m;
      if (this.ended) throw this.error ?? new Error("stream ended");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Skips messages until one matches; bounded in time. */
  async until(pred: (m: Msg) => boolean, timeoutMs = 5000): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (pred(m)) return m;
    }
  }

  /** Waits for the stream to end; returns its error, if any. */
  async finished(timeoutMs = 5000): Promise<grpc.ServiceError | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error("stream did not end");
      await new Promise<void>((r) => {
        const t = setTimeout(r, 20);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.error;
  }
}

export { grpc };
