/**
 * A caller that gives up waiting (abort, timeout) makes the client call Release by request id:
 * that withdraws the request, or releases the lease whose GRANTED crossed the cancel. NOT_FOUND
 * (it never reached the coordinator) ends it quietly; a transient failure is retried a few
 * times. Checked against a scripted LeaseService (which calls arrive, and in which order) and
 * against the real coordinator (a grant racing the cancel never leaves a lease behind).
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  AcquireResponseSchema,
  LeaseService,
  ReleaseResponseSchema,
} from "../../gen/ts/cforch/v1/lease_pb.js";
import { CancelledError, ResourceCoordinator, VRAMSlot } from "../../client/index.js";
import { GPU1, startHarness } from "./harness.js";
import { captureLogger, sleep, waitFor } from "./helpers.js";

jest.setTimeout(30_000);

type ReleaseAnswer = "ok" | "not_found" | "unavailable";

/** A LeaseService whose Acquire queues forever (or fails) and whose Release is scripted. */
async function scriptedCoordinator(opts: {
  acquire: "queue" | "unavailable";
  release: ReleaseAnswer[];
}) {
  const calls: string[] = [];
  const impl: Partial<ServiceImpl<typeof LeaseService>> = {
    async *acquire(req, ctx) {
      calls.push(`acquire ${req.requestId}`);
      if (opts.acquire === "unavailable")
        throw new ConnectError("the coordinator is shutting down", Code.Unavailable);
      yield create(AcquireResponseSchema, {
        event: {
          case: "queued",
          value: { requestId: req.requestId, position: 1, reasonText: "behind 1 request" },
        },
      });
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
      calls.push(`acquire ${req.requestId} cancelled`);
    },
    release(req) {
      const target = req.target.case === "requestId" ? `request ${req.target.value}` : "lease";
      const answer = opts.release.shift() ?? "ok";
      calls.push(`release ${target}: ${answer}`);
      if (answer === "not_found") throw new ConnectError("no request is known", Code.NotFound);
      if (answer === "unavailable") throw new ConnectError("restarting", Code.Unavailable);
      return create(ReleaseResponseSchema, { released: true });
    },
  };
  const server = http2.createServer(
    connectNodeAdapter({ routes: (router) => router.service(LeaseService, impl) }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Streams still open (a client mid-retry) must not hold the close up.
        setTimeout(resolve, 500).unref();
      }),
  };
}

function clientFor(url: string, log = captureLogger()) {
  return {
    log,
    rc: new ResourceCoordinator({
      url,
      service: "kiwi",
      fallback: "error",
      logger: log.logger,
      retry: { initialMs: 50, maxMs: 100 },
    }),
  };
}

const slot = new VRAMSlot({ service: "kiwi", vramMb: 1024 });

test.each([
  ["abort", () => ({ signal: AbortSignal.timeout(300) })],
  ["timeoutMs", () => ({ timeoutMs: 300 })],
])("giving up by %s while queued: Release by request id", async (_name, how) => {
  const fake = await scriptedCoordinator({ acquire: "queue", release: ["ok"] });
  const { rc } = clientFor(fake.url);
  try {
    const request = rc.acquire(slot, how());
    await expect(request.lease).rejects.toBeInstanceOf(CancelledError);
    await waitFor("the withdrawal", () => fake.calls.some((c) => c.startsWith("release")));
    expect(fake.calls).toContain(`release request ${request.requestId}: ok`);
    expect(fake.calls.filter((c) => c.startsWith("release"))).toHaveLength(1);
  } finally {
    await rc.close();
    await fake.close();
  }
});

test("giving up during a retry back-off (no stream open) still withdraws", async () => {
  const fake = await scriptedCoordinator({ acquire: "unavailable", release: ["ok"] });
  const { rc } = clientFor(fake.url);
  try {
    const controller = new AbortController();
    const request = rc.acquire(slot, { signal: controller.signal });
    await waitFor(
      "two attempts",
      () => fake.calls.filter((c) => c.startsWith("acquire")).length >= 2,
    );
    controller.abort();
    await expect(request.lease).rejects.toMatchObject({
      name: "CancelledError",
      reason: "aborted",
    });
    await waitFor("the withdrawal", () => fake.calls.some((c) => c.startsWith("release")));
    expect(fake.calls.filter((c) => c.startsWith("release"))).toEqual([
      `release request ${request.requestId}: ok`,
    ]);
  } finally {
    await rc.close();
    await fake.close();
  }
});

test("NOT_FOUND (never reached the coordinator) ends the withdrawal quietly; UNAVAILABLE is retried", async () => {
  const quiet = await scriptedCoordinator({ acquire: "queue", release: ["not_found"] });
  const a = clientFor(quiet.url);
  const flaky = await scriptedCoordinator({
    acquire: "queue",
    release: ["unavailable", "unavailable", "ok"],
  });
  const b = clientFor(flaky.url);
  try {
    const r1 = a.rc.acquire(slot, { timeoutMs: 200 });
    const r2 = b.rc.acquire(slot, { timeoutMs: 200 });
    await expect(r1.lease).rejects.toBeInstanceOf(CancelledError);
    await expect(r2.lease).rejects.toBeInstanceOf(CancelledError);
    await waitFor(
      "three attempts",
      () => flaky.calls.filter((c) => c.startsWith("release")).length === 3,
    );
    await sleep(300);
    expect(quiet.calls.filter((c) => c.startsWith("release"))).toEqual([
      `release request ${r1.requestId}: not_found`,
    ]);
    expect(flaky.calls.filter((c) => c.startsWith("release"))).toEqual([
      `release request ${r2.requestId}: unavailable`,
      `release request ${r2.requestId}: unavailable`,
      `release request ${r2.requestId}: ok`,
    ]);
    expect(a.log.warnings()).toEqual([]);
    expect(b.log.warnings()).toEqual([]);
  } finally {
    await Promise.all([a.rc.close(), b.rc.close()]);
    await Promise.all([quiet.close(), flaky.close()]);
  }
});

test("a real coordinator: a grant racing the cancel never leaves a lease behind (20 races)", async () => {
  const h = await startHarness();
  const holder = new ResourceCoordinator({
    url: h.url,
    service: "snipe",
    logger: captureLogger().logger,
  });
  const waiter = new ResourceCoordinator({
    url: h.url,
    service: "kiwi",
    logger: captureLogger().logger,
  });
  let granted = 0;
  let cancelled = 0;
  try {
    for (let i = 0; i < 20; i++) {
      const filler = await holder.lease(
        new VRAMSlot({ service: "snipe", vramMb: 8192, gpu: GPU1 }),
      );
      const controller = new AbortController();
      let queued = false;
      const request = waiter.acquire(new VRAMSlot({ service: "kiwi", vramMb: 8192, gpu: GPU1 }), {
        signal: controller.signal,
        onQueued: () => (queued = true),
      });
      await waitFor("the waiter to queue", () => queued);
      // Free the GPU and give up at (nearly) the same moment, skewed a little each round.
      const release = filler.release();
      if (i % 4 === 0) await sleep(i % 3);
      controller.abort();
      await release;
      const outcome = await request.lease.then(
        async (lease) => {
          granted++;
          await lease.release();
        },
        (err: unknown) => {
          expect(err).toBeInstanceOf(CancelledError);
          cancelled++;
        },
      );
      void outcome;
      await waitFor(
        "no lease left on the server",
        async () => (await h.liveLeases()) === 0 && (await h.queueLength()) === 0,
        { attempts: 200, everyMs: 10 },
      );
    }
    expect(granted + cancelled).toBe(20);
  } finally {
    await Promise.all([holder.close(), waiter.close()]);
    await h.close();
  }
});
