/**
 * Input validation at the core's boundary. Every check runs before any state changes, and every
 * failure names the offending field in proto spelling, so a bad request is rejected precisely and
 * harmlessly (PRODUCT.md §8). The checks do not trust TypeScript types: the server hands over
 * whatever arrived on the wire.
 */
import { CoreError } from "./errors.js";
import {
  PRECISIONS,
  type AcquireInput,
  type GpuSpec,
  type Precision,
  type Priority,
  type SlotSpec,
} from "./types.js";

export interface Limits {
  minTtlMs: number;
  maxTtlMs: number;
  defaultTtlMs: number;
  maxVramMb: number;
}

/** Printable ASCII without spaces: request, holder and lease ids travel in logs and headers. */
const ID_RE = /^[\x21-\x7e]{1,128}$/;
const SERVICE_RE = /^[A-Za-z0-9._-]{1,64}$/;
const TASK_TYPE_RE = /^[A-Za-z0-9._:/-]{0,64}$/;
const NAME_RE = /^[\x20-\x7e]{1,128}$/;

const invalid = (field: string, message: string): CoreError =>
  new CoreError("invalid-argument", message, field);

export function checkId(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0)
    throw invalid(field, `${field} must be a non-empty string`);
  if (!ID_RE.test(value))
    throw invalid(field, `${field} must be 1..128 printable ASCII characters without spaces`);
  return value;
}

export function checkVram(value: unknown, field: string, maxVramMb: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0)
    throw invalid(field, `${field} must be a positive integer number of MiB, got ${String(value)}`);
  if (value > maxVramMb)
    throw invalid(field, `${field} must be at most ${maxVramMb} MiB, got ${value}`);
  return value;
}

export function checkPriority(value: unknown, field = "slot.priority"): Priority {
  if (value === 1 || value === 2 || value === 3 || value === 4 || value === 5) return value;
  throw invalid(field, `${field} must be one of 1 (batch) .. 5 (critical), got ${String(value)}`);
}

function checkPrecisions(value: unknown, field: string): readonly Precision[] {
  if (!Array.isArray(value)) throw invalid(field, `${field} must be a list of precisions`);
  for (const p of value as unknown[]) {
    if (typeof p !== "string" || !(PRECISIONS as readonly string[]).includes(p))
      throw invalid(field, `${field}: unknown precision ${JSON.stringify(p)}`);
  }
  return Object.freeze([...new Set(value as Precision[])]);
}

function optionalName(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string" || !NAME_RE.test(value))
    throw invalid(field, `${field} must be 1..128 printable characters`);
  return value;
}

/** Returns a frozen, normalised copy; callers never see our internal objects and vice versa. */
export function checkSlot(slot: unknown, maxVramMb: number): SlotSpec {
  if (typeof slot !== "object" || slot === null) throw invalid("slot", "slot is required");
  const s = slot as Record<string, unknown>;
  if (typeof s.service !== "string" || !SERVICE_RE.test(s.service))
    throw invalid("slot.service", "slot.service must be 1..64 characters of [A-Za-z0-9._-]");
  const taskType = s.taskType ?? "";
  if (typeof taskType !== "string" || !TASK_TYPE_RE.test(taskType))
    throw invalid("slot.task_type", "slot.task_type must be 0..64 characters of [A-Za-z0-9._:/-]");
  const vramMb = checkVram(s.vramMb, "slot.vram_mb", maxVramMb);
  const priority = checkPriority(s.priority);
  const out: SlotSpec = { service: s.service, taskType, vramMb, priority };
  const gpuId = optionalName(s.gpuId, "slot.gpu_id");
  if (gpuId !== undefined) out.gpuId = gpuId;
  const node = optionalName(s.node, "slot.node");
  if (node !== undefined) out.node = node;
  if (s.requires !== undefined && s.requires !== null) {
    const req = checkPrecisions(s.requires, "slot.requires");
    if (req.length > 0) out.requires = req;
  }
  return Object.freeze(out);
}

export function checkTtl(value: unknown, limits: Limits): number {
  if (value === undefined || value === 0) return limits.defaultTtlMs;
  if (typeof value !== "number" || !Number.isInteger(value))
    throw invalid("ttl_ms", `ttl_ms must be an integer number of ms, got ${String(value)}`);
  if (value < limits.minTtlMs || value > limits.maxTtlMs)
    throw invalid(
      "ttl_ms",
      `ttl_ms must be between ${limits.minTtlMs} and ${limits.maxTtlMs}, got ${value}`,
    );
  return value;
}

export interface ValidAcquire {
  requestId: string;
  holderId: string;
  slot: SlotSpec;
  ttlMs: number;
}

export function checkAcquire(input: unknown, limits: Limits): ValidAcquire {
  if (typeof input !== "object" || input === null)
    throw invalid("request_id", "acquire needs a request");
  const i = input as Partial<AcquireInput>;
  return {
    requestId: checkId(i.requestId, "request_id"),
    holderId: checkId(i.holderId, "holder_id"),
    slot: checkSlot(i.slot, limits.maxVramMb),
    ttlMs: checkTtl(i.ttlMs, limits),
  };
}

export function checkGpuSpec(spec: unknown, maxVramMb: number): GpuSpec {
  if (typeof spec !== "object" || spec === null) throw invalid("gpu", "gpu spec is required");
  const g = spec as Record<string, unknown>;
  if (typeof g.id !== "string" || !NAME_RE.test(g.id))
    throw invalid("gpu.id", "gpu.id must be 1..128 printable characters");
  if (typeof g.node !== "string" || !NAME_RE.test(g.node))
    throw invalid("gpu.node", "gpu.node must be 1..128 printable characters");
  const out: GpuSpec = {
    id: g.id,
    node: g.node,
    capacityMb: checkVram(g.capacityMb, "gpu.capacity_mb", maxVramMb),
  };
  if (g.index !== undefined) {
    if (typeof g.index !== "number" || !Number.isInteger(g.index) || g.index < 0)
      throw invalid("gpu.index", "gpu.index must be a non-negative integer");
    out.index = g.index;
  }
  if (g.name !== undefined) {
    if (typeof g.name !== "string") throw invalid("gpu.name", "gpu.name must be a string");
    out.name = g.name;
  }
  if (g.capabilities !== undefined)
    out.capabilities = checkPrecisions(g.capabilities, "gpu.capabilities");
  return Object.freeze(out);
}

export function checkMeasured(value: unknown, maxVramMb: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > maxVramMb)
    throw invalid("used_mb", `used_mb must be an integer in 0..${maxVramMb}, got ${String(value)}`);
  return value;
}

export function checkWorkLost(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
    throw invalid("work_lost_ms", "work_lost_ms must be a non-negative number");
  return value;
}
