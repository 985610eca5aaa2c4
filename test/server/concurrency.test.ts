/**
 * 200 clients acquire and release at random against two GPUs (24 GiB and 8 GiB) over gRPC
 * (HTTP/2) and gRPC-Web (HTTP/1.1); some give up while waiting. A checker samples
 * ClusterService.GetStatus throughout and must never see an over-committed GPU, and every
 * client must finish. Every loop is bounded in count and time.
 */
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ClusterService, type GetStatusResponse } from "../../gen/ts/cforch/v1/cluster_pb.js";
import { LeaseService, LeaseState } from "../../gen/ts/cforch/v1/lease_pb.js";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { startTestCoordinator } from "../support/coordinator.js";

jest.setTimeout(120_000);

const CLIENTS = 200;
const CYCLES = 3;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function overCommitted(s: GetStatusResponse): string[] {
  const problems: string[] = [];
  for (const g of s.gpus) {
    const used = g.leasedMb + g.reservedMb + g.unaccountedMb;
    if (used > g.capacityMb) problems.push(`${g.gpuId}: ${used} > ${g.capacityMb}`);
    const fromLeases = s.leases
      .filter((l) => l.gpuId === g.gpuId && l.state !== LeaseState.PAUSED)
      .reduce((sum, l) => sum + l.vramMb, 0n);
    if (fromLeases !== g.leasedMb)
      problems.push(`${g.gpuId}: leases sum ${fromLeases} != leased ${g.leasedMb}`);
    if (fromLeases > g.capacityMb)
      problems.push(`${g.gpuId}: leases ${fromLeases} > ${g.capacityMb}`);
  }
  return problems;
}

let c: RunningCoordinator;
beforeAll(async () => {
  c = await startTestCoordinator({ queuedHeartbeatMs: 1000 });
});
afterAll(async () => {
  await c.close();
});

test(`${CLIENTS} clients acquiring and releasing at random never over-commit a GPU`, async () => {
  const rnd = mulberry32(20261127);
  const grpcClients: Array<Client<typeof LeaseService>> = Array.from({ length: 4 }, () =>
    createClient(LeaseService, createGrpcTransport({ baseUrl: c.url })),
  );
  const webClient = createClient(
    LeaseService,
    createGrpcWebTransport({ baseUrl: c.url, httpVersion: "1.1" }),
  );
  const cluster = createClient(ClusterService, createGrpcTransport({ baseUrl: c.url }));

  const stats = { granted: 0, gaveUp: 0, released: 0 };
  let running = true;
  let samples = 0;
  const violations: string[] = [];
  let maxQueue = 0;
  const checker = (async () => {
    const until = Date.now() + 110_000;
    while (running && Date.now() < until) {
      const s = await cluster.getStatus({});
      samples++;
      if (process.env.CONC_DEBUG && samples % 100 === 0)
        process.stderr.write(
          `${samples} ${JSON.stringify(stats)} leases=${s.leases.length} queue=${s.queue.length} free=${s.gpus.map((g) => g.freeMb)}\n`,
        );
      maxQueue = Math.max(maxQueue, s.queue.length);
      violations.push(...overCommitted(s));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  const sizes = [512, 1024, 2048, 4096, 6144, 8192, 12288, 16384, 20480];
  const client = async (i: number) => {
    const leases = i % 4 === 3 ? webClient : grpcClients[i % 4]!;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const vramMb = BigInt(sizes[Math.floor(rnd() * sizes.length)]!);
      const priority = 1 + Math.floor(rnd() * 5);
      const giveUp = rnd() < 0.1;
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), giveUp ? 5 + rnd() * 50 : 60_000);
      let leaseId: string | undefined;
      try {
        for await (const m of leases.acquire(
          { requestId: `c${i}-${cycle}`, slot: { service: `svc${i % 7}`, vramMb, priority } },
          { signal: ac.signal },
        )) {
          if (m.event.case === "granted") leaseId = m.event.value.leaseId;
        }
      } catch {
        // Aborted after GRANTED arrived: the lease is ours all the same.
        if (leaseId === undefined) stats.gaveUp++;
      } finally {
        clearTimeout(timer);
      }
      if (leaseId === undefined) {
        // What a client that gives up does: withdraw by request id, which also releases a lease
        // whose GRANTED crossed the cancel (idempotent).
        // NOT_FOUND: the Acquire never reached the coordinator.
        await leases
          .release({ target: { case: "requestId", value: `c${i}-${cycle}` } })
          .catch((e: unknown) => {
            if (!(e instanceof ConnectError && e.code === Code.NotFound)) throw e;
          });
        continue;
      }
      stats.granted++;
      await new Promise((r) => setTimeout(r, rnd() * 20));
      const r = await leases.release({ target: { case: "leaseId", value: leaseId } });
      if (r.released) stats.released++;
    }
  };
  const results = await Promise.allSettled(Array.from({ length: CLIENTS }, (_, i) => client(i)));
  running = false;
  await checker;

  expect(results.filter((r) => r.status === "rejected")).toEqual([]);
  expect(violations).toEqual([]);
  expect(samples).toBeGreaterThan(10);
  expect(maxQueue).toBeGreaterThan(0); // there was contention
  expect(stats.granted + stats.gaveUp).toBe(CLIENTS * CYCLES);
  expect(stats.released).toBe(stats.granted);
  expect(stats.granted).toBeGreaterThan(CLIENTS * CYCLES * 0.7);

  // Everything is back: no lease, no waiter, all memory free.
  let s = await cluster.getStatus({});
  for (let i = 0; i < 100 && (s.leases.length > 0 || s.queue.length > 0); i++) {
    await new Promise((r) => setTimeout(r, 20));
    s = await cluster.getStatus({});
  }
  expect(s.leases).toHaveLength(0);
  expect(s.queue).toHaveLength(0);
  expect(s.gpus.map((g) => g.freeMb)).toEqual([24576n, 8192n]);
});
