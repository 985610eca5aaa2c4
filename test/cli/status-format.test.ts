/** The pure formatting behind `cf-orch status`: units, durations, tables, a whole snapshot. */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EvictionState, GetStatusResponseSchema } from "../../gen/ts/cforch/v1/cluster_pb.js";
import { PriorityClass } from "../../gen/ts/cforch/v1/common_pb.js";
import { LeaseState, WaitReason } from "../../gen/ts/cforch/v1/lease_pb.js";
import {
  formatDuration,
  formatMb,
  formatStatus,
  formatTable,
  leaseStateName,
  priorityName,
  waitReasonName,
} from "../../cli/status-format.js";

describe("formatMb", () => {
  test.each([
    [0, "0 MiB"],
    [1, "1 MiB"],
    [1023, "1023 MiB"],
    [1024, "1.0 GiB"],
    [4096, "4.0 GiB"],
    [20000, "19.5 GiB"],
    [24576, "24.0 GiB"],
    [81920n, "80.0 GiB"],
    [1024 * 1024, "1.0 TiB"],
    [1536 * 1024, "1.5 TiB"],
  ])("%s MiB → %s", (mb, text) => {
    expect(formatMb(mb)).toBe(text);
  });
});

describe("formatDuration", () => {
  test.each([
    [0, "0ms"],
    [850, "850ms"],
    [1_000, "1.0s"],
    [9_549, "9.5s"],
    [42_900, "42s"],
    [125_000, "2m05s"],
    [3_720_000, "1h02m"],
    [2 * 86_400_000 + 3 * 3_600_000, "2d03h"],
    [-1_500, "-1.5s"],
  ])("%s ms → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

test("formatTable aligns columns, right-aligns where asked, trims trailing spaces", () => {
  const text = formatTable(
    ["NAME", "SIZE", "NOTE"],
    [
      ["a", "1 MiB", ""],
      ["longer", "24.0 GiB", "x"],
    ],
    ["left", "right", "left"],
  );
  expect(text.split("\n")).toEqual([
    "NAME        SIZE  NOTE",
    "a          1 MiB",
    "longer  24.0 GiB  x",
  ]);
});

test("enum names", () => {
  expect(priorityName(PriorityClass.UNSPECIFIED)).toBe("normal");
  expect(priorityName(PriorityClass.CRITICAL)).toBe("critical");
  expect(leaseStateName(LeaseState.CHECKPOINTING)).toBe("checkpointing");
  expect(waitReasonName(WaitReason.NO_GPU_FREE)).toBe("no_gpu_free");
});

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);

function snapshot() {
  return create(GetStatusResponseSchema, {
    now: timestampFromMs(NOW),
    revision: 42n,
    gpus: [
      {
        gpuId: "local/0",
        node: "local",
        index: 0,
        name: "NVIDIA GeForce RTX 4090",
        capacityMb: 24576n,
        leasedMb: 20480n,
        reservedMb: 0n,
        measuredMb: 21000n,
        unaccountedMb: 520n,
        freeMb: 3576n,
      },
      {
        gpuId: "local/1",
        node: "local",
        index: 1,
        name: "NVIDIA GeForce RTX 3070",
        capacityMb: 8192n,
        leasedMb: 4096n,
        reservedMb: 2048n,
        freeMb: 2048n,
      },
    ],
    leases: [
      {
        leaseId: "lease_aaa",
        gpuId: "local/0",
        vramMb: 20480n,
        state: LeaseState.ACTIVE,
        fencingToken: 7n,
        expiresAt: timestampFromMs(NOW + 29_000),
        slot: { service: "kiwi", taskType: "recipe_llm", priority: PriorityClass.NORMAL },
        evictable: true,
      },
      {
        leaseId: "lease_bbb",
        gpuId: "local/1",
        vramMb: 4096n,
        state: LeaseState.CHECKPOINTING,
        fencingToken: 8n,
        expiresAt: timestampFromMs(NOW - 500),
        slot: { service: "snipe", priority: PriorityClass.BATCH },
      },
    ],
    queue: [
      {
        status: {
          position: 1,
          vramAheadMb: 0n,
          reason: WaitReason.WAITING_FOR_EVICTION,
          reasonText: "waiting for lease_bbb to checkpoint",
          requestId: "req_1",
          enqueuedAt: timestampFromMs(NOW - 3_000),
        },
        slot: {
          service: "peregrine",
          vramMb: 6144n,
          priority: PriorityClass.HIGH,
          constraints: { gpuId: "local/1" },
        },
      },
      {
        status: {
          position: 2,
          vramAheadMb: 6144n,
          reason: WaitReason.BEHIND_EARLIER,
          requestId: "req_2",
          enqueuedAt: timestampFromMs(NOW - 1_000),
        },
        slot: { service: "kiwi", vramMb: 1024n },
      },
    ],
    evictions: [
      {
        preemptorRequestId: "req_1",
        victimLeaseId: "lease_bbb",
        victimHolderId: "snipe.host.1",
        gpuId: "local/1",
        vramMb: 4096n,
        startedAt: timestampFromMs(NOW - 2_000),
        deadline: timestampFromMs(NOW + 28_000),
        state: EvictionState.REQUESTED,
      },
    ],
  });
}

test("formatStatus: the whole snapshot", () => {
  const text = formatStatus(snapshot(), { url: "http://127.0.0.1:7700" });
  expect(text).toBe(
    [
      "cf-orch status  ·  http://127.0.0.1:7700  ·  2026-01-02 03:04:05Z  ·  revision 42",
      "",
      "GPUs: 2",
      "GPU      NAME                     CAPACITY    LEASED  RESERVED  MEASURED  UNACCOUNTED     FREE",
      "local/0  NVIDIA GeForce RTX 4090  24.0 GiB  20.0 GiB     0 MiB  20.5 GiB      520 MiB  3.5 GiB",
      "local/1  NVIDIA GeForce RTX 3070   8.0 GiB   4.0 GiB   2.0 GiB         -        0 MiB  2.0 GiB",
      "total    2 GPUs                   32.0 GiB  24.0 GiB   2.0 GiB  20.5 GiB      520 MiB  5.5 GiB",
      "",
      "Leases: 2",
      "LEASE      SERVICE  TASK        GPU          VRAM  STATE               PRIORITY     EXPIRES IN  FENCE",
      "lease_aaa  kiwi     recipe_llm  local/0  20.0 GiB  active (evictable)  normal              29s      7",
      "lease_bbb  snipe    -           local/1   4.0 GiB  checkpointing       batch     overdue 500ms      8",
      "",
      "Queue: 2 waiting requests",
      "POS  REQUEST  SERVICE    TASK              VRAM  PRIORITY    AHEAD  WAITING  REASON",
      "  1  req_1    peregrine  -     6.0 GiB @local/1  high            -     3.0s  waiting for lease_bbb to checkpoint",
      "  2  req_2    kiwi       -              1.0 GiB  normal    6.0 GiB     1.0s  behind_earlier",
      "",
      "Evictions in flight: 1",
      "PREEMPTOR  VICTIM LEASE  HOLDER        GPU         VRAM  STATE       FOR  DEADLINE",
      "req_1      lease_bbb     snipe.host.1  local/1  4.0 GiB  requested  2.0s       28s",
    ].join("\n"),
  );
});

test("formatStatus: an empty coordinator", () => {
  const text = formatStatus(create(GetStatusResponseSchema, { now: timestampFromMs(NOW) }));
  expect(text).toBe(
    [
      "cf-orch status  ·  2026-01-02 03:04:05Z  ·  revision 0",
      "",
      "GPUs: 0",
      "  (no GPUs registered)",
      "",
      "Leases: 0",
      "",
      "Queue: 0 waiting requests",
      "",
      "Evictions in flight: 0",
    ].join("\n"),
  );
});
