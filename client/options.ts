/**
 * ResourceCoordinator options: defaults, environment (CF_ORCH_URL, CF_ORCH_TOKEN) and checks.
 * Options given in code win over the environment, which wins over the defaults.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Transport } from "@connectrpc/connect";
import { pino, type Logger } from "pino";
import type { BackoffOptions } from "./backoff.js";
import { InvalidOptionError } from "./errors.js";

export const DEFAULT_URL = "http://127.0.0.1:7700";
/** The coordinator's default lease TTL (AcquireRequest.ttl_ms = 0). */
export const DEFAULT_TTL_MS = 30_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
export const DEFAULT_PROBE: BackoffOptions = { initialMs: 1_000, maxMs: 30_000 };
export const DEFAULT_RETRY: BackoffOptions = { initialMs: 100, maxMs: 2_000 };
export const DEFAULT_REGISTER_TIMEOUT_MS = 5_000;
export const DEFAULT_PING_INTERVAL_MS = 15_000;

export interface ResourceCoordinatorOptions {
  /** Coordinator URL; default CF_ORCH_URL, then http://127.0.0.1:7700. */
  url?: string;
  /** This product's name (used for the holder id and logs). */
  service: string;
  /** Bearer token; default CF_ORCH_TOKEN. */
  token?: string;
  /** pino logger; default a pino logger named "cf-orch" at CF_ORCH_LOG_LEVEL or "info". */
  logger?: Logger;
  /** When the coordinator is unreachable: run leases locally ("local", default) or throw ("error"). */
  fallback?: "local" | "error";
  /** Identity of this process for the coordinator; default "<service>.<host>.<pid>.<random>". */
  holderId?: string;
  /** Lease TTL requested by default; default the coordinator's (30 s). */
  ttlMs?: number;
  /** A ready Connect transport (tests, custom TLS); its lifetime is the caller's. */
  transport?: Transport;
  /** Give up opening a connection after this long; default 3000 ms. */
  connectTimeoutMs?: number;
  /** Back-off of the reachability probe in local mode; default 1000 ms → 30000 ms. */
  probe?: Partial<BackoffOptions>;
  /** Back-off of Acquire and session retries; default 100 ms → 2000 ms. */
  retry?: Partial<BackoffOptions>;
  /** How long an interrupted Acquire keeps retrying before the coordinator counts as unreachable; default 30000 ms. */
  reconnectWindowMs?: number;
  /** How long to wait for the coordinator to accept an evictable lease; default 5000 ms. */
  registerTimeoutMs?: number;
}

export interface ResolvedOptions {
  readonly url: string;
  readonly service: string;
  readonly token: string | undefined;
  readonly logger: Logger;
  readonly fallback: "local" | "error";
  readonly holderId: string;
  readonly ttlMs: number;
  readonly transport: Transport | undefined;
  readonly connectTimeoutMs: number;
  readonly probe: BackoffOptions;
  readonly retry: BackoffOptions;
  readonly reconnectWindowMs: number;
  readonly registerTimeoutMs: number;
}

const SERVICE_RE = /^[A-Za-z0-9._-]{1,64}$/;
const HOLDER_RE = /^[A-Za-z0-9._:-]{1,128}$/;

function positive(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(
      field,
      `must be a positive number of milliseconds (got ${String(value)})`,
    );
  }
  return value;
}

function backoff(
  field: string,
  given: Partial<BackoffOptions> | undefined,
  base: BackoffOptions,
): BackoffOptions {
  const initialMs = positive(`${field}.initialMs`, given?.initialMs, base.initialMs);
  const maxMs = positive(`${field}.maxMs`, given?.maxMs, Math.max(base.maxMs, initialMs));
  if (maxMs < initialMs)
    throw new InvalidOptionError(`${field}.maxMs`, "must be at least initialMs");
  return { initialMs, maxMs };
}

export function defaultHolderId(service: string): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, "-")
      .slice(0, 40) || "host";
  return `${service}.${host}.${process.pid}.${randomUUID().slice(0, 8)}`;
}

export function resolveOptions(
  options: ResourceCoordinatorOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  if (options === null || typeof options !== "object") {
    throw new InvalidOptionError("options", "must be an object");
  }
  if (typeof options.service !== "string" || !SERVICE_RE.test(options.service)) {
    throw new InvalidOptionError("service", "must be 1 to 64 characters from [A-Za-z0-9._-]");
  }
  const url = options.url ?? (env.CF_ORCH_URL || DEFAULT_URL);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidOptionError("url", `not a URL: ${url}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new InvalidOptionError("url", `must be http:// or https:// (got ${url})`);
  }
  const fallback = options.fallback ?? "local";
  if (fallback !== "local" && fallback !== "error") {
    throw new InvalidOptionError("fallback", `must be "local" or "error"`);
  }
  const holderId = options.holderId ?? defaultHolderId(options.service);
  if (!HOLDER_RE.test(holderId)) {
    throw new InvalidOptionError("holderId", "must be 1 to 128 characters from [A-Za-z0-9._:-]");
  }
  const ttlMs = options.ttlMs === undefined ? 0 : positive("ttlMs", options.ttlMs, 0);
  if (!Number.isInteger(ttlMs) || ttlMs > 3_600_000) {
    throw new InvalidOptionError("ttlMs", "must be a whole number of milliseconds up to 3600000");
  }
  return {
    url: url.replace(/\/+$/, ""),
    service: options.service,
    token: options.token ?? (env.CF_ORCH_TOKEN || undefined),
    logger: options.logger ?? pino({ name: "cf-orch", level: env.CF_ORCH_LOG_LEVEL || "info" }),
    fallback,
    holderId,
    ttlMs,
    transport: options.transport,
    connectTimeoutMs: positive(
      "connectTimeoutMs",
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
    ),
    probe: backoff("probe", options.probe, DEFAULT_PROBE),
    retry: backoff("retry", options.retry, DEFAULT_RETRY),
    reconnectWindowMs: positive("reconnectWindowMs", options.reconnectWindowMs, DEFAULT_TTL_MS),
    registerTimeoutMs: positive(
      "registerTimeoutMs",
      options.registerTimeoutMs,
      DEFAULT_REGISTER_TIMEOUT_MS,
    ),
  };
}
