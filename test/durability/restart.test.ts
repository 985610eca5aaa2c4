/**
 * Restart semantics, in process (startTestCoordinator with a data dir, closed and started
 * again on it): graceful shutdown persists and hands waiters UNAVAILABLE with a retry hint;
 * eviction sessions re-attach and get what they missed (a resume, a checkpoint request); a
 * lease that was checkpointing comes back active; agent GPUs come back with their leases; a
 * lease on a GPU that is no longer configured stops the start unless told to forget it.
 */
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { StoreError } from "../../coordinator/storage/index.js";
import { ClusterService } from "../../gen/ts/cforch/v1/cluster_pb.js";
import { PriorityClass } from "../../gen/ts/cforch/v1/common_pb.js";
import {
  EvictionService,
  SessionRequestSchema,
  type SessionRequest,
  type SessionResponse,
} from "../../gen/ts/cforch/v1/eviction_pb.js";
import {
  AcquireRequestSchema,
  LeaseService,
  LeaseState,
  type Lease as PbLease,
} from "../../gen/ts/cforch/v1/lease_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";

type AcquireInit = MessageInitShape<typeof AcquireRequestSchema>;
import { DEFAULT_TEST_GPUS, startTestCoordinator } from "../support/coordinator.js";
import { sleep, waitFor } from "./helpers.js";

jest.setTimeout(30_000);

const GPU1 = "local/1";

interface Api {
  lease: Client<typeof LeaseService>;
  cluster: Client<typeof ClusterService>;
  eviction: Client<typeof EvictionService>;
}

const running: RunningCoordinator[] = [];
const sessions: RawSession[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.close();
  await Promise.all(running.splice(0).map((c) => c.close()));
});

async function start(dataDir: string, more: Parameters<typeof startTestCoordinator>[0] = {}) {
  const c = await startTestCoordinator({ dataDir, ...more });
  running.push(c);
  const t = createGrpcTransport({ baseUrl: c.url });
  const api: Api = {
    lease: createClient(LeaseService, t),
    cluster: createClient(ClusterService, t),
    eviction: createClient(EvictionService, t),
  };
  return { c, api };
}

async function stop(c: RunningCoordinator) {
  await c.close();
  running.splice(running.indexOf(c), 1);
}

async function grant(api: Api, req: AcquireInit): Promise<PbLease> {
  for await (const m of api.lease.acquire(req))
    if (m.event.case === "granted") return m.event.value;
  throw new Error("no grant");
}

/** An Acquire running in the background; `result` settles with the lease or the error. */
function acquireInBackground(api: Api, req: AcquireInit) {
  const ac = new AbortController();
  const result = (async (): Promise<PbLease | ConnectError> => {
    try {
      for await (const m of api.lease.acquire(req, { signal: ac.signal }))
        if (m.event.case === "granted") return m.event.value;
      return new ConnectError("ended without GRANTED", Code.Unknown);
    } catch (e) {
      return ConnectError.from(e);
    }
  })();
  return { result, abort: () => ac.abort() };
}

/** An eviction session driven by hand: push messages, wait for answers. */
class RawSession {
  readonly received: SessionResponse[] = [];
  readonly ended: Promise<ConnectError | undefined>;
  private readonly queue: SessionRequest[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private readonly ac = new AbortController();

  constructor(api: Api, holderId: string) {
    this.push({ case: "hello", value: { holderId } });
    const reqs = async function* (self: RawSession) {
      while (!self.closed) {
        const next = self.queue.shift();
        if (next) yield next;
        else await new Promise<void>((r) => (self.wake = r));
      }
    };
    this.ended = (async () => {
      try {
        for await (const m of api.eviction.session(reqs(this), { signal: this.ac.signal }))
          this.received.push(m);
        return undefined;
      } catch (e) {
        return ConnectError.from(e);
      }
    })();
    sessions.push(this);
  }

  push(msg: MessageInitShape<typeof SessionRequestSchema>["msg"]): void {
    this.queue.push(create(SessionRequestSchema, { msg }));
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The first message of this kind (after `from`), waiting at most `ms`. */
  async next(kind: NonNullable<SessionResponse["msg"]["case"]>, ms = 5000, from = 0) {
    await waitFor(
      `a ${kind} message`,
      () => this.received.slice(from).some((m) => m.msg.case === kind),
      ms,
      10,
    );
    return this.received.slice(from).find((m) => m.msg.case === kind)!;
  }

  kinds(): string[] {
    return this.received.map((m) => m.msg.case ?? "").filter((k) => k !== "heartbeat");
  }

  close(): void {
    this.closed = true;
    this.wake?.();
    this.ac.abort();
  }
}

const freshDir = () => mkdtempSync(join(tmpdir(), "cf-orch-restart-"));

/** Holder h's lease B (low, evictable, all of GPU 1) and a session that registered it. */
async function evictableLease(api: Api, holderId = "h") {
  const b = await grant(api, {
    requestId: "b",
    holderId,
    slot: {
      service: "snipe",
      vramMb: 8192n,
      priority: PriorityClass.LOW,
      constraints: { gpuId: GPU1 },
    },
    ttlMs: 10_000,
  });
  const s = new RawSession(api, holderId);
  await s.next("welcome");
  s.push({ case: "register", value: { leaseId: b.leaseId } });
  await s.next("registered");
  return { b, s };
}

const preemptor = (requestId = "p"): AcquireInit => ({
  requestId,
  holderId: "ph",
  slot: {
    service: "kiwi",
    vramMb: 8192n,
    priority: PriorityClass.HIGH,
    constraints: { gpuId: GPU1 },
  },
  ttlMs: 10_000,
});

test("graceful shutdown: waiters get UNAVAILABLE with a retry hint; leases persist; the WAL is checkpointed", async () => {
  const dir = freshDir();
  const { c, api } = await start(dir);
  const held = await grant(api, {
    requestId: "held",
    slot: { service: "kiwi", vramMb: 8192n, constraints: { gpuId: GPU1 } },
  });
  const waiting = acquireInBackground(api, {
    requestId: "waiter",
    slot: {
      service: "kiwi",
      vramMb: 1024n,
      constraints: { gpuId: GPU1 },
    },
  });
  await waitFor(
    "the waiter to queue",
    async () => (await api.cluster.getStatus({})).queue.length === 1,
    5000,
  );
  await stop(c);
  const err = await waiting.result;
  expect(err).toBeInstanceOf(ConnectError);
  expect((err as ConnectError).code).toBe(Code.Unavailable);
  expect((err as ConnectError).rawMessage).toMatch(/retry with the same request_id/);
  expect((err as ConnectError).metadata.get("retry-after-ms")).toBe("1000");
  const file = join(dir, "cf-orch.db");
  expect(!existsSync(`${file}-wal`) || statSync(`${file}-wal`).size === 0).toBe(true);

  const again = await start(dir);
  const leases = (await again.api.lease.listLeases({})).leases;
  expect(leases.map((l) => [l.leaseId, l.gpuId, l.fencingToken])).toEqual([
    [held.leaseId, GPU1, held.fencingToken],
  ]);
  // The waiter was not stored: its retry (same request id) queues again.
  const retried = acquireInBackground(again.api, {
    requestId: "waiter",
    slot: {
      service: "kiwi",
      vramMb: 1024n,
      constraints: { gpuId: GPU1 },
    },
  });
  await waitFor(
    "the retry to queue",
    async () => (await again.api.cluster.getStatus({})).queue.length === 1,
    5000,
  );
  await again.api.lease.release({ target: { case: "leaseId", value: held.leaseId } });
  const got = await retried.result;
  expect((got as PbLease).requestId).toBe("waiter");
  expect((got as PbLease).fencingToken).toBeGreaterThan(held.fencingToken);
});

test("a resume that happened while the holder had no session is sent when it re-attaches, once, even across another restart", async () => {
  const dir = freshDir();
  const one = await start(dir);
  const { b, s } = await evictableLease(one.api);
  const p = acquireInBackground(one.api, preemptor());
  const ask = await s.next("checkpoint");
  expect(ask.msg.case === "checkpoint" && ask.msg.value.leaseId).toBe(b.leaseId);
  s.push({ case: "checkpointed", value: { leaseId: b.leaseId } });
  const pLease = (await p.result) as PbLease;
  expect(pLease.gpuId).toBe(GPU1);
  await stop(one.c); // graceful: the session ends, B stays paused in the store

  const two = await start(dir);
  expect((await two.api.lease.getLease({ leaseId: b.leaseId })).lease?.state).toBe(
    LeaseState.PAUSED,
  );
  // P leaves before h's session is back: B is re-granted with nobody to tell.
  await two.api.lease.release({ target: { case: "leaseId", value: pLease.leaseId } });
  const resumed = (await two.api.lease.getLease({ leaseId: b.leaseId })).lease!;
  expect(resumed.state).toBe(LeaseState.ACTIVE);
  expect(resumed.fencingToken).toBeGreaterThan(pLease.fencingToken);
  await stop(two.c); // and the coordinator stops again before h comes back

  const three = await start(dir);
  const s2 = new RawSession(three.api, "h");
  const welcome = await s2.next("welcome");
  expect(welcome.msg.case === "welcome" && welcome.msg.value.leases.map((l) => l.leaseId)).toEqual([
    b.leaseId,
  ]);
  const notice = await s2.next("resume");
  expect(notice.msg.case === "resume" && notice.msg.value.lease?.fencingToken).toBe(
    resumed.fencingToken,
  );
  s2.close();
  await s2.ended;
  // Delivered: a later session of h does not get it again.
  let s3: RawSession | undefined;
  for (let i = 0; i < 20 && !s3; i++) {
    const s = new RawSession(three.api, "h");
    const ok = await s.next("welcome", 1000).then(
      () => true,
      () => false,
    );
    if (ok) s3 = s;
    else s.close(); // the server had not closed s2 yet ("another session ... is open")
  }
  expect(s3).toBeDefined();
  await sleep(300);
  expect(s3!.kinds()).toEqual(["welcome"]);
});

test("a lease that was checkpointing comes back active; a late 'checkpointed' is answered with resume", async () => {
  const dir = freshDir();
  const one = await start(dir);
  const { b, s } = await evictableLease(one.api);
  const p = acquireInBackground(one.api, preemptor());
  await s.next("checkpoint");
  await stop(one.c); // before h answers
  expect(await p.result).toBeInstanceOf(ConnectError);

  const two = await start(dir);
  const back = (await two.api.lease.getLease({ leaseId: b.leaseId })).lease!;
  expect(back.state).toBe(LeaseState.ACTIVE);
  expect(back.fencingToken).toBe(b.fencingToken);
  const s2 = new RawSession(two.api, "h");
  await s2.next("welcome");
  s2.push({ case: "checkpointed", value: { leaseId: b.leaseId } });
  const notice = await s2.next("resume");
  expect(notice.msg.case === "resume" && notice.msg.value.lease?.leaseId).toBe(b.leaseId);
  expect(s2.kinds()).not.toContain("error");
  expect((await two.api.lease.getLease({ leaseId: b.leaseId })).lease?.state).toBe(
    LeaseState.ACTIVE,
  );
});

test("a checkpoint request made while the holder had no session is sent when it re-attaches", async () => {
  const dir = freshDir();
  const one = await start(dir);
  const { b } = await evictableLease(one.api);
  await stop(one.c);

  const two = await start(dir);
  expect((await two.api.lease.getLease({ leaseId: b.leaseId })).lease?.evictable).toBe(true);
  const p = acquireInBackground(two.api, preemptor("p2"));
  await waitFor(
    "the eviction to start",
    async () => (await two.api.cluster.getStatus({})).evictions.length === 1,
    5000,
  );
  const s2 = new RawSession(two.api, "h");
  const ask = await s2.next("checkpoint");
  expect(ask.msg.case === "checkpoint" && ask.msg.value.leaseId).toBe(b.leaseId);
  expect(s2.kinds().slice(0, 2)).toEqual(["welcome", "checkpoint"]);
  s2.push({ case: "checkpointed", value: { leaseId: b.leaseId } });
  const got = (await p.result) as PbLease;
  expect(got.requestId).toBe("p2");
  expect((await two.api.lease.getLease({ leaseId: b.leaseId })).lease?.state).toBe(
    LeaseState.PAUSED,
  );
});

test("GPUs registered by a node agent come back with their leases before the agent does", async () => {
  const dir = freshDir();
  const one = await start(dir);
  await one.api.cluster.registerNode({
    node: "gpu-host",
    gpus: [{ index: 0, name: "NVIDIA L4", uuid: "GPU-l4", memoryTotalMb: 23034n }],
  });
  const l = await grant(one.api, {
    requestId: "on-agent",
    slot: { service: "kiwi", vramMb: 20000n, constraints: { gpuId: "GPU-l4" } },
  });
  expect(l.gpuId).toBe("gpu-host/0");
  await stop(one.c);

  const two = await start(dir);
  const status = await two.api.cluster.getStatus({});
  const g = status.gpus.find((x) => x.gpuId === "gpu-host/0");
  expect(g).toMatchObject({
    name: "NVIDIA L4",
    uuid: "GPU-l4",
    capacityMb: 23034n,
    leasedMb: 20000n,
  });
  expect(g?.profile?.name).toBe("L4");
  expect(status.leases.map((x) => x.leaseId)).toEqual([l.leaseId]);
  // Pinning by UUID works before the agent registers again.
  const more = acquireInBackground(two.api, {
    requestId: "more",
    slot: {
      service: "kiwi",
      vramMb: 1000n,
      constraints: { gpuId: "GPU-l4" },
    },
  });
  expect(((await more.result) as PbLease).gpuId).toBe("gpu-host/0");
});

test("a live lease on a GPU no longer configured stops the start, unless told to forget it", async () => {
  const dir = freshDir();
  const one = await start(dir);
  const l = await grant(one.api, {
    requestId: "gone",
    slot: { service: "kiwi", vramMb: 4096n, constraints: { gpuId: GPU1 } },
  });
  await stop(one.c);

  const onlyGpu0 = DEFAULT_TEST_GPUS.filter((g) => g.index === 0);
  let err: unknown;
  try {
    running.push(await startTestCoordinator({ dataDir: dir, gpus: onlyGpu0 }));
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(StoreError);
  expect((err as Error).message).toContain(join(dir, "cf-orch.db"));
  expect((err as Error).message).toContain("local/1 (1 lease, 4096 MiB)");
  expect((err as Error).message).toContain("drop_missing_gpu_leases");

  // The refused start released the store: with the flag it starts, and the lease is gone.
  const two = await start(dir, { gpus: onlyGpu0, dropMissingGpuLeases: true });
  expect((await two.api.lease.listLeases({})).leases).toEqual([]);
  await expect(two.api.lease.keepAlive({ leaseId: l.leaseId })).rejects.toMatchObject({
    code: Code.NotFound,
  });
  const again = await two.api.lease.release({ target: { case: "leaseId", value: l.leaseId } });
  expect(again.alreadyReleased).toBe(true);
  await stop(two.c);
  // Forgotten for good: the GPU is back and nothing is on it.
  const three = await start(dir);
  expect((await three.api.lease.listLeases({})).leases).toEqual([]);
});

test("a store that cannot be written stops the coordinator; nothing unwritten is handed out", async () => {
  const dir = freshDir();
  const one = await start(dir);
  const kept = await grant(one.api, {
    requestId: "kept",
    slot: { service: "kiwi", vramMb: 1000n },
  });
  one.c.runtime.store!.apply = () => {
    throw Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR" });
  };
  const failed = await acquireInBackground(one.api, {
    requestId: "unwritten",
    slot: { service: "kiwi", vramMb: 1000n },
  }).result;
  expect(failed).toBeInstanceOf(ConnectError);
  expect((failed as ConnectError).code).toBe(Code.Unavailable);
  expect((failed as ConnectError).rawMessage).toMatch(/cannot write its lease store/);
  await one.c.closed;
  expect(one.c.failure?.message).toMatch(
    /cannot write the lease store .*cf-orch\.db: disk I\/O error/,
  );
  running.splice(running.indexOf(one.c), 1);

  const two = await start(dir);
  expect((await two.api.lease.listLeases({})).leases.map((l) => l.requestId)).toEqual(["kept"]);
  expect(kept.requestId).toBe("kept");
});
