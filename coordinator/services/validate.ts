/**
 * Validation at the handler boundary, per the rules written in proto/cforch/v1/*.proto. Every
 * check runs before the core is touched, so an invalid request changes nothing, and every
 * error names the field in proto spelling and the rule it breaks:
 * `slot.vram_mb: must be between 1 and 16777216 MiB, got 0`.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { CoreError, type Precision, type Priority, type SlotSpec } from "../core/index.js";
import type { Slot } from "../../gen/ts/cforch/v1/common_pb.js";
import { PB_TO_PRECISION } from "./convert.js";

export const MAX_VRAM_MB = 16_777_216;
export const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
export const SERVICE_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const TASK_TYPE_RE = /^[A-Za-z0-9._:-]{0,64}$/;
export const NODE_RE = /^[A-Za-z0-9._-]{1,128}$/;
/** Lease ids, GPU ids: printable ASCII without spaces. */
export const OPAQUE_RE = /^[\x21-\x7e]{1,128}$/;

export function invalid(field: string, rule: string): ConnectError {
  return new ConnectError(`${field}: ${rule}`, Code.InvalidArgument);
}

const shown = (s: string): string => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);

export function checkIdField(value: string, field: string): string {
  if (value.length === 0) throw invalid(field, "required");
  if (!ID_RE.test(value))
    throw invalid(field, `must be 1 to 128 characters from [A-Za-z0-9._:-], got ${shown(value)}`);
  return value;
}

export function checkLeaseId(value: string, field = "lease_id"): string {
  if (value.length === 0) throw invalid(field, "required");
  if (!OPAQUE_RE.test(value))
    throw invalid(
      field,
      `must be 1 to 128 printable characters without spaces, got ${shown(value)}`,
    );
  return value;
}

export function checkVramMb(value: bigint, field: string): number {
  if (value < 1n || value > BigInt(MAX_VRAM_MB))
    throw invalid(field, `must be between 1 and ${MAX_VRAM_MB} MiB, got ${value}`);
  return Number(value);
}

export function checkPriority(value: number, field = "slot.priority"): Priority {
  if (value === 0) return 3;
  if (value >= 1 && value <= 5 && Number.isInteger(value)) return value as Priority;
  throw invalid(field, `must be a PriorityClass (1 batch … 5 critical, 0 = normal), got ${value}`);
}

export interface SlotLookup {
  /** Maps a GPU id or UUID to the GPU id; undefined when unknown. */
  resolveGpu(idOrUuid: string): string | undefined;
  hasNode(node: string): boolean;
}

/**
 * Checks a Slot and converts it to the core's SlotSpec. Unknown GPU / node constraints are
 * NOT_FOUND (the proto's contract), checked here so the core never sees them.
 */
export function checkSlot(slot: Slot | undefined, lookup: SlotLookup, field = "slot"): SlotSpec {
  if (!slot) throw invalid(field, "required");
  if (slot.service.length === 0)
    throw invalid(`${field}.service`, "required (1 to 64 characters from [A-Za-z0-9._-])");
  if (!SERVICE_RE.test(slot.service))
    throw invalid(
      `${field}.service`,
      `must be 1 to 64 characters from [A-Za-z0-9._-], got ${shown(slot.service)}`,
    );
  if (!TASK_TYPE_RE.test(slot.taskType))
    throw invalid(
      `${field}.task_type`,
      `must be at most 64 characters from [A-Za-z0-9._:-], got ${shown(slot.taskType)}`,
    );
  const vramMb = checkVramMb(slot.vramMb, `${field}.vram_mb`);
  const priority = checkPriority(slot.priority, `${field}.priority`);
  const spec: SlotSpec = { service: slot.service, taskType: slot.taskType, vramMb, priority };
  const c = slot.constraints;
  if (c) {
    if (c.gpuId !== "") {
      if (!OPAQUE_RE.test(c.gpuId))
        throw invalid(
          `${field}.constraints.gpu_id`,
          `must be at most 128 printable characters without spaces, got ${shown(c.gpuId)}`,
        );
    }
    if (c.node !== "") {
      if (!NODE_RE.test(c.node))
        throw invalid(
          `${field}.constraints.node`,
          `must be at most 128 characters from [A-Za-z0-9._-], got ${shown(c.node)}`,
        );
    }
    if (c.requires.length > 5)
      throw invalid(`${field}.constraints.requires`, `at most 5 entries, got ${c.requires.length}`);
    const requires: Precision[] = [];
    c.requires.forEach((p, i) => {
      const name = PB_TO_PRECISION[p];
      if (name === undefined)
        throw invalid(
          `${field}.constraints.requires[${i}]`,
          p === 0 ? "PRECISION_UNSPECIFIED is not a precision" : `unknown Precision ${p}`,
        );
      if (!requires.includes(name)) requires.push(name);
    });
    // Existence checks last: a malformed request is INVALID_ARGUMENT before it is NOT_FOUND.
    if (c.gpuId !== "") {
      const id = lookup.resolveGpu(c.gpuId);
      if (id === undefined)
        throw new ConnectError(
          `${field}.constraints.gpu_id: no GPU ${shown(c.gpuId)}`,
          Code.NotFound,
        );
      spec.gpuId = id;
    }
    if (c.node !== "") {
      if (!lookup.hasNode(c.node))
        throw new ConnectError(
          `${field}.constraints.node: no node ${shown(c.node)}`,
          Code.NotFound,
        );
      spec.node = c.node;
    }
    if (requires.length > 0) spec.requires = requires;
  }
  return spec;
}

export function checkTtlMs(value: number, min: number, max: number): number | undefined {
  if (value === 0) return undefined;
  if (value < min || value > max)
    throw invalid("ttl_ms", `must be 0 (default) or between ${min} and ${max} ms, got ${value}`);
  return value;
}

const CODE_OF: Record<CoreError["code"], Code> = {
  "invalid-argument": Code.InvalidArgument,
  "not-found": Code.NotFound,
  "not-fittable": Code.FailedPrecondition,
  "failed-precondition": Code.FailedPrecondition,
  "already-exists": Code.AlreadyExists,
};

/** CoreError → ConnectError; anything else is rethrown untouched (becomes INTERNAL). */
export function toConnectError(err: unknown): unknown {
  if (err instanceof ConnectError) return err;
  if (err instanceof CoreError) {
    let msg = err.message;
    if (err.field && !msg.startsWith(err.field)) msg = `${err.field}: ${msg}`;
    return new ConnectError(msg, CODE_OF[err.code] ?? Code.Internal);
  }
  return err;
}

/** Runs `fn`, translating core errors. */
export function core<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toConnectError(err);
  }
}
