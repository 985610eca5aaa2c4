/**
 * Where the memory of waiting Acquire streams goes: live heap and RSS per open server stream
 * (after a full GC) for three servers, each holding N streams that got one QUEUED message:
 *
 *   raw-http2    node:http2 alone (headers + one gRPC message, stream left open)
 *   connect      a bare connect-node handler: `async *acquire() { yield queued; await forever }`
 *   coordinator  the real coordinator (startCoordinator, in-process), one GPU held in full
 *
 * The streams come from a child process (raw Connect clients over `--connections` HTTP/2
 * connections). Not part of `npm run bench`; run it on its own:
 *
 *   npx tsx bench/tools/stream-memory.ts [--streams 5000] [--connections 50]
 */
import { fork } from "node:child_process";
import * as http2 from "node:http2";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AcquireResponseSchema, LeaseService } from "../../gen/ts/cforch/v1/lease_pb.js";
import { startCoordinator } from "../../coordinator/server.js";
import { acquireRequest, connectMany } from "../lib/rpc.js";

const SELF = fileURLToPath(import.meta.url);
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

/** Child: open one granted "holder" stream, then N waiting streams; say "ready" when all queued. */
async function client(url: string, n: number, connections: number): Promise<void> {
  const conns = connectMany(url, connections);
  for await (const r of conns[0]!.lease.acquire(
    acquireRequest("holder", "holder", { vramMb: 1024 }),
  ))
    if (r.event.case === "granted") break;
  let queued = 0;
  for (let i = 0; i < n; i++) {
    const conn = conns[i % conns.length]!;
    void (async () => {
      let first = true;
      for await (const _ of conn.lease.acquire(
        acquireRequest(`m${i}`, `h${i}`, { vramMb: 1024 }),
      )) {
        if (first && ++queued === n) process.send!("ready");
        first = false;
      }
    })().catch(() => undefined);
  }
}

interface Mem {
  rssMb: number;
  heapUsedMb: number;
}

function mem(): Mem {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc");
  gc();
  gc();
  const m = process.memoryUsage();
  return { rssMb: m.rss / 1048576, heapUsedMb: m.heapUsed / 1048576 };
}

async function measure(
  name: string,
  start: () => Promise<{ url: string; close: () => Promise<void> }>,
  n: number,
  connections: number,
): Promise<void> {
  const server = await start();
  const idle = mem();
  const child = fork(SELF, ["--client", server.url, String(n), String(connections)], {
    execArgv: ["--import", "tsx"],
  });
  await new Promise((r) => child.once("message", r));
  await new Promise((r) => setTimeout(r, 2000));
  const busy = mem();
  child.kill("SIGKILL");
  await server.close();
  const per = (a: number, b: number) => (((b - a) * 1024) / n).toFixed(1);
  console.log(
    `${name.padEnd(12)} ${n} streams: RSS ${idle.rssMb.toFixed(0)} -> ${busy.rssMb.toFixed(0)} MiB (${per(idle.rssMb, busy.rssMb)} KiB/stream), ` +
      `heap ${idle.heapUsedMb.toFixed(0)} -> ${busy.heapUsedMb.toFixed(0)} MiB (${per(idle.heapUsedMb, busy.heapUsedMb)} KiB/stream)`,
  );
}

function listen(
  handler: Parameters<typeof http2.createServer>[1],
  onStream?: (stream: http2.ServerHttp2Stream) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const srv = handler ? http2.createServer({}, handler) : http2.createServer();
  if (onStream) srv.on("stream", onStream);
  const sessions = new Set<http2.ServerHttp2Session>();
  srv.on("session", (s) => sessions.add(s));
  return new Promise((resolve) =>
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sessions) s.destroy();
            srv.close(() => r());
          }),
      });
    }),
  );
}

/** Each server is measured in a fresh process of its own, so RSS figures do not mix. */
async function main(): Promise<void> {
  for (const name of ["raw-http2", "connect", "coordinator"]) {
    const child = fork(SELF, ["--server", name, ...process.argv.slice(2)], {
      execArgv: ["--expose-gc", "--import", "tsx"],
      stdio: "inherit",
    });
    await new Promise((r) => child.once("exit", r));
  }
}

async function server(name: string): Promise<void> {
  const n = arg("--streams", 5000);
  const connections = arg("--connections", 50);

  if (name === "raw-http2")
    await measure(
      "raw-http2",
      () => {
        let first = true;
        return listen(undefined, (stream) => {
          stream.on("data", () => undefined);
          stream.on("error", () => undefined);
          stream.respond({ ":status": 200, "content-type": "application/grpc" });
          if (first) {
            // The holder: one GRANTED message (field 2, an empty Lease), then the end.
            first = false;
            stream.end(Buffer.from([0, 0, 0, 0, 2, 0x12, 0x00]));
            return;
          }
          stream.write(Buffer.from([0, 0, 0, 0, 2, 0x0a, 0x00])); // QUEUED (field 1, empty)
        });
      },
      n,
      connections,
    );

  const impl: Partial<ServiceImpl<typeof LeaseService>> = {
    async *acquire(req, ctx) {
      if (req.requestId === "holder") {
        yield create(AcquireResponseSchema, { event: { case: "granted", value: {} } });
        return;
      }
      yield create(AcquireResponseSchema, { event: { case: "queued", value: { position: 1 } } });
      await new Promise((_, reject) =>
        ctx.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }),
      );
    },
  };
  if (name === "connect")
    await measure(
      "connect",
      () => listen(connectNodeAdapter({ routes: (r) => r.service(LeaseService, impl) })),
      n,
      connections,
    );

  if (name === "coordinator")
    await measure(
      "coordinator",
      async () => {
        const c = await startCoordinator({
          host: "127.0.0.1",
          port: 0,
          logLevel: "error",
          nvidiaSmi: "off",
          gpus: [{ node: "bench", index: 0, capacityMb: 1024 }],
          shutdownGraceMs: 100,
        });
        return { url: c.url, close: () => c.close() };
      },
      n,
      connections,
    );
}

if (process.argv[2] === "--client") {
  await client(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]));
} else if (process.argv[2] === "--server") {
  await server(process.argv[3]!);
  process.exit(0);
} else {
  await main();
  process.exit(0);
}
