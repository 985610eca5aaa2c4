/**
 * Liveness and lifecycle: TTL expiry reclaims a dead holder's VRAM in bounded time, held
 * streams keep their lease alive and release it when they close, deadlines and vanished
 * peers (TCP close, or silence detected by HTTP/2 PINGs) leave the queue, eviction sessions
 * that go silent are ended, nvidia-smi polling feeds measured usage, WatchStatus streams
 * changes, and shutdown ends streams with UNAVAILABLE.
 */
import * as net from "node:net";
import * as http2 from "node:http2";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AcquireRequestSchema, LeaseService } from "../../gen/ts/cforch/v1/lease_pb.js";
import { ClusterService } from "../../gen/ts/cforch/v1/cluster_pb.js";
import { EvictionService, SessionRequestSchema } from "../../gen/ts/cforch/v1/eviction_pb.js";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { FAKE_NVIDIA_SMI, startTestCoordinator } from "../support/coordinator.js";
import { startFrozenProxy } from "./frozen-proxy.js";

jest.setTimeout(30_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` every 10 ms until it returns true; at most `ms`. Returns the elapsed time. */
async function waitFor(fn: () => boolean | Promise<boolean>, ms: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await fn()) return Date.now() - start;
    await sleep(10);
  }
  throw new Error(`condition not met within ${ms} ms`);
}

let c: RunningCoordinator;
let lease: Client<typeof LeaseService>;
let cluster: Client<typeof ClusterService>;

async function start(opts: Parameters<typeof startTestCoordinator>[0] = {}) {
  c = await startTestCoordinator(opts);
  const t = createGrpcTransport({ baseUrl: c.url });
  lease = createClient(LeaseService, t);
  cluster = createClient(ClusterService, t);
}
afterEach(async () => {
  await c?.close();
});

async function grant(req: Parameters<typeof lease.acquire>[0]) {
  for await (const m of lease.acquire(req)) if (m.event.case === "granted") return m.event.value;
  throw new Error("no grant");
}

test("a holder that stops keeping its lease alive loses it after its TTL (bounded reclaim time)", async () => {
  await start();
  const l = await grant({
    requestId: "dead",
    slot: { service: "kiwi", vramMb: 8192n },
    ttlMs: 1000,
  });
  const grantedAt = Date.now();
  // Kept alive twice, then the holder "dies".
  await sleep(400);
  await lease.keepAlive({ leaseId: l.leaseId });
  const lastKeepAlive = Date.now();
  await waitFor(async () => {
    try {
      await lease.getLease({ leaseId: l.leaseId });
      return false;
    } catch (e) {
      return e instanceof ConnectError && e.code === Code.NotFound;
    }
  }, 3000);
  const reclaimedAfter = Date.now() - lastKeepAlive;
  expect(reclaimedAfter).toBeGreaterThanOrEqual(950);
  expect(reclaimedAfter).toBeLessThan(1500); // TTL + timer slack
  expect(Date.now() - grantedAt).toBeGreaterThan(1300);
  const s = await cluster.getStatus({});
  expect(s.gpus[1]!.freeMb).toBe(8192n);
  const metrics = await (await fetch(`${c.url}/metrics`)).text();
  expect(metrics).toMatch(/^cforch_expiries_total 1$/m);
  await expect(lease.keepAlive({ leaseId: l.leaseId })).rejects.toMatchObject({
    code: Code.NotFound,
  });
  // Releasing an expired lease is an idempotent no-op.
  await expect(
    lease.release({ target: { case: "leaseId", value: l.leaseId } }),
  ).resolves.toMatchObject({
    alreadyReleased: true,
  });
});

test("hold=true: the open stream keeps the lease alive past its TTL and releases it when closed", async () => {
  await start({ holdHeartbeatMs: 5000 });
  const ac = new AbortController();
  const seen: string[] = [];
  let leaseId = "";
  const reading = (async () => {
    try {
      for await (const m of lease.acquire(
        { requestId: "held", slot: { service: "kiwi", vramMb: 1000n }, ttlMs: 1000, hold: true },
        { signal: ac.signal },
      )) {
        seen.push(m.event.case ?? "");
        if (m.event.case === "granted") leaseId = m.event.value.leaseId;
      }
    } catch {
      /* cancelled */
    }
  })();
  await sleep(2500);
  expect(seen[0]).toBe("granted");
  expect(seen.filter((s) => s === "renewed").length).toBeGreaterThanOrEqual(5); // every ttl/3
  expect((await lease.getLease({ leaseId })).lease?.leaseId).toBe(leaseId);
  ac.abort();
  await reading;
  const ms = await waitFor(async () => (await cluster.getStatus({})).leases.length === 0, 2000);
  expect(ms).toBeLessThan(500);
});

test("a deadline passing while queued leaves the queue", async () => {
  await start();
  await grant({
    requestId: "fill",
    slot: { service: "kiwi", vramMb: 8192n, constraints: { gpuId: "local/1" } },
  });
  const err = await (async () => {
    try {
      for await (const _ of lease.acquire(
        {
          requestId: "late",
          slot: { service: "kiwi", vramMb: 8192n, constraints: { gpuId: "local/1" } },
        },
        { timeoutMs: 300 },
      )) {
        /* queued */
      }
    } catch (e) {
      return e as ConnectError;
    }
    return undefined;
  })();
  expect(err?.code).toBe(Code.DeadlineExceeded);
  await waitFor(async () => (await cluster.getStatus({})).queue.length === 0, 2000);
});

/** A raw h2c client that opens a held Acquire stream, so the test can cut its TCP connection. */
function rawHeldAcquire(
  url: string,
  requestId: string,
  via?: number,
): { socket: net.Socket; session: http2.ClientHttp2Session } {
  const port = via ?? Number(new URL(url).port);
  const socket = net.connect(port, "127.0.0.1");
  const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => socket });
  session.on("error", () => undefined);
  const body = toBinary(
    AcquireRequestSchema,
    create(AcquireRequestSchema, {
      requestId,
      slot: { service: "kiwi", vramMb: 1000n },
      ttlMs: 60_000,
      hold: true,
    }),
  );
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  Buffer.from(body).copy(frame, 5);
  const req = session.request({
    ":method": "POST",
    ":path": "/cforch.v1.LeaseService/Acquire",
    "content-type": "application/grpc",
    te: "trailers",
  });
  req.on("error", () => undefined);
  req.on("data", () => undefined);
  req.end(frame);
  return { session, socket };
}

test("a holder whose connection closes (kill -9) gives its held lease back at once", async () => {
  await start();
  const h = rawHeldAcquire(c.url, "killed");
  await waitFor(async () => (await cluster.getStatus({})).leases.length === 1, 3000);
  h.socket.destroy(); // what the kernel does for a process killed with -9
  const ms = await waitFor(async () => (await cluster.getStatus({})).leases.length === 0, 3000);
  expect(ms).toBeLessThan(500);
});

test("a silent peer (network loss) is detected by HTTP/2 PINGs and its held lease released", async () => {
  await start({ pingIntervalMs: 200, pingTimeoutMs: 300 });
  const proxy = await startFrozenProxy(Number(new URL(c.url).port));
  try {
    const h = rawHeldAcquire(c.url, "silent", proxy.port);
    await waitFor(async () => (await cluster.getStatus({})).leases.length === 1, 3000);
    // Alive peers answer PINGs: the lease stays.
    await sleep(800);
    expect((await cluster.getStatus({})).leases).toHaveLength(1);
    proxy.freeze();
    const ms = await waitFor(async () => (await cluster.getStatus({})).leases.length === 0, 5000);
    expect(ms).toBeLessThan(200 + 300 + 500); // interval + timeout + slack
    h.session.destroy();
  } finally {
    await proxy.close();
  }
});

test("an eviction session silent for 3 heartbeat intervals is ended and its holder disconnected", async () => {
  await start({ sessionHeartbeatMs: 200 });
  const evict = createClient(EvictionService, createGrpcTransport({ baseUrl: c.url }));
  const l = await grant({
    requestId: "s1",
    holderId: "quiet",
    slot: { service: "kiwi", vramMb: 1000n },
  });
  async function* silent() {
    yield create(SessionRequestSchema, { msg: { case: "hello", value: { holderId: "quiet" } } });
    yield create(SessionRequestSchema, {
      msg: { case: "register", value: { leaseId: l.leaseId } },
    });
    await sleep(5000); // then nothing
  }
  const started = Date.now();
  let err: ConnectError | undefined;
  try {
    for await (const _ of evict.session(silent())) {
      /* welcome, registered, server heartbeats */
    }
  } catch (e) {
    err = e as ConnectError;
  }
  expect(err?.code).toBe(Code.DeadlineExceeded);
  expect(Date.now() - started).toBeLessThan(1500);
  const after = await lease.getLease({ leaseId: l.leaseId });
  expect(after.lease?.evictable).toBe(false); // the holder is gone: no longer evictable
});

test("an open eviction session keeps its holder's leases alive (no KeepAlive calls)", async () => {
  await start({ sessionHeartbeatMs: 300, minTtlMs: 500 });
  const evict = createClient(EvictionService, createGrpcTransport({ baseUrl: c.url }));
  const l = await grant({
    requestId: "s2",
    holderId: "busy",
    slot: { service: "kiwi", vramMb: 1000n },
    ttlMs: 600,
  });
  const ac = new AbortController();
  async function* beating() {
    yield create(SessionRequestSchema, { msg: { case: "hello", value: { holderId: "busy" } } });
    for (let i = 0; i < 20 && !ac.signal.aborted; i++) {
      await sleep(250);
      yield create(SessionRequestSchema, { msg: { case: "heartbeat", value: {} } });
    }
  }
  const run = (async () => {
    try {
      for await (const _ of evict.session(beating(), { signal: ac.signal })) {
        /* answers */
      }
    } catch {
      /* aborted */
    }
  })();
  await sleep(2000);
  expect((await lease.getLease({ leaseId: l.leaseId })).lease?.leaseId).toBe(l.leaseId);
  ac.abort();
  await run;
  // Without the session the lease lives out its TTL.
  await waitFor(async () => (await cluster.getStatus({})).leases.length === 0, 3000);
});

/**
 * A fake nvidia-smi whose GPU 0 (RTX 4090, 24564 MiB, GPU-aaaa) reports `used0` MiB in use, as
 * last set by setUsed(); GPU 1 (RTX 3070, 8192 MiB, GPU-bbbb) is idle.
 */
function fakeSmi(used0: number): { smi: string; setUsed: (used0: number) => void } {
  const dir = mkdtempSync(join(tmpdir(), "cf-orch-smi-"));
  const file = join(dir, "smi.csv");
  const setUsed = (used: number) =>
    writeFileSync(
      file,
      `0, NVIDIA GeForce RTX 4090, GPU-aaaa, 24564, ${used}\n1, NVIDIA GeForce RTX 3070, GPU-bbbb, 8192, 0\n`,
    );
  setUsed(used0);
  // jest's process.env does not reach child processes: wrap the fake with its setting.
  const smi = join(dir, "nvidia-smi");
  writeFileSync(smi, `#!/bin/sh\nFAKE_NVIDIA_SMI_FILE='${file}' exec '${FAKE_NVIDIA_SMI}' "$@"\n`, {
    mode: 0o755,
  });
  return { smi, setUsed };
}

/** nvidia-smi runs counted in /metrics, by trigger (period, release, retry). */
function smiRuns(trigger: string): number {
  const text = c.runtime.metrics.render(c.scheduler);
  const m = new RegExp(
    `^cforch_nvidia_smi_runs_total\\{trigger="${trigger}",result="ok"\\} (\\d+)$`,
    "m",
  ).exec(text);
  return m ? Number(m[1]) : 0;
}

test("nvidia-smi polling feeds measured usage; unaccounted use is not granted", async () => {
  const { smi, setUsed } = fakeSmi(1000);
  {
    await start({ gpus: [], nvidiaSmi: smi, nvidiaSmiPollMs: 100 });
    let s = await cluster.getStatus({});
    expect(s.gpus.map((g) => [g.gpuId, g.uuid, g.measuredMb, g.freeMb])).toEqual([
      ["local/0", "GPU-aaaa", 1000n, 23564n],
      ["local/1", "GPU-bbbb", 0n, 8192n],
    ]);
    setUsed(20000);
    await waitFor(async () => (await cluster.getStatus({})).gpus[0]!.measuredMb === 20000n, 3000);
    s = await cluster.getStatus({});
    expect(s.gpus[0]!.freeMb).toBe(4564n);
    // A slot pinned by UUID to the busy GPU cannot get more than what is really free.
    const err = await (async () => {
      try {
        for await (const _ of lease.acquire(
          {
            requestId: "u",
            slot: { service: "kiwi", vramMb: 6000n, constraints: { gpuId: "GPU-aaaa" } },
          },
          { timeoutMs: 300 },
        )) {
          /* queued */
        }
      } catch (e) {
        return e as ConnectError;
      }
      return undefined;
    })();
    expect(err?.code).toBe(Code.DeadlineExceeded);
  }
});

/** The promise's value, or undefined after `ms` (the timer does not outlive the promise). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Acquires in the background; records the stream's updates; resolves with the lease if granted. */
function waiter(req: Parameters<typeof lease.acquire>[0]) {
  const updates: string[] = [];
  const ac = new AbortController();
  const granted = (async () => {
    try {
      for await (const m of lease.acquire(req, { signal: ac.signal })) {
        updates.push(m.event.case ?? "");
        if (m.event.case === "granted") return m.event.value;
      }
    } catch {
      /* aborted */
    }
    return undefined;
  })();
  return { updates, granted, abort: () => ac.abort() };
}

test("memory released on an nvidia-smi GPU waits for a measurement that shows it free; the release triggers one at once", async () => {
  const { smi, setUsed } = fakeSmi(1000);
  // A period of a minute: every run in this test is triggered by the release.
  await start({ gpus: [], nvidiaSmi: smi, nvidiaSmiPollMs: 60_000 });
  const pinned = { service: "kiwi", vramMb: 20000n, constraints: { gpuId: "GPU-aaaa" } };
  const a = await grant({ requestId: "a", slot: pinned });
  setUsed(21000); // a's process allocates its memory
  const w = waiter({ requestId: "w", slot: pinned });
  await waitFor(() => w.updates.includes("queued"), 3000);
  expect(smiRuns("release")).toBe(0);
  await lease.release({ target: { case: "leaseId", value: a.leaseId } });
  // a's process has not let go yet: the run the release triggered still sees the memory used.
  await waitFor(() => smiRuns("release") >= 1, 5000);
  expect((await cluster.getStatus({})).gpus[0]).toMatchObject({
    leasedMb: 0n,
    measuredMb: 21000n,
    unaccountedMb: 21000n,
    freeMb: 3564n,
  });
  expect(w.updates).not.toContain("granted");
  // The process exits: a follow-up run hands the memory over, long before the period is up.
  setUsed(1000);
  const started = Date.now();
  const l = await within(w.granted, 15_000);
  expect(l?.gpuId).toBe("local/0");
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(smiRuns("period")).toBe(0);
  expect((await cluster.getStatus({})).gpus[0]).toMatchObject({
    leasedMb: 20000n,
    measuredMb: 1000n,
    unaccountedMb: 1000n,
  });
  w.abort();
});

test("with nvidia_smi_poll_ms 0, an expired lease's memory still comes back after a measurement", async () => {
  const { smi, setUsed } = fakeSmi(0);
  await start({ gpus: [], nvidiaSmi: smi, nvidiaSmiPollMs: 0 });
  const pinned = { service: "kiwi", vramMb: 24000n, constraints: { gpuId: "local/0" } };
  await grant({ requestId: "dying", slot: pinned, ttlMs: 1000 });
  setUsed(24000); // its process hangs on to the memory
  const w = waiter({ requestId: "next", slot: pinned });
  await waitFor(() => w.updates.includes("queued"), 3000);
  // The lease expires after its TTL; the run that triggers sees the memory still used.
  await waitFor(() => smiRuns("release") >= 1, 5000);
  expect((await cluster.getStatus({})).leases).toHaveLength(0);
  expect(w.updates).not.toContain("granted");
  setUsed(0); // the hung process is killed
  const l = await within(w.granted, 15_000);
  expect(l?.gpuId).toBe("local/0");
  w.abort();
});

test("WatchStatus sends a snapshot at once and after changes; ListLeases filters", async () => {
  await start();
  const ac = new AbortController();
  const revisions: bigint[] = [];
  const leaseCounts: number[] = [];
  const watching = (async () => {
    try {
      for await (const m of cluster.watchStatus({ minIntervalMs: 50 }, { signal: ac.signal })) {
        revisions.push(m.status!.revision);
        leaseCounts.push(m.status!.leases.length);
      }
    } catch {
      /* aborted */
    }
  })();
  await waitFor(() => revisions.length === 1, 2000);
  const a = await grant({
    requestId: "w1",
    holderId: "ha",
    slot: { service: "kiwi", vramMb: 1000n },
  });
  await grant({
    requestId: "w2",
    holderId: "hb",
    slot: { service: "snipe", vramMb: 1000n, constraints: { gpuId: "local/0" } },
  });
  await waitFor(() => leaseCounts[leaseCounts.length - 1] === 2, 2000);
  expect(revisions).toEqual([...revisions].sort((x, y) => (x < y ? -1 : 1)));
  expect(new Set(revisions).size).toBe(revisions.length);
  ac.abort();
  await watching;

  expect((await lease.listLeases({ service: "kiwi" })).leases.map((l) => l.requestId)).toEqual([
    "w1",
  ]);
  expect((await lease.listLeases({ gpuId: "local/0" })).leases.map((l) => l.requestId)).toEqual([
    "w2",
  ]);
  expect((await lease.listLeases({ holderId: "ha" })).leases.map((l) => l.leaseId)).toEqual([
    a.leaseId,
  ]);
  expect((await lease.listLeases({})).leases.map((l) => l.requestId)).toEqual(["w1", "w2"]);
});

test("shutdown: waiting streams, sessions and watches end with UNAVAILABLE; new calls are refused", async () => {
  await start();
  await grant({ requestId: "f0", slot: { service: "kiwi", vramMb: 24576n } });
  await grant({ requestId: "f1", slot: { service: "kiwi", vramMb: 8192n } });
  const evict = createClient(EvictionService, createGrpcTransport({ baseUrl: c.url }));
  const outcome = (p: AsyncIterable<unknown>) =>
    (async () => {
      try {
        for await (const _ of p) {
          /* updates */
        }
        return "ended";
      } catch (e) {
        return Code[ConnectError.from(e).code];
      }
    })();
  async function* hello() {
    yield create(SessionRequestSchema, { msg: { case: "hello", value: { holderId: "h" } } });
    await sleep(10_000);
  }
  const waiting = outcome(
    lease.acquire({ requestId: "w", slot: { service: "kiwi", vramMb: 1000n } }),
  );
  const session = outcome(evict.session(hello()));
  const watch = outcome(cluster.watchStatus({}));
  await waitFor(async () => (await cluster.getStatus({})).queue.length === 1, 2000);
  const started = Date.now();
  await c.close();
  expect(Date.now() - started).toBeLessThan(1500);
  expect(await Promise.all([waiting, session, watch])).toEqual([
    "Unavailable",
    "Unavailable",
    "Unavailable",
  ]);
  // The port is closed: a fresh client cannot connect.
  const fresh = createClient(ClusterService, createGrpcTransport({ baseUrl: c.url }));
  const refused = await fresh.getStatus({}).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  // (connect-node says UNAVAILABLE; under jest's separate realm its error mapping says INTERNAL.)
  expect(refused?.rawMessage).toMatch(/ECONNREFUSED/);
});

test("an injected clock drives expiry: move it, then runtime.tick()", async () => {
  let now = 1_000_000;
  await start({ clock: { now: () => now } });
  const l = await grant({
    requestId: "fake",
    slot: { service: "kiwi", vramMb: 1000n },
    ttlMs: 5000,
  });
  expect(Number(l.expiresAt!.seconds) * 1000).toBe(now + 5000);
  now += 4999;
  c.runtime.tick();
  expect((await cluster.getStatus({})).leases).toHaveLength(1);
  now += 2;
  c.runtime.tick();
  expect((await cluster.getStatus({})).leases).toHaveLength(0);
});
