/**
 * curl against a real coordinator: unary calls in Connect JSON over HTTP/1.1 (the README's
 * debugging section).
 */
import { execFileSync } from "node:child_process";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { startTestCoordinator } from "../support/coordinator.js";
import { killAll, runToEnd, type Result } from "./helpers.js";

jest.setTimeout(30_000);

/** Fails (never skips) when curl is missing. */
function curlBinary(): string {
  try {
    return execFileSync("sh", ["-c", "command -v curl"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("curl is not installed: install it (apt-get install curl) to run these tests");
  }
}

let server: RunningCoordinator;
let base: string;

function curl(...args: string[]): Promise<Result> {
  return runToEnd(curlBinary(), args, { timeoutMs: 15_000 });
}

beforeAll(async () => {
  server = await startTestCoordinator();
  base = `http://127.0.0.1:${server.port}`;
});

afterEach(() => killAll());

afterAll(async () => {
  await server.close();
});

test("ClusterService/GetStatus in Connect JSON over HTTP/1.1", async () => {
  // curl -sS --http1.1 -H 'Content-Type: application/json' -d '{}' http://127.0.0.1:PORT/cforch.v1.ClusterService/GetStatus
  const r = await curl(
    "-sS",
    "--http1.1",
    "-H",
    "Content-Type: application/json",
    "-d",
    "{}",
    `${base}/cforch.v1.ClusterService/GetStatus`,
  );
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const s = JSON.parse(r.stdout) as {
    gpus: { gpuId: string; name: string; capacityMb: string; freeMb: string }[];
    revision: string;
  };
  expect(s.gpus.map((g) => [g.gpuId, g.name, g.capacityMb, g.freeMb])).toEqual([
    ["local/0", "NVIDIA GeForce RTX 4090", "24576", "24576"],
    ["local/1", "NVIDIA GeForce RTX 3070", "8192", "8192"],
  ]);
});

test("the answer really is HTTP/1.1 with a JSON body", async () => {
  const r = await curl(
    "-sS",
    "-i",
    "--http1.1",
    "-H",
    "Content-Type: application/json",
    "-d",
    "{}",
    `${base}/cforch.v1.ClusterService/GetStatus`,
  );
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^HTTP\/1\.1 200 /);
  expect(r.stdout).toMatch(/^content-type: application\/json/im);
});

test("GpuProfileService/GetProfile {name: rtx4090}", async () => {
  // curl -sS --http1.1 -H 'Content-Type: application/json' -d '{"name":"rtx4090"}' http://127.0.0.1:PORT/cforch.v1.GpuProfileService/GetProfile
  const r = await curl(
    "-sS",
    "--http1.1",
    "-H",
    "Content-Type: application/json",
    "-d",
    '{"name":"rtx4090"}',
    `${base}/cforch.v1.GpuProfileService/GetProfile`,
  );
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({
    profile: { name: "GeForce RTX 4090", vendor: "nvidia", vramGb: 24, fp16: true, int4: true },
  });
});

test("an error is a Connect JSON error with an HTTP status (unknown GPU → 404 not_found)", async () => {
  // curl -sS --http1.1 -H 'Content-Type: application/json' -d '{"name":"rtx9999"}' -w '\n%{http_code}\n' http://127.0.0.1:PORT/cforch.v1.GpuProfileService/GetProfile
  const r = await curl(
    "-sS",
    "--http1.1",
    "-H",
    "Content-Type: application/json",
    "-d",
    '{"name":"rtx9999"}',
    "-w",
    "\n%{http_code}\n",
    `${base}/cforch.v1.GpuProfileService/GetProfile`,
  );
  expect(r.code).toBe(0);
  const [body, status] = r.stdout.trim().split("\n");
  expect(status).toBe("404");
  const err = JSON.parse(body!) as { code: string; message: string };
  expect(err.code).toBe("not_found");
  expect(err.message).toContain("rtx9999");
});
