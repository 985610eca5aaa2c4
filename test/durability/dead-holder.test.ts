/**
 * Dead holders give their VRAM back within the documented time (docs/OPERATIONS.md,
 * "Reclaim times"): a holder that keeps its lease with KeepAlive loses it one TTL after its
 * last keep-alive, i.e. between TTL - TTL/3 and TTL after it died (it renews every TTL/3).
 * The coordinator runs as its own process; holders are child processes using the TypeScript
 * client, killed with SIGKILL, or in-process clients whose TCP connection is frozen (no FIN).
 * The next waiter must be granted; the bounds asserted are "not before ~TTL" and a generous
 * upper limit, not a tight one.
 */
import {
  LeaseLostError,
  ResourceCoordinator,
  VRAMSlot,
  renewIntervalMs,
} from "../../client/index.js";
import { spawnCoordinator, type SpawnedCoordinator } from "../support/coordinator.js";
import { startFrozenProxy } from "../server/frozen-proxy.js";
import { quietLogger, sleep, spawnHolder, waitFor, clients } from "./helpers.js";

jest.setTimeout(60_000);

const TTL_MS = 2000;
/** Earliest reclaim after death: the last keep-alive may have been one interval before it. */
const EARLIEST_MS = TTL_MS - renewIntervalMs(TTL_MS) - 100;
const GENEROUS_MS = TTL_MS + 15_000;
const GPU1 = "local/1"; // 8192 MiB

let coordinator: SpawnedCoordinator | undefined;
const closers: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await coordinator?.stop();
  coordinator = undefined;
});

function waiterFor(url: string): ResourceCoordinator {
  const rc = new ResourceCoordinator({
    url,
    service: "peregrine",
    fallback: "error",
    logger: quietLogger(),
  });
  closers.push(() => rc.close());
  return rc;
}

/** Resolves with the time the promise took to settle, failing after `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

test.each([
  ["keep-alive only", false],
  ["evictable (eviction session open too)", true],
])(
  "a holder killed with SIGKILL (%s): the next waiter gets its VRAM one TTL after the last keep-alive",
  async (_name, evictable) => {
    coordinator = await spawnCoordinator();
    const c = coordinator;
    const holder = spawnHolder({
      url: c.url,
      service: "kiwi",
      vramMb: 8192,
      gpu: GPU1,
      ttlMs: TTL_MS,
      evictable,
    });
    closers.push(() => {
      holder.child.kill("SIGKILL");
    });
    const held = await within(holder.granted, 20_000);
    expect(held.gpuId).toBe(GPU1);
    expect(held.evictable).toBe(evictable);

    const waiter = waiterFor(c.url);
    let queued = 0;
    const waiting = waiter.lease(new VRAMSlot({ service: "peregrine", vramMb: 8192, gpu: GPU1 }), {
      onQueued: () => queued++,
    });
    await waitFor("the waiter to queue", () => queued > 0, 10_000);
    // The holder lives past a few of its keep-alives: it is alive, so nothing moves.
    await sleep(TTL_MS);
    expect((await clients(c.url).lease.getLease({ leaseId: held.leaseId })).lease?.leaseId).toBe(
      held.leaseId,
    );

    holder.child.kill("SIGKILL");
    const killedAt = Date.now();
    await holder.exited;
    const lease = await within(waiting, GENEROUS_MS);
    const after = Date.now() - killedAt;
    expect(lease.gpuId).toBe(GPU1);
    expect(lease.fencingToken).toBeGreaterThan(BigInt(held.fencingToken));
    expect(after).toBeGreaterThanOrEqual(EARLIEST_MS);
    process.stdout.write(
      `dead holder (${_name}): reclaimed ${after} ms after SIGKILL, TTL ${TTL_MS}\n`,
    );
    await expect(clients(c.url).lease.getLease({ leaseId: held.leaseId })).rejects.toMatchObject({
      rawMessage: expect.stringMatching(/no live lease/),
    });
    await lease.release();
  },
);

test("a holder whose connection goes silent (no FIN): reclaimed after its TTL, and its own signal fires", async () => {
  coordinator = await spawnCoordinator({
    settings: { ping_interval_ms: 300, ping_timeout_ms: 300 },
  });
  const c = coordinator;
  const proxy = await startFrozenProxy(c.port);
  closers.push(() => proxy.close());
  const holder = new ResourceCoordinator({
    url: `http://127.0.0.1:${proxy.port}`,
    service: "kiwi",
    fallback: "error",
    ttlMs: TTL_MS,
    logger: quietLogger(),
  });
  closers.push(() => holder.close());
  const held = await holder.lease(new VRAMSlot({ service: "kiwi", vramMb: 8192, gpu: GPU1 }));
  const lost: unknown[] = [];
  held.signal.addEventListener("abort", () => lost.push(held.signal.reason));

  const waiter = waiterFor(c.url);
  let queued = 0;
  const waiting = waiter.lease(new VRAMSlot({ service: "peregrine", vramMb: 8192, gpu: GPU1 }), {
    onQueued: () => queued++,
  });
  await waitFor("the waiter to queue", () => queued > 0, 10_000);
  await sleep(TTL_MS); // keep-alives flow through the proxy: the lease stays
  expect(lost).toEqual([]);

  proxy.freeze();
  const frozenAt = Date.now();
  const lease = await within(waiting, GENEROUS_MS);
  const after = Date.now() - frozenAt;
  expect(lease.gpuId).toBe(GPU1);
  expect(after).toBeGreaterThanOrEqual(EARLIEST_MS);
  process.stdout.write(`frozen holder: reclaimed ${after} ms after the freeze, TTL ${TTL_MS}\n`);
  // The cut-off holder learns it too, at most one TTL after its last successful keep-alive.
  await waitFor("the holder's lease signal", () => lost.length > 0, TTL_MS + 5_000);
  expect(lost[0]).toBeInstanceOf(LeaseLostError);
  expect((lost[0] as LeaseLostError).reason).toBe("unreachable");
  await lease.release();
});
