/**
 * The running coordinator: configuration → GPUs → scheduling core → RPC services on one port.
 *
 *   const c = await startCoordinator({ port: 0, gpus: [{ index: 0, capacityMb: 24576 }] });
 *   // c.url === "http://127.0.0.1:PORT"; gRPC, gRPC-Web and Connect all work there
 *   await c.close();
 *
 * Shutdown (close(), SIGINT/SIGTERM in the CLI): stop accepting connections, health turns
 * NOT_SERVING (watchers are told), streaming calls end with UNAVAILABLE (with a
 * `retry-after-ms` hint), HTTP/2 sessions get GOAWAY and whatever is still open after
 * shutdown_grace_ms is cut; then the store's WAL is checkpointed and the store closed.
 *
 * Durability (docs/OPERATIONS.md): unless `persist: false` or `data_dir: ":memory:"`, leases,
 * evictable registrations, agent GPUs and the fencing counter live in `<data_dir>/cf-orch.db`
 * and come back at the next start (storage/recovery.ts). A store that cannot be used stops
 * the start with a StoreError (a ConfigError) naming the file and what to do.
 */
import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import type * as http from "node:http";
import { Scheduler, type Clock } from "./core/index.js";
import { ConfigError, resolveConfig } from "./config/load.js";
import type { CoordinatorConfig } from "./config/schema.js";
import { NvidiaSmiError, queryNvidiaSmi, type SmiGpu } from "./config/nvidia-smi.js";
import { GpuCatalog, describeGpu, gpuId, toGpuSpec, type GpuRecord } from "./gpus.js";
import { createLogger } from "./logging.js";
import { Runtime, unavailable } from "./runtime.js";
import { UsagePoller } from "./usage-poller.js";
import { TransportServer } from "./transport/server.js";
import { createNodeHandler } from "./transport/adapter.js";
import { LeaseService } from "../gen/ts/cforch/v1/lease_pb.js";
import { EvictionService } from "../gen/ts/cforch/v1/eviction_pb.js";
import { ClusterService, GetStatusResponseSchema } from "../gen/ts/cforch/v1/cluster_pb.js";
import { GpuProfileService } from "../gen/ts/cforch/v1/profile_pb.js";
import { Health } from "../gen/ts/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../gen/ts/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1Alpha } from "../gen/ts/grpc/reflection/v1alpha/reflection_pb.js";
import { leaseService } from "./services/lease.js";
import { evictionService } from "./services/eviction.js";
import { clusterService, snapshot } from "./services/cluster.js";
import { profileService } from "./services/profile.js";
import { HealthState, ServingStatus, healthService } from "./services/health.js";
import { ReflectionIndex, reflectionV1, reflectionV1Alpha } from "./services/reflection.js";
import { LeaseStore, recover, type Recovery } from "./storage/index.js";

export type { CoordinatorConfig } from "./config/schema.js";
export { ConfigError } from "./config/load.js";
export { StoreError } from "./storage/index.js";

export interface RunningCoordinator {
  /** "http://HOST:PORT" (IPv6 hosts in brackets). */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly scheduler: Scheduler;
  readonly runtime: Runtime;
  readonly config: CoordinatorConfig;
  readonly logger: Logger;
  /** The store file, or undefined when not persisting. */
  readonly storeFile: string | undefined;
  /** Set when the coordinator stopped because its store could not be written. */
  readonly failure: Error | undefined;
  /** Graceful shutdown; idempotent. Resolves when every connection is closed. */
  close(): Promise<void>;
  /** Resolves once close() has finished. */
  readonly closed: Promise<void>;
}

export const SERVICES = [
  LeaseService,
  EvictionService,
  ClusterService,
  GpuProfileService,
  Health,
  ReflectionV1,
  ReflectionV1Alpha,
] as const;

/** nvidia-smi path to run, if any. "auto" runs it from PATH only when no GPU is configured. */
function smiPath(config: CoordinatorConfig): { path: string; explicit: boolean } | undefined {
  if (config.nvidiaSmi === "off") return undefined;
  if (config.nvidiaSmi === "auto")
    return config.gpus.length === 0 ? { path: "nvidia-smi", explicit: false } : undefined;
  return { path: config.nvidiaSmi, explicit: true };
}

async function discoverGpus(
  config: CoordinatorConfig,
  logger: Logger,
): Promise<{ records: GpuRecord[]; smi: SmiGpu[]; smiPath?: string }> {
  const byId = new Map<string, GpuRecord>();
  let smi: SmiGpu[] = [];
  const which = smiPath(config);
  let usedSmi: string | undefined;
  if (which) {
    try {
      smi = await queryNvidiaSmi(which.path);
      usedSmi = which.path;
      for (const g of smi) {
        const rec = describeGpu({
          node: config.nodeName,
          index: g.index,
          name: g.name,
          uuid: g.uuid,
          capacityMb: g.memoryTotalMb,
          memoryTotalMb: g.memoryTotalMb,
        });
        byId.set(rec.id, rec);
      }
      logger.info({ nvidiaSmi: which.path, gpus: smi.length }, "GPUs discovered with nvidia-smi");
    } catch (err) {
      const e = err as Error;
      if (!which.explicit && err instanceof NvidiaSmiError && err.notFound) {
        logger.debug("nvidia-smi not found on PATH");
      } else {
        throw new ConfigError([`nvidia_smi: ${e.message}`]);
      }
    }
  }
  // Configured GPUs add to (or refine: name, UUID, a capacity cap) the discovered ones.
  for (const g of config.gpus) {
    const node = g.node ?? config.nodeName;
    const id = gpuId(node, g.index);
    const found = byId.get(id);
    const memoryTotalMb = g.memoryTotalMb ?? found?.memoryTotalMb;
    const name = g.name ?? (found?.name || undefined);
    const uuid = g.uuid ?? (found?.uuid || undefined);
    byId.set(
      id,
      describeGpu({
        node,
        index: g.index,
        capacityMb: g.capacityMb,
        ...(name !== undefined ? { name } : {}),
        ...(uuid !== undefined ? { uuid } : {}),
        ...(memoryTotalMb !== undefined ? { memoryTotalMb } : {}),
      }),
    );
  }
  const result: { records: GpuRecord[]; smi: SmiGpu[]; smiPath?: string } = {
    records: [...byId.values()],
    smi,
  };
  if (usedSmi) result.smiPath = usedSmi;
  return result;
}

function errorInterceptor(rt: Runtime): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      const ce = ConnectError.from(err);
      rt.metrics.rpcErrors.inc({ method: req.method.name, code: Code[ce.code] ?? String(ce.code) });
      if (ce.code === Code.Internal || ce.code === Code.Unknown)
        rt.logger.error({ err, method: req.method.name }, "RPC failed");
      else
        rt.logger.debug(
          { method: req.method.name, code: Code[ce.code], msg: ce.rawMessage },
          "RPC error",
        );
      throw err;
    }
  };
}

export async function startCoordinator(
  input: Partial<CoordinatorConfig> = {},
): Promise<RunningCoordinator> {
  const { logger: givenLogger, clock: givenClock, ...rest } = input;
  const config = resolveConfig(rest);
  const logger =
    givenLogger ?? (await createLogger({ level: config.logLevel, pretty: config.pretty }));
  const clock: Clock = givenClock ?? { now: () => Date.now() };
  if (givenLogger) config.logger = givenLogger;
  if (givenClock) config.clock = givenClock;

  const discovered = await discoverGpus(config, logger);
  const catalog = new GpuCatalog();
  for (const r of discovered.records) catalog.set(r);
  if (discovered.records.length === 0)
    logger.warn(
      "no GPUs configured or discovered: every request will fail until a node agent registers GPUs",
    );

  const schedulerOptions = {
    clock,
    gpus: discovered.records.map(toGpuSpec),
    defaultTtlMs: config.defaultTtlMs,
    minTtlMs: config.minTtlMs,
    maxTtlMs: config.maxTtlMs,
    checkpointDeadlineMs: config.checkpointDeadlineMs,
    onListenerError: (err: unknown, event: { type: string }) =>
      logger.error({ err, event: event.type }, "event listener failed"),
  };
  const persist = config.persist && config.dataDir !== ":memory:";
  const store = persist ? LeaseStore.open(config.dataDir, { sync: config.storeSync }) : undefined;
  let recovery: Recovery | undefined;
  let scheduler: Scheduler;
  try {
    if (store) {
      recovery = recover(store.load(), schedulerOptions, {
        dropMissingGpuLeases: config.dropMissingGpuLeases,
      });
      scheduler = recovery.scheduler;
      store.dropLeases(recovery.dropped);
      for (const g of recovery.agentGpus) catalog.set(g);
    } else {
      scheduler = new Scheduler(schedulerOptions);
    }
  } catch (err) {
    store?.close();
    throw err;
  }
  const runtime = new Runtime(scheduler, catalog, clock, logger, store);
  if (store) {
    const r = recovery!;
    for (const [id, holder] of r.pendingResumes) runtime.pendingResumes.set(id, holder);
    for (const id of r.wereCheckpointing) runtime.wereCheckpointing.add(id);
    for (const id of r.knownRequests) runtime.rememberRequest(id);
    for (const w of r.warnings) logger.warn({ store: store.file }, `restore: ${w}`);
    logger.info(
      {
        store: store.file,
        active: r.active,
        paused: r.paused,
        dropped: r.dropped.length,
        agentGpus: r.agentGpus.map((g) => g.id),
        fencingCounter: String(r.fencingCounter),
      },
      r.active + r.paused > 0
        ? `restored ${r.active + r.paused} lease(s) from ${store.file}; each has one TTL from now to be kept alive`
        : `lease store ${store.file} opened`,
    );
    // Paused leases that fit now are resumed (their holders hear it when their session is back).
    runtime.tick();
  } else {
    logger.info("persistence off: leases live in memory only and are lost at restart");
  }
  let failure: Error | undefined;
  let closeFn: (() => Promise<void>) | undefined;
  runtime.onFatal = (err) => {
    failure = err;
    void closeFn?.();
  };
  runtime.metrics.gauges.set("cforch_store_transactions", {
    help: "Store transactions committed since start (one per core call that changed durable state).",
    value: () => store?.stats.transactions ?? 0,
  });

  /** GPUs whose measured usage comes from this host's nvidia-smi. */
  const smiMeasured = new Set<string>();
  const applyUsage = (smi: SmiGpu[]) => {
    for (const g of smi) {
      const id = gpuId(config.nodeName, g.index);
      if (g.memoryUsedMb === undefined || !catalog.get(id)) continue;
      const used = g.memoryUsedMb;
      runtime.call(() => scheduler.setMeasuredUsage(id, used));
      smiMeasured.add(id);
    }
    runtime.touch();
  };
  if (discovered.smi.length) applyUsage(discovered.smi);
  // Measured usage (docs/OPERATIONS.md, "Measured usage"): released memory on a measured GPU is
  // reusable once a measurement shows it free, so nvidia-smi runs every nvidia_smi_poll_ms and
  // right after memory leaves a GPU it measures (release, expiry; not a checkpoint, not a paused
  // lease, which holds none). Agent GPUs wait for their agent's next ReportUsage.
  let poller: UsagePoller | undefined;
  if (discovered.smiPath) {
    const smiPoller = new UsagePoller({
      path: discovered.smiPath,
      periodMs: config.nvidiaSmiPollMs,
      logger,
      apply: (smi) => {
        if (!runtime.shuttingDown) applyUsage(smi);
      },
      wanted: () => scheduler.waitingCount > 0,
      onRun: (trigger, ok) =>
        runtime.metrics.nvidiaSmiRuns.inc({ trigger, result: ok ? "ok" : "error" }),
    });
    poller = smiPoller;
    let asked = false;
    scheduler.onEvent((e) => {
      if (e.type !== "released" || e.lease.state === "paused") return;
      if (!smiMeasured.has(e.lease.gpuId) || asked) return;
      // Core listeners must not call back into the core: start the run once the call is over.
      asked = true;
      setImmediate(() => {
        asked = false;
        smiPoller.poll();
      });
    });
  }

  const reflection = new ReflectionIndex(SERVICES);
  const health = new HealthState(reflection.serviceNames);
  const routes = (router: ConnectRouter) => {
    router.service(LeaseService, leaseService(runtime, config));
    router.service(EvictionService, evictionService(runtime, config));
    router.service(ClusterService, clusterService(runtime));
    router.service(GpuProfileService, profileService(catalog));
    router.service(Health, healthService(health));
    router.service(ReflectionV1, reflectionV1(reflection));
    router.service(ReflectionV1Alpha, reflectionV1Alpha(reflection));
  };

  const fallback: NonNullable<ConnectNodeAdapterOptions["fallback"]> = (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, type: string, body: string) => {
      (res as http.ServerResponse).writeHead(status, {
        "content-type": type,
        "cache-control": "no-store",
      });
      res.end(body);
    };
    if (req.method === "GET" || req.method === "HEAD") {
      if (path === "/healthz") {
        const serving = health.get("") === ServingStatus.SERVING;
        return send(
          serving ? 200 : 503,
          "text/plain; charset=utf-8",
          serving ? "ok\n" : "shutting down\n",
        );
      }
      if (path === "/metrics")
        return send(
          200,
          "text/plain; version=0.0.4; charset=utf-8",
          runtime.metrics.render(scheduler),
        );
      if (path === "/status.json")
        return send(200, "application/json", JSON.stringify(statusJson(runtime), null, 2));
    }
    send(
      404,
      "text/plain; charset=utf-8",
      "not found: cf-orch serves gRPC, gRPC-Web and Connect, /healthz and /metrics\n",
    );
  };

  const handler = createNodeHandler({
    routes,
    fallback,
    logger,
    readMaxBytes: config.maxMessageBytes,
    // Strict JSON: a misspelt field or an unknown enum name is INVALID_ARGUMENT, not ignored.
    jsonOptions: { ignoreUnknownFields: false },
    shutdownSignal: runtime.shutdown.signal,
    interceptors: [errorInterceptor(runtime)],
  });
  const transport = new TransportServer({
    handler,
    logger,
    pingIntervalMs: config.pingIntervalMs,
    pingTimeoutMs: config.pingTimeoutMs,
  });
  runtime.metrics.gauges.set("cforch_connections", {
    help: "Open TCP connections (HTTP/1.1 and HTTP/2).",
    value: () => transport.connectionCount,
  });
  runtime.metrics.gauges.set("cforch_http2_sessions", {
    help: "Open HTTP/2 sessions (pinged for dead-peer detection).",
    value: () => transport.sessionCount,
  });
  let bound: { port: number; host: string };
  try {
    bound = await transport.listen(config.port, config.host);
  } catch (err) {
    runtime.stop();
    store?.close();
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE")
      throw new ConfigError([`port: ${config.port} is already in use on ${config.host}`]);
    if (e.code === "EADDRNOTAVAIL" || e.code === "ENOTFOUND")
      throw new ConfigError([`host: cannot bind ${JSON.stringify(config.host)} (${e.code})`]);
    throw err;
  }
  runtime.arm();

  poller?.start();

  const hostForUrl = bound.host.includes(":") ? `[${bound.host}]` : bound.host;
  const url = `http://${hostForUrl}:${bound.port}`;
  logger.info(
    {
      url,
      host: bound.host,
      port: bound.port,
      gpus: catalog.all().map((g) => ({
        id: g.id,
        name: g.name || undefined,
        capacityMb: g.capacityMb,
        profile: g.profile?.name,
      })),
    },
    `cf-orch coordinator listening on ${url}`,
  );

  let closing: Promise<void> | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info("shutting down");
      poller?.stop();
      const stopAccepting = transport.stopAccepting();
      health.setAll(ServingStatus.NOT_SERVING);
      // Let health watchers and other streams flush what they already have.
      await new Promise((r) => setTimeout(r, Math.min(100, config.shutdownGraceMs)));
      runtime.shutdown.abort(
        unavailable("the coordinator is shutting down; retry with the same request_id"),
      );
      await transport.close(config.shutdownGraceMs);
      await stopAccepting;
      runtime.stop();
      if (store) {
        try {
          store.close();
        } catch (err) {
          logger.error({ err, store: store.file }, "closing the store failed");
        }
      }
      logger.info(failure ? "stopped after a store failure" : "stopped");
      resolveClosed();
    })();
    return closing;
  };
  closeFn = close;
  if (runtime.failed) void close();

  return {
    url,
    port: bound.port,
    host: bound.host,
    scheduler,
    runtime,
    config,
    logger,
    storeFile: store?.file,
    get failure() {
      return failure;
    },
    close,
    closed,
  };
}

/** The GetStatus snapshot in proto JSON, for /status.json (curl-friendly). */
function statusJson(rt: Runtime): unknown {
  return toJson(GetStatusResponseSchema, snapshot(rt));
}
