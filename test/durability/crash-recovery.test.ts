/**
 * Crash recovery: the coordinator is killed with SIGKILL while leases are held (one of them
 * paused by a real eviction, through a real eviction session) and requests wait. Restarted on
 * the same data dir and port, it has every lease back (same ids, GPUs, fencing tokens, states);
 * the holders keep them without noticing (keep-alives and the session re-attach, no
 * lease.signal fires); the waiters' Acquire streams broke and the client retried them with
 * the same request ids, and they are granted when memory frees; the paused lease is resumed
 * through its re-attached session; new fencing tokens are larger than every old one; and a
 * sampler never sees a GPU over-committed, before, across or after the restart.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ResourceCoordinator, VRAMSlot, type Lease } from "../../client/index.js";
import { LeaseState } from "../../gen/ts/cforch/v1/lease_pb.js";
import { spawnCoordinator, type SpawnedCoordinator } from "../support/coordinator.js";
import { Sampler, clients, quietLogger, sleep, waitFor } from "./helpers.js";

jest.setTimeout(90_000);

const TTL_MS = 4000;
const GPU0 = "local/0"; // 24576 MiB
const GPU1 = "local/1"; // 8192 MiB
const SETTINGS = { session_heartbeat_ms: 500, checkpoint_deadline_ms: 5000 };

let coordinator: SpawnedCoordinator | undefined;
const toClose: ResourceCoordinator[] = [];
afterAll(async () => {
  await Promise.all(toClose.map((c) => c.close()));
  await coordinator?.stop();
});

function client(url: string, service: string): ResourceCoordinator {
  const rc = new ResourceCoordinator({
    url,
    service,
    fallback: "error",
    ttlMs: TTL_MS,
    retry: { initialMs: 50, maxMs: 300 },
    reconnectWindowMs: 20_000,
    logger: quietLogger(),
  });
  toClose.push(rc);
  return rc;
}

const view = (l: {
  leaseId: string;
  requestId: string;
  gpuId: string;
  fencingToken: bigint;
  state: LeaseState;
}) => ({
  leaseId: l.leaseId,
  requestId: l.requestId,
  gpuId: l.gpuId,
  fencingToken: l.fencingToken,
  state: LeaseState[l.state],
});

test("SIGKILL with held, paused and waiting leases; restart on the same data dir", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "cf-orch-crash-"));
  coordinator = await spawnCoordinator({ settings: SETTINGS, args: ["--data-dir", dataDir] });
  const port = coordinator.port;
  const url = coordinator.url;
  const sampler = new Sampler(() => url);
  const raw = clients(url);

  // Held: A and D fill GPU 0; B (low, evictable) is paused for C (high) on GPU 1.
  const kiwi = client(url, "kiwi");
  const big = client(url, "big");
  const snipe = client(url, "snipe");
  const urgent = client(url, "urgent");
  const a = await kiwi.lease(new VRAMSlot({ service: "kiwi", vramMb: 4096, gpu: GPU0 }));
  const d = await big.lease(new VRAMSlot({ service: "big", vramMb: 20480, gpu: GPU0 }));
  const calls: string[] = [];
  const b = await snipe.lease(
    new VRAMSlot({ service: "snipe", vramMb: 8192, gpu: GPU1, priority: "low" }),
    {
      checkpoint: async () => void calls.push("checkpoint"),
      resume: async (_l, info) => void calls.push(`resume@${info.fencingToken}`),
    },
  );
  expect(b.evictable).toBe(true);
  const c = await urgent.lease(
    new VRAMSlot({ service: "urgent", vramMb: 8192, gpu: GPU1, priority: "high" }),
  );
  expect(calls).toEqual(["checkpoint"]);
  expect(b.state).toBe("paused");
  // Waiting: W1 on GPU 1, W2 on GPU 0.
  const w1c = client(url, "waiter1");
  const w2c = client(url, "waiter2");
  const w1 = w1c.acquire(new VRAMSlot({ service: "waiter1", vramMb: 1024, gpu: GPU1 }));
  const w2 = w2c.acquire(new VRAMSlot({ service: "waiter2", vramMb: 2048, gpu: GPU0 }));
  const queuedIds = async () =>
    new Set((await raw.cluster.getStatus({})).queue.map((q) => q.status?.requestId));
  await waitFor(
    "both waiters to queue",
    async () => {
      const q = await queuedIds();
      return q.has(w1.requestId) && q.has(w2.requestId);
    },
    10_000,
  );
  const held: Lease[] = [a, d, b, c];
  const lost: string[] = [];
  for (const l of held) l.signal.addEventListener("abort", () => lost.push(l.id));
  const before = (await raw.lease.listLeases({})).leases.map(view);
  expect(before.map((l) => [l.leaseId, l.state])).toEqual(
    expect.arrayContaining([
      [a.id, "ACTIVE"],
      [d.id, "ACTIVE"],
      [b.id, "PAUSED"],
      [c.id, "ACTIVE"],
    ]),
  );
  expect(before).toHaveLength(4);
  const oldMax = before.reduce((m, l) => (l.fencingToken > m ? l.fencingToken : m), 0n);

  // Crash.
  coordinator.kill("SIGKILL");
  await coordinator.exited;
  const downAt = Date.now();
  coordinator = await spawnCoordinator({
    port,
    settings: SETTINGS,
    args: ["--data-dir", dataDir],
  });
  const restartedAt = Date.now();
  expect(coordinator.output.join("\n")).toContain("restored 4 lease(s)");

  // Same leases, same everything.
  const after = (await raw.lease.listLeases({})).leases.map(view);
  expect(after).toEqual(before);
  // The waiters come back through the client's retry, with their request ids.
  await waitFor(
    "both waiters to queue again",
    async () => {
      const q = await queuedIds();
      return q.has(w1.requestId) && q.has(w2.requestId);
    },
    15_000,
  );
  // The eviction session re-attached: B is evictable again and stays paused, kept alive.
  await waitFor(
    "snipe's session to re-register B",
    async () => (await raw.lease.getLease({ leaseId: b.id })).lease?.evictable === true,
    10_000,
  );
  // Past one TTL from the restart: only renewals (keep-alives, the session) can have kept them.
  await sleep(Math.max(0, restartedAt + TTL_MS + 1000 - Date.now()));
  const later = (await raw.lease.listLeases({})).leases.map(view);
  expect(later).toEqual(before);
  expect(lost).toEqual([]);
  for (const l of held) expect(l.signal.aborted).toBe(false);

  // Memory frees: W1 first (normal before low), then B resumes through its session.
  await c.release();
  const l1 = await w1.lease;
  expect(l1.requestId).toBe(w1.requestId);
  expect(l1.gpuId).toBe(GPU1);
  expect(l1.fencingToken).toBeGreaterThan(oldMax);
  expect(b.state).toBe("paused");
  await l1.release();
  await waitFor("B to resume", () => b.state === "active", 10_000);
  expect(calls).toHaveLength(2);
  expect(b.fencingToken).toBeGreaterThan(l1.fencingToken);
  expect(calls[1]).toBe(`resume@${b.fencingToken}`);
  await d.release();
  const l2 = await w2.lease;
  expect(l2.requestId).toBe(w2.requestId);
  expect(l2.fencingToken).toBeGreaterThan(b.fencingToken);
  await Promise.all([l2.release(), a.release(), b.release()]);
  expect(lost).toEqual([]);
  await waitFor(
    "no lease left",
    async () => (await raw.lease.listLeases({})).leases.length === 0,
    5_000,
  );

  await sampler.stop();
  expect(sampler.violations).toEqual([]);
  expect(sampler.samples).toBeGreaterThan(50);
  expect(sampler.failures).toBeGreaterThan(0); // it did sample across the outage
  expect(restartedAt - downAt).toBeLessThan(TTL_MS);
});
