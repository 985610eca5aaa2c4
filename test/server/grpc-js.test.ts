/**
 * The wire contract through an independent client (@grpc/grpc-js + proto-loader on proto/):
 * acquire to GRANTED, release, cancel while queued, and a full cooperative eviction between
 * two holders of different classes.
 */
import type { RunningCoordinator } from "../../coordinator/server.js";
import { startTestCoordinator } from "../support/coordinator.js";
import {
  StreamReader,
  grpc,
  grpcClients,
  unary,
  type GrpcClients,
  type Msg,
} from "./grpc-client.js";

jest.setTimeout(30_000);

let c: RunningCoordinator;
let g: GrpcClients;

beforeEach(async () => {
  c = await startTestCoordinator({ sessionHeartbeatMs: 1000 });
  g = grpcClients(c.url);
});
afterEach(async () => {
  g.close();
  await c.close();
});

const slot = (vramMb: number, extra: Msg = {}): Msg => ({
  service: "kiwi",
  taskType: "llm",
  vramMb: String(vramMb),
  ...extra,
});

test("acquire streams to GRANTED; release frees; release again is idempotent", async () => {
  const stream = new StreamReader(
    g.lease.acquire({ requestId: "r-1", slot: slot(20_000), ttlMs: 60_000 }),
  );
  const m = await stream.next();
  expect(m.event).toBe("granted");
  expect(m.granted).toMatchObject({
    requestId: "r-1",
    gpuId: "local/0",
    node: "local",
    vramMb: "20000",
    state: "LEASE_STATE_ACTIVE",
    ttlMs: 60000,
    holderId: "kiwi:r-1",
  });
  expect(BigInt(m.granted.fencingToken)).toBeGreaterThan(0n);
  expect(await stream.finished()).toBeUndefined();

  const got = await unary(g.lease, "getLease", { leaseId: m.granted.leaseId });
  expect(got.lease.leaseId).toBe(m.granted.leaseId);
  const kept = await unary(g.lease, "keepAlive", { leaseId: m.granted.leaseId });
  expect(Number(kept.lease.expiresAt.seconds)).toBeGreaterThanOrEqual(
    Number(m.granted.expiresAt.seconds),
  );

  const rel = await unary(g.lease, "release", { leaseId: m.granted.leaseId });
  expect(rel).toMatchObject({ released: true, alreadyReleased: false });
  expect(rel.lease.state).toBe("LEASE_STATE_RELEASED");
  const again = await unary(g.lease, "release", { leaseId: m.granted.leaseId });
  expect(again).toMatchObject({ released: false, alreadyReleased: true });
  await expect(unary(g.lease, "keepAlive", { leaseId: m.granted.leaseId })).rejects.toMatchObject({
    code: grpc.status.NOT_FOUND,
  });
  const status = await unary(g.cluster, "getStatus", {});
  expect(status.leases).toHaveLength(0);
});

test("a retried Acquire with the same request id returns the same lease", async () => {
  const a = new StreamReader(g.lease.acquire({ requestId: "same", slot: slot(1000) }));
  const first = await a.next();
  const b = new StreamReader(g.lease.acquire({ requestId: "same", slot: slot(1000) }));
  const second = await b.next();
  expect(second.granted.leaseId).toBe(first.granted.leaseId);
  const status = await unary(g.cluster, "getStatus", {});
  expect(status.leases).toHaveLength(1);
  // The same id with a different slot is refused.
  const c2 = new StreamReader(g.lease.acquire({ requestId: "same", slot: slot(2000) }));
  const err = await c2.finished();
  expect(err?.code).toBe(grpc.status.ALREADY_EXISTS);
});

test("cancel while queued: the queue shrinks and nothing is granted to the gone caller", async () => {
  // Fill both GPUs.
  const big = new StreamReader(g.lease.acquire({ requestId: "big", slot: slot(24576) }));
  const small = new StreamReader(g.lease.acquire({ requestId: "small", slot: slot(8192) }));
  const bigLease = (await big.next()).granted;
  await small.next();

  const call = g.lease.acquire({ requestId: "waiter", slot: slot(4096) });
  const waiter = new StreamReader(call);
  const q = await waiter.next();
  expect(q.event).toBe("queued");
  expect(q.queued).toMatchObject({
    position: 1,
    requestId: "waiter",
    reason: "WAIT_REASON_NO_GPU_FREE",
  });
  expect((await unary(g.cluster, "getStatus", {})).queue).toHaveLength(1);

  call.cancel();
  const err = await waiter.finished();
  expect(err?.code).toBe(grpc.status.CANCELLED);
  // Bounded wait for the server to notice.
  let queue: Msg[] = [];
  for (let i = 0; i < 100; i++) {
    queue = (await unary(g.cluster, "getStatus", {})).queue;
    if (queue.length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(queue).toHaveLength(0);
  // Freeing memory grants nothing to the cancelled request.
  await unary(g.lease, "release", { leaseId: bigLease.leaseId });
  const status = await unary(g.cluster, "getStatus", {});
  expect(status.leases.map((l: Msg) => l.requestId)).toEqual(["small"]);
  await expect(unary(g.lease, "release", { requestId: "waiter" })).resolves.toMatchObject({
    alreadyReleased: true,
  });
});

test("queued updates follow the position, then GRANTED when memory frees", async () => {
  const holder = new StreamReader(
    g.lease.acquire({ requestId: "h", slot: slot(24576, { constraints: { gpuId: "local/0" } }) }),
  );
  const lease = (await holder.next()).granted;
  const w1 = new StreamReader(g.lease.acquire({ requestId: "w1", slot: slot(16000) }));
  const w2 = new StreamReader(g.lease.acquire({ requestId: "w2", slot: slot(16000) }));
  expect((await w1.next()).queued.position).toBe(1);
  const w2q = await w2.next();
  expect(w2q.queued).toMatchObject({
    position: 2,
    vramAheadMb: "16000",
    reason: "WAIT_REASON_BEHIND_EARLIER",
  });
  await unary(g.lease, "release", { leaseId: lease.leaseId });
  const granted = await w1.until((m) => m.event === "granted");
  expect(granted.granted.gpuId).toBe("local/0");
  const moved = await w2.until((m) => m.event === "queued" && m.queued.position === 1);
  expect(moved.queued.requestId).toBe("w2");
});

test("a full eviction session: checkpoint request → checkpointed → PAUSED → preemptor GRANTED → released → resume", async () => {
  // Holder A: a batch job on the 8 GB GPU, evictable through its session.
  const aAcquire = new StreamReader(
    g.lease.acquire({
      requestId: "a-1",
      holderId: "holder-a",
      slot: slot(8192, {
        service: "nightly",
        priority: "PRIORITY_CLASS_BATCH",
        constraints: { gpuId: "local/1" },
      }),
    }),
  );
  const aLease = (await aAcquire.next()).granted;
  const session = g.eviction.session();
  const a = new StreamReader(session);
  session.write({ hello: { holderId: "holder-a", service: "nightly" } });
  const welcome = await a.next();
  expect(welcome.msg).toBe("welcome");
  expect(welcome.welcome.heartbeatIntervalMs).toBe(1000);
  expect(welcome.welcome.leases.map((l: Msg) => l.leaseId)).toEqual([aLease.leaseId]);
  session.write({ register: { leaseId: aLease.leaseId, workLostMs: "0" } });
  const reg = await a.until((m) => m.msg === "registered");
  expect(reg.registered.lease.evictable).toBe(true);

  // Holder B: high priority, needs the same GPU.
  const b = new StreamReader(
    g.lease.acquire({
      requestId: "b-1",
      holderId: "holder-b",
      slot: slot(8192, {
        service: "peregrine",
        priority: "PRIORITY_CLASS_HIGH",
        constraints: { gpuId: "local/1" },
      }),
    }),
  );
  const bq = await b.until(
    (m) => m.event === "queued" && m.queued.reason === "WAIT_REASON_WAITING_FOR_EVICTION",
  );
  expect(bq.queued.requestId).toBe("b-1");

  const ck = await a.until((m) => m.msg === "checkpoint");
  expect(ck.checkpoint).toMatchObject({
    leaseId: aLease.leaseId,
    preemptorRequestId: "b-1",
    preemptorService: "peregrine",
    preemptorPriority: "PRIORITY_CLASS_HIGH",
  });
  expect(Number(ck.checkpoint.deadline.seconds) * 1000).toBeGreaterThan(Date.now() - 1000);
  const during = await unary(g.cluster, "getStatus", {});
  expect(during.evictions).toHaveLength(1);
  expect(during.evictions[0]).toMatchObject({
    victimLeaseId: aLease.leaseId,
    state: "EVICTION_STATE_REQUESTED",
  });

  session.write({ checkpointed: { leaseId: aLease.leaseId } });
  const bGranted = await b.until((m) => m.event === "granted");
  expect(bGranted.granted.gpuId).toBe("local/1");
  const paused = await unary(g.lease, "getLease", { leaseId: aLease.leaseId });
  expect(paused.lease).toMatchObject({
    state: "LEASE_STATE_PAUSED",
    pausedByRequestId: "b-1",
    pauseCount: 1,
  });
  const st = await unary(g.cluster, "getStatus", {});
  expect(st.queue.map((q: Msg) => [q.pausedLeaseId, q.status.reason])).toEqual([
    [aLease.leaseId, "WAIT_REASON_PAUSED"],
  ]);

  await unary(g.lease, "release", { leaseId: bGranted.granted.leaseId });
  const resume = await a.until((m) => m.msg === "resume");
  expect(resume.resume.lease).toMatchObject({
    leaseId: aLease.leaseId,
    state: "LEASE_STATE_ACTIVE",
    gpuId: "local/1",
  });
  expect(BigInt(resume.resume.lease.fencingToken)).toBeGreaterThan(
    BigInt(bGranted.granted.fencingToken),
  );

  // Heartbeats are answered; ending the session leaves the active lease to its TTL.
  session.write({ heartbeat: {} });
  await a.until((m) => m.msg === "heartbeat");
  session.end();
  await a.finished();
  const after = await unary(g.lease, "getLease", { leaseId: aLease.leaseId });
  expect(after.lease.state).toBe("LEASE_STATE_ACTIVE");
});

test("a refused checkpoint keeps the victim's lease and is visible", async () => {
  const aLease = (
    await new StreamReader(
      g.lease.acquire({
        requestId: "a",
        holderId: "ha",
        slot: slot(8192, { priority: "PRIORITY_CLASS_LOW", constraints: { gpuId: "local/1" } }),
      }),
    ).next()
  ).granted;
  const session = g.eviction.session();
  const a = new StreamReader(session);
  session.write({ hello: { holderId: "ha" } });
  await a.next();
  session.write({ register: { leaseId: aLease.leaseId } });
  await a.until((m) => m.msg === "registered");
  const b = new StreamReader(
    g.lease.acquire({
      requestId: "b",
      slot: slot(8192, { priority: "PRIORITY_CLASS_CRITICAL", constraints: { gpuId: "local/1" } }),
    }),
  );
  await a.until((m) => m.msg === "checkpoint");
  session.write({ refused: { leaseId: aLease.leaseId, reason: "mid-epoch" } });
  const q = await b.until(
    (m) => m.event === "queued" && m.queued.reason !== "WAIT_REASON_WAITING_FOR_EVICTION",
  );
  expect(q.queued.requestId).toBe("b");
  const still = await unary(g.lease, "getLease", { leaseId: aLease.leaseId });
  expect(still.lease.state).toBe("LEASE_STATE_ACTIVE");
  const metrics = await (await fetch(`${c.url}/metrics`)).text();
  expect(metrics).toMatch(/cforch_evictions_abandoned_total\{reason="refused"\} 1/);
  session.end();
  await a.finished();
});

test("session errors: first message must be hello; one session per holder; per-message errors keep the session", async () => {
  const bad = g.eviction.session();
  const br = new StreamReader(bad);
  bad.write({ heartbeat: {} });
  expect((await br.finished())?.code).toBe(grpc.status.INVALID_ARGUMENT);

  const s1 = g.eviction.session();
  const r1 = new StreamReader(s1);
  s1.write({ hello: { holderId: "dup" } });
  await r1.next();
  const s2 = g.eviction.session();
  const r2 = new StreamReader(s2);
  s2.write({ hello: { holderId: "dup" } });
  const e2 = await r2.finished();
  expect(e2?.code).toBe(grpc.status.FAILED_PRECONDITION);

  s1.write({ register: { leaseId: "lease_nope" } });
  const err = await r1.until((m) => m.msg === "error");
  expect(err.error).toMatchObject({ leaseId: "lease_nope", code: "NOT_FOUND" });
  expect(err.error.message).toMatch(/^register\.lease_id: /);
  s1.write({ hello: { holderId: "dup" } });
  const err2 = await r1.until((m) => m.msg === "error");
  expect(err2.error.code).toBe("INVALID_ARGUMENT");
  s1.write({ heartbeat: {} });
  await r1.until((m) => m.msg === "heartbeat");
  s1.end();
  await r1.finished();
});
