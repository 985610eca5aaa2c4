/**
 * One port, every protocol: Connect JSON over HTTP/1.1 with plain fetch, gRPC-Web over
 * HTTP/1.1, Connect and gRPC over HTTP/2 (h2c), /healthz and /metrics over both HTTP versions.
 */
import * as http2 from "node:http2";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { ClusterService } from "../../gen/ts/cforch/v1/cluster_pb.js";
import { LeaseService } from "../../gen/ts/cforch/v1/lease_pb.js";
import { SlotSchema } from "../../gen/ts/cforch/v1/common_pb.js";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { startTestCoordinator } from "../support/coordinator.js";

let c: RunningCoordinator;

beforeAll(async () => {
  c = await startTestCoordinator();
});
afterAll(async () => {
  await c.close();
});

function h2get(url: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", reject);
    const req = session.request({ ":path": path, ":method": "GET" });
    let body = "";
    let status = 0;
    req.setEncoding("utf8");
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      session.close();
      resolve({ status, body });
    });
    req.on("error", reject);
    req.end();
  });
}

test("Connect JSON over HTTP/1.1 with plain fetch", async () => {
  const res = await fetch(`${c.url}/cforch.v1.ClusterService/GetStatus`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { gpus: Array<{ gpuId: string; capacityMb: string }> };
  expect(body.gpus.map((g) => [g.gpuId, g.capacityMb])).toEqual([
    ["local/0", "24576"],
    ["local/1", "8192"],
  ]);
});

test("Connect JSON errors name the field (HTTP 400, code invalid_argument)", async () => {
  const res = await fetch(`${c.url}/cforch.v1.LeaseService/KeepAlive`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ leaseId: "" }),
  });
  expect(res.status).toBe(400);
  const body = (await res.json()) as { code: string; message: string };
  expect(body.code).toBe("invalid_argument");
  expect(body.message).toMatch(/^lease_id: /);
});

test("gRPC-Web over HTTP/1.1: acquire, then release", async () => {
  const transport = createGrpcWebTransport({ baseUrl: c.url, httpVersion: "1.1" });
  const leases = createClient(LeaseService, transport);
  const updates = [];
  for await (const u of leases.acquire({
    requestId: "grpcweb-1",
    slot: create(SlotSchema, { service: "kiwi", vramMb: 4096n }),
  }))
    updates.push(u);
  const last = updates[updates.length - 1]!;
  expect(last.event.case).toBe("granted");
  const lease = last.event.case === "granted" ? last.event.value : undefined;
  expect(lease?.gpuId).toBe("local/1"); // best fit: the 8 GB GPU
  const rel = await leases.release({ target: { case: "leaseId", value: lease!.leaseId } });
  expect(rel.released).toBe(true);
  const again = await leases.release({ target: { case: "leaseId", value: lease!.leaseId } });
  expect(again).toMatchObject({ released: false, alreadyReleased: true });
});

test("Connect over HTTP/2 and gRPC (h2c) on the same port", async () => {
  const connect = createClient(
    ClusterService,
    createConnectTransport({ baseUrl: c.url, httpVersion: "2" }),
  );
  const grpc = createClient(ClusterService, createGrpcTransport({ baseUrl: c.url }));
  const [a, b] = await Promise.all([connect.getStatus({}), grpc.getStatus({})]);
  expect(a.gpus).toHaveLength(2);
  expect(b.gpus).toHaveLength(2);
  expect(a.revision).toBeGreaterThan(0n);
});

test("/healthz and /metrics over HTTP/1.1 and HTTP/2", async () => {
  const h = await fetch(`${c.url}/healthz`);
  expect(h.status).toBe(200);
  expect(await h.text()).toBe("ok\n");
  const m = await fetch(`${c.url}/metrics`);
  expect(m.headers.get("content-type")).toMatch(/^text\/plain/);
  const text = await m.text();
  expect(text).toMatch(/^cforch_gpu_capacity_mb\{gpu="local\/0",node="local"\} 24576$/m);
  expect(text).toMatch(/^# TYPE cforch_grants_total counter$/m);
  expect(text).toMatch(/^cforch_queue_length \d+$/m);

  const h2 = await h2get(c.url, "/healthz");
  expect(h2).toEqual({ status: 200, body: "ok\n" });
  const m2 = await h2get(c.url, "/metrics");
  expect(m2.status).toBe(200);
  expect(m2.body).toContain("cforch_gpu_free_mb");
  const sj = (await (await fetch(`${c.url}/status.json`)).json()) as {
    gpus: Array<{ gpuId: string }>;
  };
  expect(sj.gpus.map((g) => g.gpuId)).toEqual(["local/0", "local/1"]);
  const nf = await fetch(`${c.url}/nope`);
  expect(nf.status).toBe(404);
});

test("oversized messages are refused without harm", async () => {
  const huge = "x".repeat(2 * 1024 * 1024);
  const res = await fetch(`${c.url}/cforch.v1.LeaseService/GetLease`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ leaseId: huge }),
  });
  expect(res.status).toBeGreaterThanOrEqual(400);
  const ok = await fetch(`${c.url}/healthz`);
  expect(ok.status).toBe(200);
});
