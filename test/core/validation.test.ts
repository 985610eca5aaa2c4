/**
 * Invalid input at the core's boundary (PRODUCT.md §8): each case is rejected with
 * invalid-argument (or not-found / not-fittable) naming the field, emits nothing and changes
 * nothing, compared through every public view before and after.
 */
import { CoreError, type AcquireInput } from "../../coordinator/core/index.js";
import { gpu, harness, slot, type Harness } from "./helpers.js";

function snapshot(h: Harness): string {
  const s = h.s;
  return JSON.stringify(
    {
      state: s.exportState(),
      leases: s.leases(),
      queue: s.queue(),
      evictions: s.evictions(),
      gpus: s.gpus(),
      next: s.nextDeadline(),
    },
    (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v),
  );
}

/** A scheduler with some of everything: leases, a paused lease, a queue, an eviction. */
function busy(): Harness {
  const h = harness([gpu("a/0", 16384, { capabilities: ["fp16"] }), gpu("b/0", 8192)], {
    maxVramMb: 1 << 20,
  });
  const v = h.s.acquire({ requestId: "v", holderId: "hv", slot: slot(8192, 1) });
  const w = h.s.acquire({ requestId: "w", holderId: "hw", slot: slot(8192, 1) });
  h.s.acquire({ requestId: "x", holderId: "hx", slot: slot(8192, 2) });
  if (v.kind !== "granted" || w.kind !== "granted") throw new Error("setup");
  h.s.registerEvictable(v.lease.leaseId, "hv");
  h.s.registerEvictable(w.lease.leaseId, "hw");
  h.s.acquire({ requestId: "p", holderId: "hp", slot: slot(8192, 5) }); // evicts one of them
  const victim = h.s.evictions()[0]!.victimLeaseId;
  h.s.checkpointed(victim);
  h.s.acquire({ requestId: "q", holderId: "hq", slot: slot(16384, 5) }); // evicts the other
  h.s.acquire({ requestId: "late", holderId: "hl", slot: slot(4096, 3) });
  h.take();
  return h;
}

const good: AcquireInput = { requestId: "new", holderId: "h", slot: slot(1024) };
const withSlot = (patch: Record<string, unknown>): AcquireInput =>
  ({ ...good, slot: { ...good.slot, ...patch } }) as AcquireInput;

const acquireCases: [string, unknown, string, string][] = [
  ["zero VRAM", withSlot({ vramMb: 0 }), "invalid-argument", "slot.vram_mb"],
  ["negative VRAM", withSlot({ vramMb: -1024 }), "invalid-argument", "slot.vram_mb"],
  ["NaN VRAM", withSlot({ vramMb: NaN }), "invalid-argument", "slot.vram_mb"],
  ["infinite VRAM", withSlot({ vramMb: Infinity }), "invalid-argument", "slot.vram_mb"],
  ["fractional VRAM", withSlot({ vramMb: 1.5 }), "invalid-argument", "slot.vram_mb"],
  ["huge VRAM", withSlot({ vramMb: 2 ** 40 }), "invalid-argument", "slot.vram_mb"],
  ["VRAM as a string", withSlot({ vramMb: "1024" }), "invalid-argument", "slot.vram_mb"],
  ["bigger than any GPU", withSlot({ vramMb: 20_000 }), "not-fittable", "slot.vram_mb"],
  ["empty service", withSlot({ service: "" }), "invalid-argument", "slot.service"],
  ["overlong service", withSlot({ service: "s".repeat(65) }), "invalid-argument", "slot.service"],
  ["service with a space", withSlot({ service: "a b" }), "invalid-argument", "slot.service"],
  ["bad task type", withSlot({ taskType: "x\n" }), "invalid-argument", "slot.task_type"],
  ["priority 0", withSlot({ priority: 0 }), "invalid-argument", "slot.priority"],
  ["priority 6", withSlot({ priority: 6 }), "invalid-argument", "slot.priority"],
  ["priority as a name", withSlot({ priority: "high" }), "invalid-argument", "slot.priority"],
  ["unknown GPU", withSlot({ gpuId: "z/9" }), "not-found", "slot.gpu_id"],
  ["unknown node", withSlot({ node: "zz" }), "not-found", "slot.node"],
  ["unknown precision", withSlot({ requires: ["fp64"] }), "invalid-argument", "slot.requires"],
  ["unsatisfiable precision", withSlot({ requires: ["int4"] }), "not-fittable", "slot.requires"],
  ["no slot", { requestId: "n", holderId: "h" }, "invalid-argument", "slot"],
  ["empty request id", { ...good, requestId: "" }, "invalid-argument", "request_id"],
  ["request id with spaces", { ...good, requestId: "a b" }, "invalid-argument", "request_id"],
  [
    "overlong request id",
    { ...good, requestId: "r".repeat(129) },
    "invalid-argument",
    "request_id",
  ],
  ["missing holder", { ...good, holderId: undefined }, "invalid-argument", "holder_id"],
  ["negative ttl", { ...good, ttlMs: -1 }, "invalid-argument", "ttl_ms"],
  ["NaN ttl", { ...good, ttlMs: NaN }, "invalid-argument", "ttl_ms"],
  ["ttl too long", { ...good, ttlMs: 10 * 3_600_000 }, "invalid-argument", "ttl_ms"],
  ["ttl too short", { ...good, ttlMs: 10 }, "invalid-argument", "ttl_ms"],
  [
    "request id reused by another holder",
    { ...good, requestId: "late", holderId: "h" },
    "already-exists",
    "request_id",
  ],
];

describe("invalid input changes nothing", () => {
  test.each(acquireCases)("acquire: %s", (_name, input, code, field) => {
    const h = busy();
    const before = snapshot(h);
    let err: unknown;
    try {
      h.s.acquire(input as AcquireInput);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CoreError);
    expect(err).toMatchObject({ code, field });
    expect(h.events).toEqual([]);
    expect(snapshot(h)).toBe(before);
  });

  const otherCases: [string, (h: Harness) => unknown, string, string][] = [
    ["release: empty id", (h) => h.s.release(""), "invalid-argument", "lease_id"],
    ["release: unknown id", (h) => h.s.release("L999"), "not-found", "lease_id"],
    ["cancel: empty id", (h) => h.s.cancel(""), "invalid-argument", "request_id"],
    ["keepAlive: unknown", (h) => h.s.keepAlive("nope"), "not-found", "lease_id"],
    ["keepAliveHolder: empty", (h) => h.s.keepAliveHolder(""), "invalid-argument", "holder_id"],
    [
      "registerEvictable: unknown",
      (h) => h.s.registerEvictable("nope", "h"),
      "not-found",
      "lease_id",
    ],
    ["checkpointed: unknown", (h) => h.s.checkpointed("nope"), "not-found", "lease_id"],
    ["refused: empty", (h) => h.s.refused("", "x"), "invalid-argument", "lease_id"],
    ["measured: negative", (h) => h.s.setMeasuredUsage("a/0", -5), "invalid-argument", "used_mb"],
    ["measured: unknown GPU", (h) => h.s.setMeasuredUsage("q/0", 5), "not-found", "gpu_id"],
    [
      "addGpu: zero capacity",
      (h) => h.s.addGpu(gpu("c/0", 0)),
      "invalid-argument",
      "gpu.capacity_mb",
    ],
    [
      "addGpu: no node",
      (h) => h.s.addGpu({ id: "c/0", capacityMb: 1 } as never),
      "invalid-argument",
      "gpu.node",
    ],
    ["removeGpu: unknown", (h) => h.s.removeGpu("q/0"), "not-found", "gpu_id"],
    ["removeGpu: in use", (h) => h.s.removeGpu("a/0"), "failed-precondition", "gpu_id"],
  ];
  test.each(otherCases)("%s", (_name, call, code, field) => {
    const h = busy();
    const before = snapshot(h);
    expect(() => call(h)).toThrow(expect.objectContaining({ code, field }));
    expect(h.events).toEqual([]);
    expect(snapshot(h)).toBe(before);
  });

  test("constructor options are validated", () => {
    const clock = { now: () => 0 };
    expect(() => harness([gpu("a/0", 1), gpu("a/0", 2)])).toThrow(
      expect.objectContaining({ code: "already-exists" }),
    );
    expect(() => harness([gpu("a/0", 1)], { minTtlMs: 10, maxTtlMs: 5 })).toThrow(CoreError);
    expect(() => harness([gpu("a/0", 1)], { checkpointDeadlineMs: 0 })).toThrow(CoreError);
    void clock;
  });
});
