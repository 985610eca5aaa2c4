/**
 * VRAMSlot: what a task asks for. Validated on construction with the same rules the
 * coordinator enforces (proto/cforch/v1/common.proto), so a bad slot fails at the call site
 * with the field named, before any network round trip, and the local fallback applies the
 * same rules as coordinated mode.
 */
import { create } from "@bufbuild/protobuf";
import { Precision, PriorityClass, SlotSchema, type Slot } from "../gen/ts/cforch/v1/common_pb.js";
import { InvalidSlotError } from "./errors.js";

export type PriorityName = "batch" | "low" | "normal" | "high" | "critical";
export type PrecisionName = "fp16" | "bf16" | "fp8" | "int8" | "int4";

export interface VRAMSlotInit {
  /** Product name, 1 to 64 characters from [A-Za-z0-9._-]. */
  service: string;
  /** What the task does, at most 64 characters from [A-Za-z0-9._:-]. */
  taskType?: string;
  /** VRAM in GB (GiB); converted to MiB rounding up. Give exactly one of vramGb / vramMb. */
  vramGb?: number;
  /** VRAM in MiB, a positive integer. */
  vramMb?: number;
  /** Priority class; default "normal". */
  priority?: PriorityName;
  /** Pin to one GPU id ("<node>/<index>" or UUID). */
  gpu?: string;
  /** Pin to one node. */
  node?: string;
  /** Precisions the GPU's profile must support. */
  requires?: readonly PrecisionName[];
}

/** Largest slot the protocol accepts: 16 TiB in MiB. */
export const MAX_VRAM_MB = 16 * 1024 * 1024;

const PRIORITIES: Readonly<Record<PriorityName, PriorityClass>> = {
  batch: PriorityClass.BATCH,
  low: PriorityClass.LOW,
  normal: PriorityClass.NORMAL,
  high: PriorityClass.HIGH,
  critical: PriorityClass.CRITICAL,
};

const PRECISIONS: Readonly<Record<PrecisionName, Precision>> = {
  fp16: Precision.FP16,
  bf16: Precision.BF16,
  fp8: Precision.FP8,
  int8: Precision.INT8,
  int4: Precision.INT4,
};

const SERVICE_RE = /^[A-Za-z0-9._-]{1,64}$/;
const TASK_TYPE_RE = /^[A-Za-z0-9._:-]{0,64}$/;

/** GB (GiB, as marketed for VRAM) to MiB, rounding up so a task never gets less than it asked. */
export function gbToMb(gb: number): number {
  // × 1024 is exact in binary floating point, so ceil never rounds up a whole number by accident.
  return Math.ceil(gb * 1024);
}

function fail(field: string, message: string): never {
  throw new InvalidSlotError(field, `invalid VRAMSlot: ${field} ${message}`);
}

function resolveVramMb(init: VRAMSlotInit): number {
  const hasGb = init.vramGb !== undefined;
  const hasMb = init.vramMb !== undefined;
  if (hasGb === hasMb) {
    fail(hasGb ? "vramMb" : "vramGb", "exactly one of vramGb and vramMb is required");
  }
  let mb: number;
  if (hasGb) {
    const gb = init.vramGb;
    if (typeof gb !== "number" || !Number.isFinite(gb) || gb <= 0) {
      fail("vramGb", `must be a finite number greater than 0 (got ${String(gb)})`);
    }
    mb = gbToMb(gb);
  } else {
    mb = init.vramMb as number;
    if (typeof mb !== "number" || !Number.isSafeInteger(mb) || mb < 1) {
      fail("vramMb", `must be a whole number of MiB, at least 1 (got ${String(mb)})`);
    }
  }
  if (mb > MAX_VRAM_MB) {
    fail(hasGb ? "vramGb" : "vramMb", `must be at most ${MAX_VRAM_MB} MiB (16 TiB)`);
  }
  return mb;
}

function checkId(field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > 128) {
    fail(field, "must be a non-empty string of at most 128 characters");
  }
  return value;
}

export class VRAMSlot {
  readonly service: string;
  readonly taskType: string;
  /** VRAM to reserve, in MiB. */
  readonly vramMb: number;
  readonly priority: PriorityName;
  readonly gpu: string | undefined;
  readonly node: string | undefined;
  readonly requires: readonly PrecisionName[];

  constructor(init: VRAMSlotInit) {
    if (init === null || typeof init !== "object") fail("slot", "must be an object");
    if (typeof init.service !== "string" || !SERVICE_RE.test(init.service)) {
      fail("service", "must be 1 to 64 characters from [A-Za-z0-9._-]");
    }
    const taskType = init.taskType ?? "";
    if (typeof taskType !== "string" || !TASK_TYPE_RE.test(taskType)) {
      fail("taskType", "must be at most 64 characters from [A-Za-z0-9._:-]");
    }
    const priority = init.priority ?? "normal";
    if (!Object.hasOwn(PRIORITIES, priority)) {
      fail("priority", `must be one of ${Object.keys(PRIORITIES).join(", ")}`);
    }
    const requires = init.requires ?? [];
    if (!Array.isArray(requires) || requires.length > 5) {
      fail("requires", "must be an array of at most 5 precisions");
    }
    for (const p of requires) {
      if (!Object.hasOwn(PRECISIONS, p)) {
        fail(
          "requires",
          `has unknown precision ${String(p)}; use ${Object.keys(PRECISIONS).join(", ")}`,
        );
      }
    }
    this.service = init.service;
    this.taskType = taskType;
    this.vramMb = resolveVramMb(init);
    this.priority = priority;
    this.gpu = checkId("gpu", init.gpu);
    this.node = checkId("node", init.node);
    this.requires = Object.freeze([...requires]);
    Object.freeze(this);
  }

  /** The request in GB (GiB), for display. */
  get vramGb(): number {
    return this.vramMb / 1024;
  }

  /** The wire form (cforch.v1.Slot). */
  toProto(): Slot {
    return create(SlotSchema, {
      service: this.service,
      taskType: this.taskType,
      vramMb: BigInt(this.vramMb),
      priority: PRIORITIES[this.priority],
      constraints: {
        gpuId: this.gpu ?? "",
        node: this.node ?? "",
        requires: this.requires.map((p) => PRECISIONS[p]),
      },
    });
  }
}
