/** KeepAlive against a scripted renew function: renewal cadence, NOT_FOUND, unreachable past the TTL. */
import { Code, ConnectError } from "@connectrpc/connect";
import { KeepAlive, renewIntervalMs, type RenewOutcome } from "../../client/keep-alive.js";
import type { LeaseLostReason } from "../../client/errors.js";
import { captureLogger, waitFor } from "./helpers.js";

function harness(renew: (n: number) => Promise<RenewOutcome>, ttlMs = 300) {
  const lost: LeaseLostReason[] = [];
  let calls = 0;
  const keepAlive = new KeepAlive({
    leaseId: "lease_test",
    ttlMs,
    logger: captureLogger().logger,
    renew: () => renew(++calls),
    onLost: (reason) => lost.push(reason),
  });
  return { keepAlive, lost, calls: () => calls };
}

describe("KeepAlive", () => {
  test("renews every TTL/3", () => {
    expect(renewIntervalMs(30_000)).toBe(10_000);
    expect(renewIntervalMs(1_500)).toBe(500);
  });

  test("keeps renewing while the coordinator answers, and never reports a loss", async () => {
    const h = harness(async () => "renewed");
    h.keepAlive.start();
    try {
      await waitFor("six renewals", () => h.calls() >= 6, { attempts: 400, everyMs: 10 });
      expect(h.lost).toEqual([]);
    } finally {
      h.keepAlive.stop();
    }
  });

  test("NOT_FOUND from the coordinator means the lease is lost", async () => {
    const h = harness(async (n) => (n < 3 ? "renewed" : "gone"));
    h.keepAlive.start();
    await waitFor("loss", () => h.lost.length > 0, { attempts: 400, everyMs: 10 });
    expect(h.lost).toEqual(["not_found"]);
    const calls = h.calls();
    await new Promise((r) => setTimeout(r, 250));
    expect(h.calls()).toBe(calls); // stopped
  });

  test("an unreachable coordinator loses the lease once the TTL passed since the last renewal", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
      code: "ECONNREFUSED",
    });
    const h = harness(async (n) => {
      if (n <= 2) return "renewed";
      throw new ConnectError("unavailable", Code.Unavailable, undefined, undefined, refused);
    });
    h.keepAlive.start();
    await waitFor("loss", () => h.lost.length > 0, { attempts: 400, everyMs: 10 });
    expect(h.lost).toEqual(["unreachable"]);
    expect(h.calls()).toBeGreaterThan(3); // it kept retrying until the deadline
  });

  test("a transient failure followed by success does not lose the lease", async () => {
    const h = harness(async (n) => {
      if (n === 2) throw new ConnectError("blip", Code.Unavailable);
      return "renewed";
    });
    h.keepAlive.start();
    try {
      await waitFor("recovery", () => h.calls() >= 8, { attempts: 400, everyMs: 10 });
      expect(h.lost).toEqual([]);
    } finally {
      h.keepAlive.stop();
    }
  });

  test("PERMISSION_DENIED revokes the lease", async () => {
    const h = harness(async () => {
      throw new ConnectError("not yours", Code.PermissionDenied);
    });
    h.keepAlive.start();
    await waitFor("loss", () => h.lost.length > 0, { attempts: 400, everyMs: 10 });
    expect(h.lost).toEqual(["revoked"]);
  });
});
