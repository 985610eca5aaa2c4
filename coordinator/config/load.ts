/**
 * Loading and validating the configuration: defaults < YAML file < environment < flags <
 * programmatic overrides. Every problem is reported with the key as the user wrote it and the
 * expected form, e.g. `gpus[1].capacity_mb: expected a positive integer (MiB), got "abc"`.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import YAML from "yaml";
import {
  DEFAULTS,
  SCALAR_KEYS,
  envName,
  flagName,
  type CoordinatorConfig,
  type GpuConfig,
  type KeySpec,
} from "./schema.js";

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1 ? problems[0] : `invalid configuration:\n  ${problems.join("\n  ")}`,
    );
    this.name = "ConfigError";
  }
}

export type PartialConfig = Partial<CoordinatorConfig>;

const show = (v: unknown): string => {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
};

function expectText(spec: KeySpec): string {
  const t = spec.type;
  switch (t.kind) {
    case "int": {
      const unit = t.unit ? ` (${t.unit})` : "";
      if (t.min === 0 && t.max >= 2 ** 31) return `a non-negative integer${unit}`;
      return `an integer from ${t.min} to ${t.max}${unit}`;
    }
    case "bool":
      return "true or false";
    case "string":
      return t.expect ?? "a string";
    case "enum":
      return `one of ${t.values.join(", ")}`;
  }
}

/** Parses one scalar. `fromText`: env/flag strings, where "42" and "true" are accepted. */
export function parseScalar(
  spec: KeySpec,
  raw: unknown,
  label: string,
  problems: string[],
): unknown {
  const t = spec.type;
  const fail = () => {
    problems.push(`${label}: expected ${expectText(spec)}, got ${show(raw)}`);
    return undefined;
  };
  switch (t.kind) {
    case "int": {
      let n: number;
      if (typeof raw === "number") n = raw;
      else if (typeof raw === "string" && /^\s*-?\d+\s*$/.test(raw)) n = Number(raw);
      else return fail();
      if (!Number.isSafeInteger(n) || n < t.min || n > t.max) return fail();
      return n;
    }
    case "bool": {
      if (typeof raw === "boolean") return raw;
      if (typeof raw === "string") {
        const s = raw.trim().toLowerCase();
        if (["true", "1", "yes", "on"].includes(s)) return true;
        if (["false", "0", "no", "off", ""].includes(s)) return false;
      }
      return fail();
    }
    case "string": {
      if (typeof raw !== "string" || (t.pattern && !t.pattern.test(raw))) return fail();
      return raw;
    }
    case "enum": {
      if (typeof raw !== "string" || !t.values.includes(raw)) return fail();
      return raw;
    }
  }
}

const GPU_KEYS = ["node", "index", "name", "uuid", "capacity_mb", "capacity_gb", "memory_total_mb"];
const NODE_RE = /^[A-Za-z0-9._-]{1,128}$/;
const MAX_MB = 16_777_216;

function nearest(word: string, candidates: readonly string[]): string | undefined {
  const dist = (a: string, b: string): number => {
    const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
      Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
    );
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        d[i]![j] = Math.min(
          d[i - 1]![j]! + 1,
          d[i]![j - 1]! + 1,
          d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
        );
    return d[a.length]![b.length]!;
  };
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = dist(word, c);
    if (dd < bestD) {
      best = c;
      bestD = dd;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function unknownKey(label: string, key: string, known: readonly string[]): string {
  const hint = nearest(key, known);
  return `${label}: unknown key${hint ? ` (did you mean "${hint}"?)` : `; known keys: ${known.join(", ")}`}`;
}

/** Parses the `gpus` list (from YAML, or programmatic objects with camelCase keys). */
export function parseGpus(
  raw: unknown,
  label: string,
  problems: string[],
): GpuConfig[] | undefined {
  if (!Array.isArray(raw)) {
    problems.push(`${label}: expected a list of GPUs, got ${show(raw)}`);
    return undefined;
  }
  const out: GpuConfig[] = [];
  raw.forEach((item: unknown, i) => {
    const at = `${label}[${i}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      problems.push(`${at}: expected a mapping with index and capacity_mb, got ${show(item)}`);
      return;
    }
    // Accept both snake_case (YAML) and camelCase (programmatic) spellings.
    const g: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(item as Record<string, unknown>)) {
      const snake = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      if (!GPU_KEYS.includes(snake)) problems.push(unknownKey(`${at}.${k}`, snake, GPU_KEYS));
      else g[snake] = v;
    }
    const before = problems.length;
    const gpu: Partial<GpuConfig> = {};
    if (g.node !== undefined) {
      if (typeof g.node !== "string" || !NODE_RE.test(g.node))
        problems.push(`${at}.node: expected 1 to 128 of [A-Za-z0-9._-], got ${show(g.node)}`);
      else gpu.node = g.node;
    }
    const idx = g.index;
    if (idx === undefined) problems.push(`${at}.index: required (the device index, e.g. 0)`);
    else if (typeof idx !== "number" || !Number.isInteger(idx) || idx < 0 || idx > 1023)
      problems.push(`${at}.index: expected an integer from 0 to 1023, got ${show(idx)}`);
    else gpu.index = idx;
    if (g.name !== undefined) {
      if (typeof g.name !== "string" || g.name.length === 0 || g.name.length > 128)
        problems.push(
          `${at}.name: expected a GPU model name (1 to 128 characters), got ${show(g.name)}`,
        );
      else gpu.name = g.name;
    }
    if (g.uuid !== undefined) {
      if (typeof g.uuid !== "string" || !/^[\x21-\x7e]{1,128}$/.test(g.uuid))
        problems.push(`${at}.uuid: expected 1 to 128 printable characters, got ${show(g.uuid)}`);
      else gpu.uuid = g.uuid;
    }
    const posInt = (v: unknown): v is number =>
      typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= MAX_MB;
    if (g.memory_total_mb !== undefined) {
      if (!posInt(g.memory_total_mb))
        problems.push(
          `${at}.memory_total_mb: expected a positive integer (MiB) up to ${MAX_MB}, got ${show(g.memory_total_mb)}`,
        );
      else gpu.memoryTotalMb = g.memory_total_mb;
    }
    if (g.capacity_mb !== undefined && g.capacity_gb !== undefined) {
      problems.push(`${at}: give capacity_mb or capacity_gb, not both`);
    } else if (g.capacity_mb !== undefined) {
      if (!posInt(g.capacity_mb))
        problems.push(
          `${at}.capacity_mb: expected a positive integer (MiB) up to ${MAX_MB}, got ${show(g.capacity_mb)}`,
        );
      else gpu.capacityMb = g.capacity_mb;
    } else if (g.capacity_gb !== undefined) {
      const gb = g.capacity_gb;
      if (typeof gb !== "number" || !Number.isFinite(gb) || gb <= 0 || gb * 1024 > MAX_MB)
        problems.push(`${at}.capacity_gb: expected a positive number (GiB), got ${show(gb)}`);
      else gpu.capacityMb = Math.ceil(gb * 1024);
    } else if (gpu.memoryTotalMb !== undefined) {
      gpu.capacityMb = gpu.memoryTotalMb;
    } else {
      problems.push(`${at}.capacity_mb: required (VRAM to hand out, in MiB, e.g. 24576)`);
    }
    if (problems.length === before) out.push(gpu as GpuConfig);
  });
  return out;
}

/** Reads and parses a YAML config file. */
export function loadConfigFile(path: string): PartialConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError([`config file ${path}: cannot read it (${(err as Error).message})`]);
  }
  return parseConfigText(text, path);
}

export function parseConfigText(text: string, source = "config"): PartialConfig {
  let doc: unknown;
  try {
    doc = YAML.parse(text, { prettyErrors: true });
  } catch (err) {
    throw new ConfigError([`${source}: not valid YAML: ${(err as Error).message}`]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new ConfigError([
      `${source}: expected a mapping of keys (host, port, gpus, ...) at the top`,
    ]);
  return fromObject(doc as Record<string, unknown>, (k) => k);
}

const KNOWN_FILE_KEYS = [...SCALAR_KEYS.map((s) => s.key), "gpus"];

function fromObject(obj: Record<string, unknown>, label: (key: string) => string): PartialConfig {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (key === "gpus") {
      const gpus = parseGpus(value, label("gpus"), problems);
      if (gpus) out.gpus = gpus;
      continue;
    }
    const spec = SCALAR_KEYS.find((s) => s.key === key);
    if (!spec) {
      problems.push(unknownKey(label(key), key, KNOWN_FILE_KEYS));
      continue;
    }
    if (spec.key === "nvidia_smi" && value === false) {
      out[spec.prop] = "off";
      continue;
    }
    const v = parseScalar(spec, value, label(key), problems);
    if (v !== undefined) out[spec.prop] = v;
  }
  if (problems.length) throw new ConfigError(problems);
  return out as PartialConfig;
}

/** CF_ORCH_<KEY> variables. Unknown CF_ORCH_* names are ignored (clients share the prefix). */
export function configFromEnv(env: NodeJS.ProcessEnv): PartialConfig {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const spec of SCALAR_KEYS) {
    const name = envName(spec.key);
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    const v = parseScalar(spec, raw, name, problems);
    if (v !== undefined) out[spec.prop] = v;
  }
  if (problems.length) throw new ConfigError(problems);
  return out as PartialConfig;
}

export interface ParsedFlags {
  config: PartialConfig;
  configPath?: string;
  help: boolean;
}

/** Parses `--key value`, `--key=value`, `--flag` / `--no-flag` for booleans, `--config F`. */
export function parseFlags(argv: readonly string[]): ParsedFlags {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  let configPath: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      problems.push(
        `unexpected argument ${JSON.stringify(arg)} (options start with --; see --help)`,
      );
      continue;
    }
    const eq = arg.indexOf("=");
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let inline: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const takeValue = (): string | undefined => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) {
        problems.push(`--${name}: expects a value`);
        return undefined;
      }
      i++;
      return next;
    };
    if (name === "config") {
      const v = takeValue();
      if (v !== undefined) configPath = v;
      continue;
    }
    let negated = false;
    if (name.startsWith("no-") && inline === undefined) {
      negated = true;
      name = name.slice(3);
    }
    const key = name.replace(/-/g, "_");
    const spec = SCALAR_KEYS.find((s) => s.key === key);
    if (!spec) {
      const hint = nearest(
        key,
        SCALAR_KEYS.map((s) => s.key),
      );
      problems.push(
        `--${name}: unknown option${hint ? ` (did you mean ${flagName(hint)}?)` : "; see --help"}`,
      );
      continue;
    }
    if (spec.type.kind === "bool") {
      const raw = negated ? "false" : (inline ?? "true");
      const v = parseScalar(spec, raw, flagName(spec.key), problems);
      if (v !== undefined) out[spec.prop] = v;
      continue;
    }
    if (negated) {
      problems.push(`--no-${name}: only boolean options can be negated`);
      continue;
    }
    const raw = takeValue();
    if (raw === undefined) continue;
    const v = parseScalar(spec, raw, flagName(spec.key), problems);
    if (v !== undefined) out[spec.prop] = v;
    inline = undefined;
  }
  if (problems.length) throw new ConfigError(problems);
  const result: ParsedFlags = { config: out as PartialConfig, help };
  if (configPath !== undefined) result.configPath = configPath;
  return result;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (h.startsWith("::ffff:")) return h.slice(7).startsWith("127.");
  return false;
}

/**
 * Merges layers over the defaults and checks the whole: the values programmatic callers pass
 * get the same checks as file/env/flag values, then the cross-key rules.
 */
export function resolveConfig(...layers: PartialConfig[]): CoordinatorConfig {
  const merged: CoordinatorConfig = { ...DEFAULTS, gpus: [...DEFAULTS.gpus] };
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v !== undefined) (merged as unknown as Record<string, unknown>)[k] = v;
    }
  }
  const problems: string[] = [];
  for (const spec of SCALAR_KEYS) {
    const v = merged[spec.prop];
    parseScalar(spec, v, spec.key, problems);
  }
  const gpus = parseGpus(merged.gpus, "gpus", problems);
  if (gpus) {
    merged.gpus = gpus;
    const seen = new Map<string, number>();
    gpus.forEach((g, i) => {
      const id = `${g.node ?? merged.nodeName}/${g.index}`;
      const prev = seen.get(id);
      if (prev !== undefined) problems.push(`gpus[${i}]: duplicate GPU ${id} (also gpus[${prev}])`);
      seen.set(id, i);
    });
  }
  if (problems.length === 0) {
    if (merged.minTtlMs > merged.maxTtlMs)
      problems.push(
        `min_ttl_ms: must not exceed max_ttl_ms (${merged.minTtlMs} > ${merged.maxTtlMs})`,
      );
    if (merged.defaultTtlMs < merged.minTtlMs || merged.defaultTtlMs > merged.maxTtlMs)
      problems.push(
        `default_ttl_ms: expected a value between min_ttl_ms (${merged.minTtlMs}) and max_ttl_ms (${merged.maxTtlMs}), got ${merged.defaultTtlMs}`,
      );
    if (!merged.allowInsecureRemote && !isLoopbackHost(merged.host))
      problems.push(
        `host: ${JSON.stringify(merged.host)} is reachable beyond this machine and cf-orch has no authentication yet; ` +
          `bind 127.0.0.1, or set allow_insecure_remote: true (CF_ORCH_ALLOW_INSECURE_REMOTE=1, --allow-insecure-remote) on a trusted network`,
      );
  }
  if (problems.length) throw new ConfigError(problems);
  return merged;
}

/** The CLI's view: file (from --config or CF_ORCH_CONFIG) < env < flags. */
export function loadCliConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): { config: CoordinatorConfig; help: boolean; configPath?: string } {
  const flags = parseFlags(argv);
  if (flags.help) return { config: { ...DEFAULTS }, help: true };
  const configPath = flags.configPath ?? (env.CF_ORCH_CONFIG || undefined);
  const file = configPath ? loadConfigFile(configPath) : {};
  const config = resolveConfig(file, configFromEnv(env), flags.config);
  const result: { config: CoordinatorConfig; help: boolean; configPath?: string } = {
    config,
    help: false,
  };
  if (configPath) result.configPath = configPath;
  return result;
}

export function configHelp(): string {
  const lines: string[] = [];
  for (const spec of SCALAR_KEYS) {
    const flag = spec.type.kind === "bool" ? flagName(spec.key) : `${flagName(spec.key)} <v>`;
    lines.push(`  ${flag.padEnd(30)} ${spec.help}`);
    lines.push(`  ${"".padEnd(30)} (file: ${spec.key}, env: ${envName(spec.key)})`);
  }
  return lines.join("\n");
}
