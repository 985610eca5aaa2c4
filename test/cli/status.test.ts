/**
 * `cf-orch status`: the real CLI against a real coordinator (in-process, port 0) holding one
 * lease (20 GiB on local/0, service "holder-svc") with one request waiting behind it
 * (20 GiB, service "waiter-svc").
 */
import type { RunningCoordinator } from "../../coordinator/server.js";
import type { Lease } from "../../gen/ts/cforch/v1/lease_pb.js";
import { spawnCoordinator, startTestCoordinator } from "../support/coordinator.js";
import {
  cli,
  closedPort,
  getStatus,
  killAll,
  leaseClient,
  startCli,
  waitUntil,
} from "./helpers.js";

jest.setTimeout(60_000);

interface StatusJson {
  gpus: {
    gpuId: string;
    capacityMb: string;
    leasedMb: string;
    measuredMb: string;
    freeMb: string;
  }[];
  leases: { leaseId: string; gpuId: string; slot: { service: string; taskType: string } }[];
  queue: {
    status: { position: number; reason: string; reasonText: string; requestId: string };
    slot: { service: string; vramMb: string };
  }[];
  evictions: unknown[];
  revision: string;
}

let server: RunningCoordinator;
let url: string;
let held: Lease;
let waiter: AbortController;
let waiterGranted: Promise<Lease | undefined>;

async function acquire(service: string, taskType: string, signal?: AbortSignal) {
  const stream = leaseClient(url).acquire(
    { slot: { service, taskType, vramMb: 20n * 1024n }, ttlMs: 60_000 },
    signal ? { signal } : {},
  );
  for await (const r of stream) if (r.event.case === "granted") return r.event.value;
  return undefined;
}

beforeAll(async () => {
  server = await startTestCoordinator();
  url = server.url;
  held = (await acquire("holder-svc", "llm"))!;
  waiter = new AbortController();
  waiterGranted = acquire("waiter-svc", "embed", waiter.signal).catch(() => undefined);
  await waitUntil("the waiting request", async () => (await getStatus(url)).queue.length === 1);
});

afterEach(() => killAll());

afterAll(async () => {
  waiter.abort();
  await waiterGranted;
  await server.close();
});

test("--json: the GetStatusResponse as proto JSON, with the lease and the waiting request", async () => {
  const r = await cli(["status", "--json", "--url", url]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const s = JSON.parse(r.stdout) as StatusJson;
  expect(s.gpus.map((g) => [g.gpuId, g.capacityMb, g.leasedMb])).toEqual([
    ["local/0", "24576", "20480"],
    ["local/1", "8192", "0"],
  ]);
  expect(s.gpus[1]!.measuredMb).toBe("0"); // default values are included for scripts
  expect(s.leases).toHaveLength(1);
  expect(s.leases[0]).toMatchObject({
    leaseId: held.leaseId,
    gpuId: "local/0",
    slot: { service: "holder-svc", taskType: "llm" },
  });
  expect(s.queue).toHaveLength(1);
  expect(s.queue[0]!.slot).toMatchObject({ service: "waiter-svc", vramMb: "20480" });
  expect(s.queue[0]!.status).toMatchObject({ position: 1, reason: "WAIT_REASON_NO_GPU_FREE" });
  expect(s.queue[0]!.status.reasonText).toContain("20480 MiB");
  expect(s.evictions).toEqual([]);
  expect(Number(s.revision)).toBeGreaterThan(0);
});

test("the table shows the GPUs, the lease's service and the queue reason", async () => {
  const r = await cli(["status"], { env: { CF_ORCH_URL: url } });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const reason = (await getStatus(url)).queue[0]!.status!.reasonText;
  const out = r.stdout;
  expect(out).toContain(`cf-orch status  ·  ${url}`);
  expect(out).toMatch(/^local\/0\s+NVIDIA GeForce RTX 4090\s+24\.0 GiB\s+20\.0 GiB\s/m);
  expect(out).toMatch(/^local\/1\s+NVIDIA GeForce RTX 3070\s+8\.0 GiB\s+0 MiB\s/m);
  expect(out).toMatch(
    new RegExp(
      `^${held.leaseId}\\s+holder-svc\\s+llm\\s+local/0\\s+20\\.0 GiB\\s+active\\s+normal`,
      "m",
    ),
  );
  expect(out).toMatch(/^\s+1\s+\S+\s+waiter-svc\s+embed\s+20\.0 GiB\s+normal\s/m);
  expect(out).toContain(reason);
  expect(out).toContain("Queue: 1 waiting request");
  expect(out).toContain("Evictions in flight: 0");
  expect(out).not.toContain("\x1b[");
});

test("an unreachable coordinator: a clear error and exit 1", async () => {
  const port = await closedPort();
  for (const extra of [[], ["--watch"], ["--json"]]) {
    const r = await cli(["status", ...extra, "--url", `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(
      `cf-orch status: cannot reach the coordinator at http://127.0.0.1:${port} (ECONNREFUSED)`,
    );
  }
});

test("usage errors exit 2; --help exits 0", async () => {
  const bad = await cli(["status", "--bogus"]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("unknown option --bogus");
  const url2 = await cli(["status", "--url", "nope"]);
  expect(url2.code).toBe(2);
  expect(url2.stderr).toContain("--url: not a URL: nope");
  const interval = await cli(["status", "--watch", "--interval-ms", "99999"]);
  expect(interval.code).toBe(2);
  const help = await cli(["status", "--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("usage: cf-orch status [--watch] [--json]");
});

describe("--watch (stdout is not a terminal)", () => {
  // These run last: they release the held lease, which lets the waiter in.
  test("--json prints one snapshot per line, again after each change, until SIGINT", async () => {
    const p = startCli(["status", "--watch", "--json", "--url", url]);
    await p.waitFor(/\n/, 15_000, "stdout");
    const first = JSON.parse(p.stdout().split("\n")[0]!) as StatusJson;
    expect(first.leases.map((l) => l.slot.service)).toEqual(["holder-svc"]);
    expect(first.queue.map((q) => q.slot.service)).toEqual(["waiter-svc"]);
    // A change: the holder releases, the waiter gets local/0.
    await leaseClient(url).release({ target: { case: "leaseId", value: held.leaseId } });
    const granted = await waiterGranted;
    expect(granted?.gpuId).toBe("local/0");
    await waitUntil("a snapshot with the waiter's lease", () =>
      p
        .stdout()
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as StatusJson)
        .some(
          (s) =>
            s.queue.length === 0 &&
            s.leases.length === 1 &&
            s.leases[0]!.slot.service === "waiter-svc",
        ),
    );
    for (const line of p.stdout().trimEnd().split("\n"))
      expect(() => JSON.parse(line)).not.toThrow();
    p.kill("SIGINT");
    expect((await p.exited).code).toBe(0);
    held = granted!;
  });

  test("tables, one per snapshot, separated by a blank line, no screen clearing", async () => {
    const p = startCli(["status", "--watch", "--url", url]);
    await p.waitFor("Evictions in flight", 15_000, "stdout");
    await leaseClient(url).release({ target: { case: "leaseId", value: held.leaseId } });
    await waitUntil("a second snapshot", () => p.stdout().split("cf-orch status  ·").length >= 3);
    p.kill("SIGINT");
    expect((await p.exited).code).toBe(0);
    const out = p.stdout();
    expect(out).not.toContain("\x1b[");
    expect(out).toContain("\n\ncf-orch status  ·");
    const last = out.slice(out.lastIndexOf("cf-orch status  ·"));
    expect(last).toContain("Leases: 0");
  });
});

test("--watch reconnects when the coordinator restarts, and keeps printing snapshots", async () => {
  const first = await spawnCoordinator();
  let second: Awaited<ReturnType<typeof spawnCoordinator>> | undefined;
  try {
    const p = startCli(["status", "--watch", "--json", "--url", first.url]);
    await p.waitFor(/\n/, 15_000, "stdout");
    first.kill("SIGKILL");
    await first.exited;
    await p.waitFor("reconnecting", 15_000, "stderr");
    second = await spawnCoordinator({ port: first.port });
    const lines = (): string[] =>
      p
        .stdout()
        .split("\n")
        .filter((l) => l.trim() !== "");
    await waitUntil("a snapshot from the restarted coordinator", () => lines().length >= 2, 20_000);
    for (const line of lines()) expect(JSON.parse(line)).toHaveProperty("gpus");
    expect(p.child.exitCode).toBeNull();
    p.kill("SIGINT");
    expect((await p.exited).code).toBe(0);
  } finally {
    first.kill("SIGKILL");
    second?.kill("SIGKILL");
  }
});
