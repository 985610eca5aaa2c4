/**
 * The real grpcurl binary (pinned v1.9.3, installed by scripts/setup.sh into .tools/bin) against
 * a real coordinator on a free loopback port, through server reflection only (no local .proto
 * files). These are the commands of the README's debugging section.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { startTestCoordinator } from "../support/coordinator.js";
import {
  REPO_ROOT,
  getStatus,
  killAll,
  parseJsonStream,
  runToEnd,
  start,
  waitUntil,
  type Result,
} from "./helpers.js";

jest.setTimeout(60_000);

const GRPCURL = join(REPO_ROOT, ".tools", "bin", "grpcurl");
const PINNED = "v1.9.3";

/** Fails (never skips) when grpcurl is missing or not the pinned version. */
function grpcurlBinary(): string {
  if (!existsSync(GRPCURL))
    throw new Error(
      `grpcurl is not installed at ${GRPCURL}: run \`bash scripts/setup.sh\` ` +
        `(it installs grpcurl ${PINNED} into .tools/bin)`,
    );
  const stamp = join(REPO_ROOT, ".tools", "bin", ".grpcurl.version");
  const version = existsSync(stamp) ? readFileSync(stamp, "utf8").trim() : "";
  if (version !== "" && !version.endsWith(`@${PINNED}`))
    throw new Error(
      `grpcurl at ${GRPCURL} is ${version}, not ${PINNED}: run \`bash scripts/setup.sh\``,
    );
  return GRPCURL;
}

let server: RunningCoordinator;
let addr: string;

function grpcurl(...args: string[]): Promise<Result> {
  return runToEnd(grpcurlBinary(), args, { timeoutMs: 20_000 });
}

interface LeaseJson {
  leaseId: string;
  gpuId: string;
  vramMb: string;
  state: string;
  ttlMs: number;
  slot: { service: string; vramMb: string };
}

beforeAll(async () => {
  server = await startTestCoordinator();
  addr = `127.0.0.1:${server.port}`;
});

afterEach(() => killAll());

afterAll(async () => {
  await server.close();
});

test("the pinned grpcurl is installed (else: run scripts/setup.sh)", () => {
  expect(existsSync(grpcurlBinary())).toBe(true);
});

test("list: every service, through reflection", async () => {
  // grpcurl -plaintext 127.0.0.1:PORT list
  const r = await grpcurl("-plaintext", addr, "list");
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout.trim().split("\n").sort()).toEqual([
    "cforch.v1.ClusterService",
    "cforch.v1.EvictionService",
    "cforch.v1.GpuProfileService",
    "cforch.v1.LeaseService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
  ]);
  // grpcurl -plaintext 127.0.0.1:PORT list cforch.v1.LeaseService
  const methods = await grpcurl("-plaintext", addr, "list", "cforch.v1.LeaseService");
  expect(methods.code).toBe(0);
  expect(methods.stdout.trim().split("\n").sort()).toEqual([
    "cforch.v1.LeaseService.Acquire",
    "cforch.v1.LeaseService.GetLease",
    "cforch.v1.LeaseService.KeepAlive",
    "cforch.v1.LeaseService.ListLeases",
    "cforch.v1.LeaseService.Release",
  ]);
});

test.each([
  ["cforch.v1.LeaseService", ["Acquire", "Release", "KeepAlive", "GetLease", "ListLeases"]],
  ["cforch.v1.EvictionService", ["Session"]],
  ["cforch.v1.GpuProfileService", ["GetProfile", "ListProfiles", "CheckFit"]],
  ["cforch.v1.ClusterService", ["GetStatus", "WatchStatus", "RegisterNode", "ReportUsage"]],
])("describe %s", async (service, rpcs) => {
  // grpcurl -plaintext 127.0.0.1:PORT describe cforch.v1.LeaseService   (and the others)
  const r = await grpcurl("-plaintext", addr, "describe", service);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`${service} is a service:`);
  for (const rpc of rpcs) expect(r.stdout).toMatch(new RegExp(`rpc ${rpc} \\(`));
});

test("describe cforch.v1.AcquireRequest", async () => {
  // grpcurl -plaintext 127.0.0.1:PORT describe cforch.v1.AcquireRequest
  const r = await grpcurl("-plaintext", addr, "describe", "cforch.v1.AcquireRequest");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("cforch.v1.AcquireRequest is a message:");
  for (const field of [
    "string request_id = 1;",
    ".cforch.v1.Slot slot = 2;",
    "uint32 ttl_ms = 3;",
    "string holder_id = 4;",
    "bool hold = 5;",
  ])
    expect(r.stdout).toContain(field);
  // Reflection serves the documented image, so the proto doc comments are the reference.
  expect(r.stdout).toContain("// AcquireRequest asks for a lease.");
  expect(r.stdout).toMatch(/\/\/ Client-chosen idempotency key, 1 to 128 characters/);
});

test("health check: SERVING", async () => {
  // grpcurl -plaintext 127.0.0.1:PORT grpc.health.v1.Health/Check
  const r = await grpcurl("-plaintext", addr, "grpc.health.v1.Health/Check");
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({ status: "SERVING" });
  // grpcurl -plaintext -d '{"service":"cforch.v1.LeaseService"}' 127.0.0.1:PORT grpc.health.v1.Health/Check
  const svc = await grpcurl(
    "-plaintext",
    "-d",
    '{"service":"cforch.v1.LeaseService"}',
    addr,
    "grpc.health.v1.Health/Check",
  );
  expect(svc.code).toBe(0);
  expect(JSON.parse(svc.stdout)).toEqual({ status: "SERVING" });
});

test("Acquire streams to GRANTED; Release frees the lease", async () => {
  // grpcurl -plaintext -d '{"slot":{"service":"shell","vram_mb":4096}}' 127.0.0.1:PORT cforch.v1.LeaseService/Acquire
  const r = await grpcurl(
    "-plaintext",
    "-d",
    '{"slot":{"service":"shell","vram_mb":4096}}',
    addr,
    "cforch.v1.LeaseService/Acquire",
  );
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const messages = parseJsonStream(r.stdout) as { granted?: LeaseJson }[];
  const granted = messages[messages.length - 1]!.granted!;
  expect(granted).toMatchObject({
    gpuId: "local/1",
    vramMb: "4096",
    state: "LEASE_STATE_ACTIVE",
    slot: { service: "shell", vramMb: "4096" },
  });
  expect(granted.leaseId).toMatch(/^lease_/);
  expect((await getStatus(server.url)).leases.map((l) => l.leaseId)).toEqual([granted.leaseId]);

  // grpcurl -plaintext -d '{"lease_id":"LEASE_ID"}' 127.0.0.1:PORT cforch.v1.LeaseService/Release
  const rel = await grpcurl(
    "-plaintext",
    "-d",
    JSON.stringify({ lease_id: granted.leaseId }),
    addr,
    "cforch.v1.LeaseService/Release",
  );
  expect(rel.code).toBe(0);
  expect(JSON.parse(rel.stdout)).toMatchObject({
    released: true,
    lease: { leaseId: granted.leaseId, state: "LEASE_STATE_RELEASED" },
  });
  expect((await getStatus(server.url)).leases).toHaveLength(0);
  // Releasing twice is harmless.
  const again = await grpcurl(
    "-plaintext",
    "-d",
    JSON.stringify({ lease_id: granted.leaseId }),
    addr,
    "cforch.v1.LeaseService/Release",
  );
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout)).toMatchObject({ alreadyReleased: true });
});

test("a held lease (hold:true) lives while grpcurl runs, past its TTL, and is released when grpcurl gets SIGINT", async () => {
  // grpcurl -plaintext -d '{"slot":{"service":"shell","vram_mb":4096},"hold":true}' 127.0.0.1:PORT cforch.v1.LeaseService/Acquire
  // (here with "ttl_ms":1500 so that outliving the TTL is quick to see)
  const p = start(grpcurlBinary(), [
    "-plaintext",
    "-d",
    '{"slot":{"service":"shell","vram_mb":4096},"hold":true,"ttl_ms":1500}',
    addr,
    "cforch.v1.LeaseService/Acquire",
  ]);
  await p.waitFor('"granted"', 15_000, "stdout");
  await waitUntil("the first message to be complete", () => parseJsonStream(p.stdout()).length > 0);
  const granted = (parseJsonStream(p.stdout())[0] as { granted: LeaseJson }).granted;
  expect(granted.ttlMs).toBe(1500);
  const grantedAt = Date.now();
  // Renewed on the open stream (every TTL/3): still there after twice its TTL.
  await waitUntil(
    "twice the TTL to pass with renewals on the stream",
    () =>
      Date.now() - grantedAt > 3_000 &&
      parseJsonStream(p.stdout()).filter((m) => "renewed" in (m as object)).length >= 2,
    15_000,
  );
  const s = await getStatus(server.url);
  expect(s.leases.map((l) => l.leaseId)).toEqual([granted.leaseId]);
  expect(p.child.exitCode).toBeNull();

  p.kill("SIGINT");
  await p.exited;
  await waitUntil(
    "the held lease to be released",
    async () => (await getStatus(server.url)).leases.length === 0,
    10_000,
  );
});

test("a held lease with the default TTL (30 s) is released as soon as grpcurl gets SIGINT", async () => {
  // grpcurl -plaintext -d '{"slot":{"service":"shell","vram_mb":4096},"hold":true}' 127.0.0.1:PORT cforch.v1.LeaseService/Acquire
  const p = start(grpcurlBinary(), [
    "-plaintext",
    "-d",
    '{"slot":{"service":"shell","vram_mb":4096},"hold":true}',
    addr,
    "cforch.v1.LeaseService/Acquire",
  ]);
  await p.waitFor('"granted"', 15_000, "stdout");
  await waitUntil("the first message to be complete", () => parseJsonStream(p.stdout()).length > 0);
  const granted = (parseJsonStream(p.stdout())[0] as { granted: LeaseJson }).granted;
  expect(granted.ttlMs).toBe(30_000);
  const s = await getStatus(server.url);
  expect(s.leases.map((l) => [l.leaseId, l.slot?.service])).toEqual([[granted.leaseId, "shell"]]);
  p.kill("SIGINT");
  await p.exited;
  // Well within the 30 s TTL: released because the stream closed, not expired.
  await waitUntil(
    "the held lease to be released",
    async () => (await getStatus(server.url)).leases.length === 0,
    10_000,
  );
});
