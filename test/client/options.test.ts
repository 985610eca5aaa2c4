/** Options and environment: URL and token from CF_ORCH_URL / CF_ORCH_TOKEN, the bearer header, checks. */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { GpuProfileService } from "../../gen/ts/cforch/v1/profile_pb.js";
import { DEFAULT_URL, InvalidOptionError, ResourceCoordinator } from "../../client/index.js";
import { resolveOptions } from "../../client/options.js";
import { captureLogger } from "./helpers.js";

describe("options", () => {
  test("defaults, then environment, then explicit options", () => {
    const logger = captureLogger().logger;
    expect(resolveOptions({ service: "kiwi", logger }, {}).url).toBe(DEFAULT_URL);
    const fromEnv = resolveOptions(
      { service: "kiwi", logger },
      { CF_ORCH_URL: "http://10.1.10.71:7700/", CF_ORCH_TOKEN: "t0k" },
    );
    expect(fromEnv.url).toBe("http://10.1.10.71:7700");
    expect(fromEnv.token).toBe("t0k");
    expect(fromEnv.fallback).toBe("local");
    const explicit = resolveOptions(
      { service: "kiwi", logger, url: "http://h:1", token: "mine", fallback: "error" },
      { CF_ORCH_URL: "http://10.1.10.71:7700", CF_ORCH_TOKEN: "t0k" },
    );
    expect(explicit).toMatchObject({ url: "http://h:1", token: "mine", fallback: "error" });
    expect(explicit.holderId).toMatch(/^kiwi\.[A-Za-z0-9._-]+\.\d+\.[0-9a-f]{8}$/);
  });

  test.each([
    [{ service: "" }, "service"],
    [{ service: "kiwi", url: "ftp://x" }, "url"],
    [{ service: "kiwi", url: "not a url" }, "url"],
    [{ service: "kiwi", fallback: "maybe" as never }, "fallback"],
    [{ service: "kiwi", holderId: "a b" }, "holderId"],
    [{ service: "kiwi", ttlMs: -1 }, "ttlMs"],
    [{ service: "kiwi", probe: { initialMs: 100, maxMs: 10 } }, "probe.maxMs"],
  ])("rejects %p (field %s)", (options, field) => {
    expect(() => resolveOptions({ logger: captureLogger().logger, ...options }, {})).toThrow(
      expect.objectContaining({ name: "InvalidOptionError", field }) as unknown as Error,
    );
    expect(() => new ResourceCoordinator({ logger: captureLogger().logger, ...options })).toThrow(
      InvalidOptionError,
    );
  });

  test("the token is sent as an authorization bearer header", async () => {
    const seen: Array<string | null> = [];
    const server = http2.createServer(
      connectNodeAdapter({
        routes: (router) =>
          router.service(GpuProfileService, {
            getProfile(req, ctx) {
              seen.push(ctx.requestHeader.get("authorization"));
              return { profile: { name: req.name, vendor: "nvidia", vramGb: 24, vramMb: 24576n } };
            },
          }),
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const previous = process.env.CF_ORCH_TOKEN;
    process.env.CF_ORCH_TOKEN = "secret-kiwi";
    const coordinator = new ResourceCoordinator({
      url: `http://127.0.0.1:${port}`,
      service: "kiwi",
      logger: captureLogger().logger,
    });
    try {
      const profile = await coordinator.getGpuProfile("Fancy GPU");
      expect(profile.name).toBe("Fancy GPU");
      expect(seen).toEqual(["Bearer secret-kiwi"]);
    } finally {
      if (previous === undefined) delete process.env.CF_ORCH_TOKEN;
      else process.env.CF_ORCH_TOKEN = previous;
      await coordinator.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
