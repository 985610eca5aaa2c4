/**
 * The coordinator's configuration: every key, its type, bounds and default. One table drives
 * the YAML file (snake_case keys), the environment (CF_ORCH_<KEY>), the command-line flags
 * (--kebab-key) and the `--help` text, so the four never drift apart.
 */
import type { Logger } from "pino";
import type { Clock } from "../core/index.js";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
export const LOG_LEVELS: readonly LogLevel[] = [
  "fatal",
  "error",
  "warn",
  "info",
  "debug",
  "trace",
  "silent",
];

/** One statically configured GPU. Its id is "<node>/<index>". */
export interface GpuConfig {
  /** Default: the config's node_name. */
  node?: string;
  index: number;
  /** Model name, e.g. "NVIDIA GeForce RTX 4090"; used to look up its profile. */
  name?: string;
  uuid?: string;
  /** VRAM cf-orch may hand out, in MiB. */
  capacityMb: number;
  /** Physical memory when known (nvidia-smi memory.total), in MiB. */
  memoryTotalMb?: number;
}

export interface CoordinatorConfig {
  host: string;
  port: number;
  allowInsecureRemote: boolean;
  logLevel: LogLevel;
  pretty: boolean;
  /** Node name of GPUs found by nvidia-smi on this host (and the default node of `gpus`). */
  nodeName: string;
  gpus: GpuConfig[];
  /** "auto": run `nvidia-smi` from PATH when no GPU is configured; "off"; or a path. */
  nvidiaSmi: string;
  /**
   * Poll nvidia-smi for measured usage this often (0: never periodically). It also runs right
   * after memory is released on a GPU it measures (released memory waits for a measurement).
   */
  nvidiaSmiPollMs: number;
  defaultTtlMs: number;
  minTtlMs: number;
  maxTtlMs: number;
  checkpointDeadlineMs: number;
  /** Welcome.heartbeat_interval_ms; a session silent for 3 intervals is closed. */
  sessionHeartbeatMs: number;
  /** QUEUED heartbeat on a waiting Acquire stream. */
  queuedHeartbeatMs: number;
  /** At most one QUEUED update per this interval per stream (the latest view); 0: every change. */
  queuedMinIntervalMs: number;
  /** `renewed` heartbeat (and keep-alive) on a held Acquire stream (capped at ttl/3). */
  holdHeartbeatMs: number;
  /** HTTP/2 PING interval per connection (dead-peer detection); 0 disables. */
  pingIntervalMs: number;
  /** A PING unanswered this long closes the connection. */
  pingTimeoutMs: number;
  /** Largest accepted request message. */
  maxMessageBytes: number;
  /** On shutdown, how long open connections get to finish before they are cut. */
  shutdownGraceMs: number;
  /** Directory of the store (cf-orch.db); relative paths are from the working directory. */
  dataDir: string;
  /** Keep leases in the store across restarts (false, or data_dir ":memory:": in memory only). */
  persist: boolean;
  /**
   * "normal" (default): every commit is in the WAL before anyone hears of it, which survives a
   * crash of the coordinator; "full": also fsync at every commit, which survives power loss.
   */
  storeSync: "full" | "normal";
  /** At start, forget stored live leases on GPUs no longer configured instead of refusing. */
  dropMissingGpuLeases: boolean;
  /** Programmatic only: a pino logger to use instead of creating one. */
  logger?: Logger;
  /** Programmatic only: time source (tests). */
  clock?: Clock;
}

export type KeyType =
  | { kind: "int"; min: number; max: number; unit?: string }
  | { kind: "bool" }
  | { kind: "string"; pattern?: RegExp; expect?: string }
  | { kind: "enum"; values: readonly string[] };

export interface KeySpec {
  /** snake_case name (YAML); env is CF_ORCH_<UPPER>, flag is --<kebab>. */
  key: string;
  prop: Exclude<keyof CoordinatorConfig, "gpus" | "logger" | "clock">;
  type: KeyType;
  help: string;
}

const HOUR = 3_600_000;

export const SCALAR_KEYS: readonly KeySpec[] = [
  {
    key: "host",
    prop: "host",
    type: { kind: "string", pattern: /^[A-Za-z0-9.:_%[\]-]{1,255}$/, expect: "a host name or IP" },
    help: "address to bind (default 127.0.0.1)",
  },
  {
    key: "port",
    prop: "port",
    type: { kind: "int", min: 0, max: 65535 },
    help: "TCP port for gRPC, gRPC-Web, Connect, /healthz and /metrics (default 7700; 0 = any)",
  },
  {
    key: "allow_insecure_remote",
    prop: "allowInsecureRemote",
    type: { kind: "bool" },
    help: "allow binding beyond loopback without authentication (default false)",
  },
  {
    key: "log_level",
    prop: "logLevel",
    type: { kind: "enum", values: LOG_LEVELS },
    help: "fatal|error|warn|info|debug|trace|silent (default info)",
  },
  {
    key: "pretty",
    prop: "pretty",
    type: { kind: "bool" },
    help: "human-readable logs (default JSON)",
  },
  {
    key: "node_name",
    prop: "nodeName",
    type: {
      kind: "string",
      pattern: /^[A-Za-z0-9._-]{1,128}$/,
      expect: "1 to 128 of [A-Za-z0-9._-]",
    },
    help: 'node of nvidia-smi GPUs and default node of `gpus` entries (default "local")',
  },
  {
    key: "nvidia_smi",
    prop: "nvidiaSmi",
    type: { kind: "string", pattern: /^.{1,4096}$/, expect: '"auto", "off" or a path' },
    help: 'nvidia-smi to query for GPUs: "auto" (from PATH when no GPU is configured), "off", or a path',
  },
  {
    key: "nvidia_smi_poll_ms",
    prop: "nvidiaSmiPollMs",
    type: { kind: "int", min: 0, max: HOUR, unit: "ms" },
    help: "poll nvidia-smi for measured usage this often (default 5000; 0 = only right after a release on a GPU it measures)",
  },
  {
    key: "default_ttl_ms",
    prop: "defaultTtlMs",
    type: { kind: "int", min: 100, max: 24 * HOUR, unit: "ms" },
    help: "lease TTL when a request gives none (default 30000)",
  },
  {
    key: "min_ttl_ms",
    prop: "minTtlMs",
    type: { kind: "int", min: 100, max: 24 * HOUR, unit: "ms" },
    help: "smallest TTL a request may ask for (default 1000)",
  },
  {
    key: "max_ttl_ms",
    prop: "maxTtlMs",
    type: { kind: "int", min: 100, max: 24 * HOUR, unit: "ms" },
    help: "largest TTL a request may ask for (default 3600000)",
  },
  {
    key: "checkpoint_deadline_ms",
    prop: "checkpointDeadlineMs",
    type: { kind: "int", min: 100, max: HOUR, unit: "ms" },
    help: "time an eviction victim gets to checkpoint (default 30000)",
  },
  {
    key: "session_heartbeat_ms",
    prop: "sessionHeartbeatMs",
    type: { kind: "int", min: 50, max: 10 * 60_000, unit: "ms" },
    help: "eviction session heartbeat; silent for 3 intervals = dead (default 5000)",
  },
  {
    key: "queued_heartbeat_ms",
    prop: "queuedHeartbeatMs",
    type: { kind: "int", min: 50, max: 10 * 60_000, unit: "ms" },
    help: "QUEUED heartbeat on waiting Acquire streams (default 10000)",
  },
  {
    key: "queued_min_interval_ms",
    prop: "queuedMinIntervalMs",
    type: { kind: "int", min: 0, max: 60_000, unit: "ms" },
    help: "coalesce QUEUED updates to at most one per stream per interval x max(1, position/8) (default 100; 0 = every change)",
  },
  {
    key: "hold_heartbeat_ms",
    prop: "holdHeartbeatMs",
    type: { kind: "int", min: 50, max: 10 * 60_000, unit: "ms" },
    help: "renewal heartbeat on held Acquire streams, capped at ttl/3 (default 5000)",
  },
  {
    key: "ping_interval_ms",
    prop: "pingIntervalMs",
    type: { kind: "int", min: 0, max: 10 * 60_000, unit: "ms" },
    help: "HTTP/2 PING interval for dead-peer detection (default 10000; 0 = off)",
  },
  {
    key: "ping_timeout_ms",
    prop: "pingTimeoutMs",
    type: { kind: "int", min: 10, max: 10 * 60_000, unit: "ms" },
    help: "close a connection whose PING is unanswered this long (default 5000)",
  },
  {
    key: "max_message_bytes",
    prop: "maxMessageBytes",
    type: { kind: "int", min: 1024, max: 64 * 1024 * 1024, unit: "bytes" },
    help: "largest accepted request message (default 1048576)",
  },
  {
    key: "shutdown_grace_ms",
    prop: "shutdownGraceMs",
    type: { kind: "int", min: 0, max: 10 * 60_000, unit: "ms" },
    help: "on shutdown, time open connections get before they are cut (default 2000)",
  },
  {
    key: "data_dir",
    prop: "dataDir",
    type: { kind: "string", pattern: /^.{1,4096}$/, expect: 'a directory path or ":memory:"' },
    help: 'directory of the lease store cf-orch.db, relative to the working directory (default .data; ":memory:" = not persisted)',
  },
  {
    key: "persist",
    prop: "persist",
    type: { kind: "bool" },
    help: "keep leases in the store across restarts (default true; false = in memory only)",
  },
  {
    key: "store_sync",
    prop: "storeSync",
    type: { kind: "enum", values: ["full", "normal"] },
    help: "normal: commits survive a coordinator crash (default); full: fsync every commit, survives power loss too",
  },
  {
    key: "drop_missing_gpu_leases",
    prop: "dropMissingGpuLeases",
    type: { kind: "bool" },
    help: "at start, forget stored leases on GPUs no longer configured instead of refusing to start (default false)",
  },
];

export const DEFAULTS: Omit<CoordinatorConfig, "logger" | "clock"> = {
  host: "127.0.0.1",
  port: 7700,
  allowInsecureRemote: false,
  logLevel: "info",
  pretty: false,
  nodeName: "local",
  gpus: [],
  nvidiaSmi: "auto",
  nvidiaSmiPollMs: 5000,
  defaultTtlMs: 30_000,
  minTtlMs: 1_000,
  maxTtlMs: 3_600_000,
  checkpointDeadlineMs: 30_000,
  sessionHeartbeatMs: 5_000,
  queuedHeartbeatMs: 10_000,
  queuedMinIntervalMs: 100,
  holdHeartbeatMs: 5_000,
  pingIntervalMs: 10_000,
  pingTimeoutMs: 5_000,
  maxMessageBytes: 1024 * 1024,
  shutdownGraceMs: 2_000,
  dataDir: ".data",
  persist: true,
  storeSync: "normal",
  dropMissingGpuLeases: false,
};

export const envName = (key: string): string => `CF_ORCH_${key.toUpperCase()}`;
export const flagName = (key: string): string => `--${key.replace(/_/g, "-")}`;
