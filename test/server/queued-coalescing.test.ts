/**
 * QUEUED updates are coalesced per stream, more so further back in the line: a waiter at
 * position p sends at most one update per queued_min_interval_ms * max(1, p / 8). A moving line
 * of 60 waiters: the far back gets fewer updates than the changes it goes through, the head
 * about one per change; every waiter ends with GRANTED, and a waiter the line stops moving for
 * is still sent its latest position (coalescing never drops the final state).
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { LeaseService } from "../../gen/ts/cforch/v1/lease_pb.js";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { startTestCoordinator } from "../support/coordinator.js";

jest.setTimeout(60_000);

const WAITERS = 60;
const MIN_INTERVAL_MS = 20;
/** Each granted waiter holds its lease this long before releasing (one grant per ~this). */
const HOLD_MS = 30;
/** The line stops moving when this many are still waiting (until `go` is resolved). */
const STOP_AT = 20;

let c: RunningCoordinator;
let lease: Client<typeof LeaseService>;
beforeAll(async () => {
  c = await startTestCoordinator({
    queuedMinIntervalMs: MIN_INTERVAL_MS,
    queuedHeartbeatMs: 60_000,
  });
  lease = createClient(LeaseService, createGrpcTransport({ baseUrl: c.url }));
});
afterAll(async () => {
  await c.close();
});

const slot = { service: "kiwi", vramMb: 8192n, constraints: { gpuId: "local/1" } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Waiter {
  requestId: string;
  positions: number[];
  granted: boolean;
}

test("a waiter far back is sent fewer QUEUED updates than the head; all end GRANTED", async () => {
  // The GPU is full: one holder of all of local/1.
  let holderLease = "";
  for await (const m of lease.acquire({ requestId: "holder", slot, ttlMs: 600_000 }))
    if (m.event.case === "granted") holderLease = m.event.value.leaseId;
  expect(holderLease).not.toBe("");

  let granted = 0;
  let releaseGo!: () => void;
  const go = new Promise<void>((r) => (releaseGo = r));
  const waiters: Waiter[] = [];
  const runs: Array<Promise<void>> = [];
  for (let i = 0; i < WAITERS; i++) {
    const w: Waiter = { requestId: `w${i}`, positions: [], granted: false };
    waiters.push(w);
    const opened = new Promise<void>((resolveOpened) => {
      runs.push(
        (async () => {
          for await (const m of lease.acquire({ requestId: w.requestId, slot, ttlMs: 600_000 })) {
            if (m.event.case === "queued") {
              w.positions.push(m.event.value.position);
              resolveOpened();
            } else if (m.event.case === "granted") {
              w.granted = true;
              granted++;
              const id = m.event.value.leaseId;
              if (WAITERS - granted === STOP_AT) await go;
              else await sleep(HOLD_MS);
              await lease.release({ target: { case: "leaseId", value: id } });
            }
          }
        })(),
      );
    });
    await opened; // FIFO: open them in order
  }
  expect(waiters.map((w) => w.positions[0])).toEqual(
    waiters.map((_, i) => waiters[0]!.positions[0]! + i),
  );

  // Move the line: release the holder; each granted waiter releases after HOLD_MS.
  await lease.release({ target: { case: "leaseId", value: holderLease } });
  while (WAITERS - granted > STOP_AT) await sleep(10);
  // The far back (over 8 places all the while): its updates so far, and the changes it went through.
  const back = waiters[WAITERS - 1]!;
  const backUpdates = back.positions.length - 1;
  const backChanges = back.positions[0]! - c.scheduler.getEntry(back.requestId)!.position;

  // The line is still now: after the longest interval, every waiter has its latest position.
  const longest = MIN_INTERVAL_MS * (WAITERS / 8) + 200;
  await sleep(longest);
  for (const w of waiters.filter((x) => !x.granted)) {
    const entry = c.scheduler.getEntry(w.requestId);
    expect(entry).toBeDefined();
    expect(w.positions[w.positions.length - 1]).toBe(entry!.position);
  }

  releaseGo();
  await Promise.all(runs);
  expect(waiters.every((w) => w.granted)).toBe(true);

  // Head: starts within the first 8 places, so one update per change (timing allowing).
  const head = waiters[4]!;
  const headUpdates = head.positions.length - 1;
  const headChanges = head.positions[0]! - head.positions[head.positions.length - 1]!;
  expect(backChanges).toBeGreaterThan(20);
  expect(backUpdates).toBeLessThan(0.6 * backChanges);
  expect(headUpdates / Math.max(1, headChanges)).toBeGreaterThan(backUpdates / backChanges);
  // Positions never go up.
  for (const w of waiters)
    for (let i = 1; i < w.positions.length; i++)
      expect(w.positions[i]!).toBeLessThanOrEqual(w.positions[i - 1]!);
});
