/**
 * The lease store on its own: every record kind survives a close and reopen unchanged, the
 * fencing counter only grows (also through a coordinator restart with no lease left), ended
 * ids are remembered within their bound, and a second opener of the same file is refused.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Lease } from "../../coordinator/core/index.js";
import { LeaseStore, ENDED_MEMORY, StoreError } from "../../coordinator/storage/index.js";
import { LeaseService } from "../../gen/ts/cforch/v1/lease_pb.js";
import { startTestCoordinator } from "../support/coordinator.js";

const freshDir = () => mkdtempSync(join(tmpdir(), "cf-orch-store-"));

function lease(n: number, over: Partial<Lease> = {}): Lease {
  return {
    leaseId: `lease_${n}`,
    requestId: `req_${n}`,
    holderId: `holder_${n % 2}`,
    slot: { service: "kiwi", taskType: "llm", vramMb: 1000 + n, priority: 3 },
    gpuId: "local/0",
    vramMb: 1000 + n,
    state: "active",
    fencingToken: BigInt(n),
    grantedAt: 1_000 + n,
    firstGrantedAt: 500 + n,
    expiresAt: 99_999,
    ttlMs: 30_000,
    evictable: false,
    pauseCount: 0,
    ...over,
  };
}

const upsert = (l: Lease, extra: { resumePending?: boolean; pausedNow?: boolean } = {}) => ({
  lease: l,
  resumePending: extra.resumePending ?? false,
  pausedNow: extra.pausedNow ?? false,
});

test("every record kind round-trips through close and reopen", () => {
  const dir = freshDir();
  const a = LeaseStore.open(dir);
  const pinned = lease(1, {
    slot: {
      service: "snipe",
      taskType: "vision",
      vramMb: 1001,
      priority: 5,
      gpuId: "local/1",
      node: "local",
      requires: ["int8", "fp16"],
    },
    gpuId: "local/1",
    evictable: true,
    workLostMs: 1234,
  });
  const checkpointing = lease(2, { state: "checkpointing", evictable: true });
  const pausedFirst = lease(3, {
    state: "paused",
    evictable: true,
    pausedAt: 7_000,
    pausedBy: "req_pre",
    pauseCount: 2,
  });
  const pausedSecond = lease(4, {
    state: "paused",
    evictable: true,
    pausedAt: 6_000,
    pauseCount: 1,
  });
  const resumed = lease(5, { pauseCount: 1, evictable: true });
  // One batch per "core call", as the runtime writes them.
  a.apply({
    upserts: [upsert(pinned), upsert(checkpointing)],
    deletes: [],
    endedRequests: [],
    fencing: 2n,
  });
  a.apply({
    upserts: [upsert(pausedFirst, { pausedNow: true })],
    deletes: [],
    endedRequests: ["req_cancelled"],
  });
  a.apply({
    upserts: [upsert(pausedSecond, { pausedNow: true }), upsert(resumed, { resumePending: true })],
    deletes: [],
    endedRequests: [],
    fencing: 5n,
  });
  a.apply({ upserts: [upsert(lease(6))], deletes: [], endedRequests: [], fencing: 6n });
  a.apply({
    upserts: [],
    deletes: [{ leaseId: "lease_6", requestId: "req_6" }],
    endedRequests: [],
  });
  // An update of a paused lease that is not a new pause keeps its place in line.
  a.apply({ upserts: [upsert({ ...pausedFirst, workLostMs: 5 })], deletes: [], endedRequests: [] });
  a.saveGpu({
    id: "gpu-host/0",
    node: "gpu-host",
    index: 0,
    name: "NVIDIA L4",
    uuid: "GPU-1234",
    capacityMb: 23034,
    memoryTotalMb: 23034,
  });
  expect(a.stats.transactions).toBe(6);
  a.close();

  const b = LeaseStore.open(dir);
  const s = b.load();
  b.close();
  expect(s.fencingCounter).toBe(6n);
  expect(s.leases.map((l) => l.leaseId)).toEqual([
    "lease_1",
    "lease_2",
    "lease_5",
    "lease_3", // paused first
    "lease_4",
  ]);
  const byId = new Map(s.leases.map((l) => [l.leaseId, l]));
  expect(byId.get("lease_1")).toEqual({
    leaseId: "lease_1",
    requestId: "req_1",
    holderId: "holder_1",
    slot: pinned.slot,
    gpuId: "local/1",
    vramMb: 1001,
    state: "active",
    storedState: "active",
    fencingToken: "1",
    grantedAt: 1001,
    firstGrantedAt: 501,
    ttlMs: 30_000,
    evictable: true,
    workLostMs: 1234,
    pauseCount: 0,
    resumePending: false,
  });
  expect(byId.get("lease_2")).toMatchObject({ state: "active", storedState: "checkpointing" });
  expect(byId.get("lease_3")).toMatchObject({
    state: "paused",
    pausedAt: 7_000,
    pausedBy: "req_pre",
    pauseCount: 2,
    workLostMs: 5,
  });
  expect(byId.get("lease_5")).toMatchObject({ resumePending: true, pauseCount: 1 });
  expect(s.gpus).toEqual([
    {
      id: "gpu-host/0",
      node: "gpu-host",
      index: 0,
      name: "NVIDIA L4",
      uuid: "GPU-1234",
      capacityMb: 23034,
      memoryTotalMb: 23034,
    },
  ]);
  expect(s.endedLeaseIds).toEqual(["lease_6"]);
  expect(s.endedRequestIds).toEqual(["req_cancelled", "req_6"]);
});

test("the fencing counter never goes back across reopens; a new store starts it at the clock", () => {
  const dir = freshDir();
  const before = BigInt(Date.now()) * 1000n;
  const first = LeaseStore.open(dir);
  const seed = first.load().fencingCounter;
  first.close();
  // Above anything an earlier store (replaced by this one) can have issued.
  expect(seed).toBeGreaterThanOrEqual(before);
  expect(seed).toBeLessThanOrEqual(BigInt(Date.now()) * 1000n);
  let last = seed;
  for (let round = 1; round <= 5; round++) {
    const st = LeaseStore.open(dir);
    expect(st.load().fencingCounter).toBe(last);
    const next = last + BigInt(round * 3);
    st.apply({
      upserts: [upsert(lease(round, { fencingToken: next }))],
      deletes: [],
      endedRequests: [],
      fencing: next,
    });
    st.apply({
      upserts: [],
      deletes: [{ leaseId: `lease_${round}`, requestId: `req_${round}` }],
      endedRequests: [],
    });
    st.close();
    last = next;
  }
  const st = LeaseStore.open(dir);
  expect(st.load()).toMatchObject({ fencingCounter: last, leases: [] });
  expect(last - seed).toBe(45n); // 3 + 6 + 9 + 12 + 15
  st.close();
});

test("ended ids are remembered up to their bound, oldest forgotten first", () => {
  const dir = freshDir();
  const st = LeaseStore.open(dir, { sync: "normal" });
  const n = ENDED_MEMORY + 1500;
  for (let i = 0; i < n; i += 100) {
    const endedRequests = Array.from({ length: 100 }, (_, k) => `r${i + k}`);
    st.apply({ upserts: [], deletes: [], endedRequests });
  }
  const ids = st.load().endedRequestIds;
  st.close();
  expect(ids.length).toBeGreaterThanOrEqual(ENDED_MEMORY);
  expect(ids.length).toBeLessThan(ENDED_MEMORY + 1024);
  expect(ids[ids.length - 1]).toBe(`r${n - 1}`);
  expect(ids).not.toContain("r0");
});

test("a second opener of the same store is refused with a message naming it", () => {
  const dir = freshDir();
  const a = LeaseStore.open(dir);
  let err: unknown;
  try {
    LeaseStore.open(dir);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(StoreError);
  expect((err as Error).message).toContain(join(dir, "cf-orch.db"));
  expect((err as Error).message).toMatch(/in use by another process/);
  a.close();
  LeaseStore.open(dir).close(); // free again once closed
});

test("an in-process coordinator: the counter continues after a restart with no lease left", async () => {
  const dataDir = freshDir();
  const tokens: bigint[] = [];
  for (let run = 0; run < 3; run++) {
    const c = await startTestCoordinator({ dataDir });
    try {
      expect(c.storeFile).toBe(join(dataDir, "cf-orch.db"));
      const client = createClient(LeaseService, createGrpcTransport({ baseUrl: c.url }));
      for (let i = 0; i < 3; i++) {
        let id = "";
        for await (const m of client.acquire({
          requestId: `r${run}-${i}`,
          slot: { service: "kiwi", vramMb: 1000n },
        })) {
          if (m.event.case === "granted") {
            id = m.event.value.leaseId;
            tokens.push(m.event.value.fencingToken);
          }
        }
        await client.release({ target: { case: "leaseId", value: id } });
      }
      // Ended before the restart: releasing again is an idempotent no-op, not NOT_FOUND.
      if (run > 0) {
        const again = await client.release({
          target: { case: "requestId", value: `r${run - 1}-0` },
        });
        expect(again.alreadyReleased).toBe(true);
      }
      expect(c.scheduler.leases()).toHaveLength(0);
    } finally {
      await c.close();
    }
  }
  expect(tokens).toHaveLength(9);
  for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
});
