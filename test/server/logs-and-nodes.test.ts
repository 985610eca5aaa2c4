/**
 * Structured logs (every grant, release, expiry, pause, resume, refusal and abandoned
 * eviction with lease id, service, GPU, VRAM and wait time; nothing at info per keep-alive),
 * checkpoint deadlines, node agents registering GPUs, and CheckFit on a managed GPU.
 */
import { Writable } from "node:stream";
import pino from "pino";
import { create } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { LeaseService } from "../../gen/ts/cforch/v1/lease_pb.js";
import { ClusterService } from "../../gen/ts/cforch/v1/cluster_pb.js";
import {
  EvictionService,
  SessionRequestSchema,
  type SessionResponse,
} from "../../gen/ts/cforch/v1/eviction_pb.js";
import { GpuProfileService } from "../../gen/ts/cforch/v1/profile_pb.js";
import { Precision, PriorityClass } from "../../gen/ts/cforch/v1/common_pb.js";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { startTestCoordinator } from "../support/coordinator.js";

jest.setTimeout(30_000);

type Line = Record<string, unknown> & { level: number; msg: string };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let c: RunningCoordinator;
let lines: Line[];
let lease: Client<typeof LeaseService>;
let cluster: Client<typeof ClusterService>;
let evict: Client<typeof EvictionService>;

beforeEach(async () => {
  lines = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  c = await startTestCoordinator({
    logger: pino({ level: "debug" }, sink),
    checkpointDeadlineMs: 300,
    minTtlMs: 200,
  });
  const t = createGrpcTransport({ baseUrl: c.url });
  lease = createClient(LeaseService, t);
  cluster = createClient(ClusterService, t);
  evict = createClient(EvictionService, t);
});
afterEach(async () => {
  await c.close();
});

async function grant(req: Parameters<typeof lease.acquire>[0]) {
  for await (const m of lease.acquire(req)) if (m.event.case === "granted") return m.event.value;
  throw new Error("no grant");
}

const info = (msg: string) => lines.filter((l) => l.level >= 30 && l.msg === msg);

test("grant, keep-alive, release and expiry are logged with the lease's facts", async () => {
  const l = await grant({
    requestId: "log-1",
    slot: { service: "kiwi", taskType: "llm", vramMb: 4096n },
  });
  const [g] = info("lease granted");
  expect(g).toMatchObject({
    leaseId: l.leaseId,
    requestId: "log-1",
    service: "kiwi",
    taskType: "llm",
    priority: "normal",
    gpu: "local/1",
    vramMb: 4096,
    waitMs: expect.any(Number) as unknown,
  });
  expect(g!.waitMs as number).toBeLessThan(100);
  const before = lines.filter((x) => x.level >= 30).length;
  for (let i = 0; i < 5; i++) await lease.keepAlive({ leaseId: l.leaseId });
  expect(lines.filter((x) => x.level >= 30).length).toBe(before); // no info line per keep-alive
  await lease.release({ target: { case: "leaseId", value: l.leaseId } });
  expect(info("lease released")[0]).toMatchObject({
    leaseId: l.leaseId,
    service: "kiwi",
    gpu: "local/1",
    reason: "released",
  });

  const e = await grant({
    requestId: "log-2",
    slot: { service: "snipe", vramMb: 1000n },
    ttlMs: 200,
  });
  for (
    let i = 0;
    i < 100 && info("lease expired (holder stopped keeping it alive)").length === 0;
    i++
  )
    await sleep(20);
  expect(info("lease expired (holder stopped keeping it alive)")[0]).toMatchObject({
    level: 40,
    leaseId: e.leaseId,
    service: "snipe",
  });
});

test("eviction: checkpoint requested, paused, resumed, refused and deadline are logged; a waiting preemptor's wait time too", async () => {
  // Two evictable victims of class batch on local/1, each holding half of it.
  const v1 = await grant({
    requestId: "v1",
    holderId: "victims",
    slot: {
      service: "nightly",
      vramMb: 4096n,
      priority: PriorityClass.BATCH,
      constraints: { gpuId: "local/1" },
    },
  });
  const v2 = await grant({
    requestId: "v2",
    holderId: "victims",
    slot: {
      service: "nightly",
      vramMb: 4096n,
      priority: PriorityClass.BATCH,
      constraints: { gpuId: "local/1" },
    },
  });
  const inbox: SessionResponse[] = [];
  const outbox: Array<Parameters<typeof create<typeof SessionRequestSchema>>[1]> = [
    { msg: { case: "hello", value: { holderId: "victims", service: "nightly" } } },
    { msg: { case: "register", value: { leaseId: v1.leaseId } } },
    { msg: { case: "register", value: { leaseId: v2.leaseId } } },
  ];
  let open = true;
  async function* input() {
    for (let i = 0; i < 500 && open; i++) {
      const m = outbox.shift();
      if (m) yield create(SessionRequestSchema, m);
      else await sleep(10);
    }
  }
  const session = (async () => {
    try {
      for await (const m of evict.session(input())) inbox.push(m);
    } catch {
      /* closed */
    }
  })();
  const waitInbox = async (pred: (m: SessionResponse) => boolean) => {
    for (let i = 0; i < 300; i++) {
      const found = inbox.find(pred);
      if (found) return found;
      await sleep(10);
    }
    throw new Error("message not received");
  };
  await waitInbox((m) => m.msg.case === "registered" && m.msg.value.lease?.leaseId === v2.leaseId);

  // A high-priority request needs 4096 MiB there: one victim is asked.
  const preemptor = grant({
    requestId: "p1",
    slot: {
      service: "peregrine",
      vramMb: 4096n,
      priority: PriorityClass.HIGH,
      constraints: { gpuId: "local/1" },
    },
  });
  const ck = await waitInbox((m) => m.msg.case === "checkpoint");
  const victim = ck.msg.case === "checkpoint" ? ck.msg.value.leaseId : "";
  // Refuse it: the coordinator asks the other victim, which never answers: deadline.
  outbox.push({ msg: { case: "refused", value: { leaseId: victim, reason: "busy" } } });
  const other = victim === v1.leaseId ? v2.leaseId : v1.leaseId;
  await waitInbox((m) => m.msg.case === "checkpoint" && m.msg.value.leaseId === other);
  for (let i = 0; i < 100 && !lines.some((l) => l.msg === "eviction abandoned (deadline)"); i++)
    await sleep(20);
  expect(lines.find((l) => l.msg === "eviction: checkpoint refused")).toMatchObject({
    leaseId: victim,
    reason: "refused",
    detail: "busy",
  });
  expect(lines.find((l) => l.msg === "eviction abandoned (deadline)")).toMatchObject({
    leaseId: other,
    preemptorRequestId: "p1",
  });
  expect(info("eviction: checkpoint requested")[0]).toMatchObject({
    service: "nightly",
    gpu: "local/1",
    vramMb: 4096,
    preemptorRequestId: "p1",
  });

  // p1 has given up on both victims and waits. A critical request is a new preemptor: it
  // asks a victim again, which checkpoints this time.
  const before = inbox.length;
  const p2 = grant({
    requestId: "p2",
    slot: {
      service: "urgent",
      vramMb: 4096n,
      priority: PriorityClass.CRITICAL,
      constraints: { gpuId: "local/1" },
    },
  });
  const ck2 = await (async () => {
    for (let i = 0; i < 300; i++) {
      const m = inbox.slice(before).find((x) => x.msg.case === "checkpoint");
      if (m) return m;
      await sleep(10);
    }
    return undefined;
  })();
  const pausedId = ck2?.msg.case === "checkpoint" ? ck2.msg.value.leaseId : "";
  expect(pausedId).not.toBe("");
  outbox.push({ msg: { case: "checkpointed", value: { leaseId: pausedId } } });
  const g2 = await p2;
  expect(info("eviction: lease paused")[0]).toMatchObject({ leaseId: pausedId, pausedBy: "p2" });
  // Memory returns: first to p1 (high beats the paused batch lease), then the paused lease resumes.
  await lease.release({ target: { case: "leaseId", value: g2.leaseId } });
  const p = await preemptor;
  const pg = info("lease granted").find((l) => l.requestId === "p1")!;
  expect(pg.waitMs as number).toBeGreaterThan(0);
  await lease.release({ target: { case: "leaseId", value: p.leaseId } });
  await waitInbox((m) => m.msg.case === "resume");
  expect(info("lease resumed")[0]).toMatchObject({ leaseId: pausedId, gpu: "local/1" });
  const metrics = await (await fetch(`${c.url}/metrics`)).text();
  expect(metrics).toMatch(/^cforch_pauses_total 1$/m);
  expect(metrics).toMatch(/^cforch_resumes_total 1$/m);
  expect(metrics).toMatch(/^cforch_evictions_total [1-9]/m);
  open = false;
  await session;
});

test("a node agent registers GPUs; they take leases; CheckFit works on a managed GPU", async () => {
  const reg = await cluster.registerNode({
    node: "gpu-box",
    gpus: [
      {
        index: 0,
        name: "NVIDIA A100-SXM4-80GB",
        uuid: "GPU-a100",
        memoryTotalMb: 81920n,
        capacityMb: 80000n,
      },
      { index: 1, name: "Mystery Accelerator", memoryTotalMb: 16384n },
    ],
  });
  expect(reg.gpus.map((g) => [g.gpuId, g.capacityMb, g.profile?.name ?? ""])).toEqual([
    ["gpu-box/0", 80000n, "A100 SXM4 80GB"],
    ["gpu-box/1", 16384n, ""],
  ]);
  // Re-registering is idempotent and keeps leases.
  const l = await grant({ requestId: "big", slot: { service: "kiwi", vramMb: 60000n } });
  expect(l.gpuId).toBe("gpu-box/0");
  expect(l.node).toBe("gpu-box");
  await cluster.registerNode({
    node: "gpu-box",
    gpus: [
      {
        index: 0,
        name: "NVIDIA A100-SXM4-80GB",
        uuid: "GPU-a100",
        memoryTotalMb: 81920n,
        capacityMb: 80000n,
      },
    ],
  });
  expect((await lease.getLease({ leaseId: l.leaseId })).lease?.gpuId).toBe("gpu-box/0");
  // Capability constraints use the profile: bf16 is on the A100 and the RTX 4090, not on the unknown part.
  const bf16 = await grant({
    requestId: "bf16",
    slot: {
      service: "kiwi",
      vramMb: 16000n,
      constraints: { node: "gpu-box", requires: [Precision.BF16] },
    },
  });
  expect(bf16.gpuId).toBe("gpu-box/0");
  // CheckFit by managed GPU id uses its profile and capacity.
  const profile = createClient(GpuProfileService, createGrpcTransport({ baseUrl: c.url }));
  const fit = await profile.checkFit({
    target: { case: "gpuId", value: "GPU-a100" },
    paramsBillions: 70,
  });
  expect(fit.profile?.name).toBe("A100 SXM4 80GB");
  expect(fit.fits.map((f) => [Precision[f.precision], f.fits])).toEqual([
    ["FP16", false],
    ["INT8", true],
    ["INT4", true],
  ]);
  expect(fit.formula).toMatch(/required_gb/);
  const byName = await profile.checkFit({
    target: { case: "gpuName", value: "rtx 4090" },
    paramsBillions: 8,
  });
  expect(byName.fits[0]).toMatchObject({ precision: Precision.FP16, supported: true, fits: true });
  const listed = await profile.listProfiles({ vendor: "apple" });
  expect(listed.profiles.length).toBeGreaterThan(0);
  expect(listed.profiles.every((p) => p.vendor === "apple")).toBe(true);
  expect(lines.some((x) => x.msg === "node registered" && x.node === "gpu-box")).toBe(true);
});
