/**
 * Bad input, field by field, for every RPC (PRODUCT.md §8): each gets its documented code
 * and a message that starts with the field's proto name, and afterwards the coordinator's
 * whole status is unchanged (same revision, same snapshot).
 */
import * as http2 from "node:http2";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  AcquireRequestSchema,
  LeaseService,
  ReleaseRequestSchema,
} from "../../gen/ts/cforch/v1/lease_pb.js";
import {
  ClusterService,
  GetStatusResponseSchema,
  RegisterNodeRequestSchema,
  ReportUsageRequestSchema,
  type GetStatusResponse,
} from "../../gen/ts/cforch/v1/cluster_pb.js";
import {
  CheckFitRequestSchema,
  GpuProfileNotFoundSchema,
  GpuProfileService,
} from "../../gen/ts/cforch/v1/profile_pb.js";
import { EvictionService, SessionRequestSchema } from "../../gen/ts/cforch/v1/eviction_pb.js";
import { Health } from "../../gen/ts/grpc/health/v1/health_pb.js";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { startTestCoordinator } from "../support/coordinator.js";
import { toBinary } from "@bufbuild/protobuf";

jest.setTimeout(60_000);

let c: RunningCoordinator;
let lease: ReturnType<typeof createClient<typeof LeaseService>>;
let cluster: ReturnType<typeof createClient<typeof ClusterService>>;
let profile: ReturnType<typeof createClient<typeof GpuProfileService>>;
let eviction: ReturnType<typeof createClient<typeof EvictionService>>;
let health: ReturnType<typeof createClient<typeof Health>>;
let liveLeaseId: string;

beforeAll(async () => {
  c = await startTestCoordinator();
  const t = createGrpcTransport({ baseUrl: c.url });
  lease = createClient(LeaseService, t);
  cluster = createClient(ClusterService, t);
  profile = createClient(GpuProfileService, t);
  eviction = createClient(EvictionService, t);
  health = createClient(Health, t);
  // Some state to protect: one lease on local/0.
  for await (const m of lease.acquire({
    requestId: "existing",
    slot: { service: "kiwi", vramMb: 1000n, constraints: { gpuId: "local/0" } },
    ttlMs: 3_600_000,
  })) {
    if (m.event.case === "granted") liveLeaseId = m.event.value.leaseId;
  }
});
afterAll(async () => {
  await c.close();
});

/** The snapshot without its timestamp. */
async function state(): Promise<unknown> {
  const s: GetStatusResponse = await cluster.getStatus({});
  const copy = create(GetStatusResponseSchema, s);
  copy.now = undefined;
  return toBinary(GetStatusResponseSchema, copy);
}

async function expectError(p: Promise<unknown>, code: Code, field: string): Promise<ConnectError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConnectError);
  const ce = err as ConnectError;
  expect({ code: Code[ce.code], message: ce.rawMessage }).toEqual({
    code: Code[code],
    message: expect.stringMatching(new RegExp(`^${field.replace(/[.[\]]/g, "\\$&")}: `)) as unknown,
  });
  return ce;
}

async function drain(it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) {
    /* consume */
  }
}

const long = (n: number) => "x".repeat(n);
type AcquireInit = MessageInitShape<typeof AcquireRequestSchema>;
const okSlot: Record<string, unknown> = { service: "kiwi", taskType: "llm", vramMb: 1024n };
const acq = (over: Record<string, unknown>): AcquireInit =>
  ({ requestId: "r", slot: okSlot, ...over }) as AcquireInit;

const ACQUIRE: Array<[string, AcquireInit, Code, string]> = [
  ["request_id with a space", acq({ requestId: "a b" }), Code.InvalidArgument, "request_id"],
  ["request_id too long", acq({ requestId: long(129) }), Code.InvalidArgument, "request_id"],
  ["request_id non-ASCII", acq({ requestId: "é" }), Code.InvalidArgument, "request_id"],
  ["no slot", { requestId: "r" }, Code.InvalidArgument, "slot"],
  [
    "empty service",
    acq({ slot: { ...okSlot, service: "" } }),
    Code.InvalidArgument,
    "slot.service",
  ],
  [
    "bad service",
    acq({ slot: { ...okSlot, service: "kiwi!" } }),
    Code.InvalidArgument,
    "slot.service",
  ],
  [
    "long service",
    acq({ slot: { ...okSlot, service: long(65) } }),
    Code.InvalidArgument,
    "slot.service",
  ],
  [
    "bad task_type",
    acq({ slot: { ...okSlot, taskType: "a b" } }),
    Code.InvalidArgument,
    "slot.task_type",
  ],
  [
    "long task_type",
    acq({ slot: { ...okSlot, taskType: long(65) } }),
    Code.InvalidArgument,
    "slot.task_type",
  ],
  ["zero VRAM", acq({ slot: { ...okSlot, vramMb: 0n } }), Code.InvalidArgument, "slot.vram_mb"],
  [
    "too much VRAM",
    acq({ slot: { ...okSlot, vramMb: 16777217n } }),
    Code.InvalidArgument,
    "slot.vram_mb",
  ],
  [
    "2^64-1 VRAM",
    acq({ slot: { ...okSlot, vramMb: 2n ** 64n - 1n } }),
    Code.InvalidArgument,
    "slot.vram_mb",
  ],
  [
    "unknown priority",
    acq({ slot: { ...okSlot, priority: 9 } }),
    Code.InvalidArgument,
    "slot.priority",
  ],
  [
    "negative priority",
    acq({ slot: { ...okSlot, priority: -1 } }),
    Code.InvalidArgument,
    "slot.priority",
  ],
  [
    "malformed gpu_id",
    acq({ slot: { ...okSlot, constraints: { gpuId: "a b" } } }),
    Code.InvalidArgument,
    "slot.constraints.gpu_id",
  ],
  [
    "long gpu_id",
    acq({ slot: { ...okSlot, constraints: { gpuId: long(129) } } }),
    Code.InvalidArgument,
    "slot.constraints.gpu_id",
  ],
  [
    "unknown gpu_id",
    acq({ slot: { ...okSlot, constraints: { gpuId: "elsewhere/3" } } }),
    Code.NotFound,
    "slot.constraints.gpu_id",
  ],
  [
    "malformed node",
    acq({ slot: { ...okSlot, constraints: { node: "no de" } } }),
    Code.InvalidArgument,
    "slot.constraints.node",
  ],
  [
    "unknown node",
    acq({ slot: { ...okSlot, constraints: { node: "elsewhere" } } }),
    Code.NotFound,
    "slot.constraints.node",
  ],
  [
    "requires UNSPECIFIED",
    acq({ slot: { ...okSlot, constraints: { requires: [0] } } }),
    Code.InvalidArgument,
    "slot.constraints.requires[0]",
  ],
  [
    "requires unknown precision",
    acq({ slot: { ...okSlot, constraints: { requires: [1, 42] } } }),
    Code.InvalidArgument,
    "slot.constraints.requires[1]",
  ],
  [
    "requires too many",
    acq({ slot: { ...okSlot, constraints: { requires: [1, 2, 3, 4, 5, 1] } } }),
    Code.InvalidArgument,
    "slot.constraints.requires",
  ],
  [
    "bigger than every GPU",
    acq({ slot: { ...okSlot, vramMb: 30000n } }),
    Code.FailedPrecondition,
    "slot.vram_mb",
  ],
  [
    "bigger than the pinned GPU",
    acq({ slot: { ...okSlot, vramMb: 9000n, constraints: { gpuId: "local/1" } } }),
    Code.FailedPrecondition,
    "slot.vram_mb",
  ],
  ["ttl below the minimum", acq({ ttlMs: 5 }), Code.InvalidArgument, "ttl_ms"],
  ["ttl above the maximum", acq({ ttlMs: 3_600_001 }), Code.InvalidArgument, "ttl_ms"],
  ["holder_id with a space", acq({ holderId: "a b" }), Code.InvalidArgument, "holder_id"],
  ["holder_id too long", acq({ holderId: long(129) }), Code.InvalidArgument, "holder_id"],
  [
    "request_id reused with another slot",
    acq({ requestId: "existing" }),
    Code.AlreadyExists,
    "request_id",
  ],
];

describe("LeaseService.Acquire", () => {
  test.each(ACQUIRE)("%s", async (_name, req, code, field) => {
    const before = await state();
    await expectError(drain(lease.acquire(req)), code, field);
    expect(await state()).toEqual(before);
  });
});

type ReleaseInit = MessageInitShape<typeof ReleaseRequestSchema>;
const UNARY: Array<[string, () => Promise<unknown>, Code, string]> = [
  ["Release: no target", () => lease.release({}), Code.InvalidArgument, "target"],
  [
    "Release: empty lease_id",
    () => lease.release({ target: { case: "leaseId", value: "" } } as ReleaseInit),
    Code.InvalidArgument,
    "lease_id",
  ],
  [
    "Release: malformed lease_id",
    () => lease.release({ target: { case: "leaseId", value: "a b" } }),
    Code.InvalidArgument,
    "lease_id",
  ],
  [
    "Release: long lease_id",
    () => lease.release({ target: { case: "leaseId", value: long(129) } }),
    Code.InvalidArgument,
    "lease_id",
  ],
  [
    "Release: unknown lease_id",
    () => lease.release({ target: { case: "leaseId", value: "lease_never" } }),
    Code.NotFound,
    "lease_id",
  ],
  [
    "Release: malformed request_id",
    () => lease.release({ target: { case: "requestId", value: "a/b c" } }),
    Code.InvalidArgument,
    "request_id",
  ],
  [
    "Release: empty request_id",
    () => lease.release({ target: { case: "requestId", value: "" } }),
    Code.InvalidArgument,
    "request_id",
  ],
  [
    "Release: unknown request_id",
    () => lease.release({ target: { case: "requestId", value: "never-seen" } }),
    Code.NotFound,
    "request_id",
  ],
  ["KeepAlive: empty lease_id", () => lease.keepAlive({}), Code.InvalidArgument, "lease_id"],
  [
    "KeepAlive: malformed lease_id",
    () => lease.keepAlive({ leaseId: "a b" }),
    Code.InvalidArgument,
    "lease_id",
  ],
  [
    "KeepAlive: unknown lease_id",
    () => lease.keepAlive({ leaseId: "lease_never" }),
    Code.NotFound,
    "lease_id",
  ],
  ["GetLease: empty lease_id", () => lease.getLease({}), Code.InvalidArgument, "lease_id"],
  [
    "GetLease: long lease_id",
    () => lease.getLease({ leaseId: long(200) }),
    Code.InvalidArgument,
    "lease_id",
  ],
  [
    "GetLease: unknown lease_id",
    () => lease.getLease({ leaseId: "lease_never" }),
    Code.NotFound,
    "lease_id",
  ],
  [
    "ListLeases: bad service",
    () => lease.listLeases({ service: "ki wi" }),
    Code.InvalidArgument,
    "service",
  ],
  [
    "ListLeases: bad gpu_id",
    () => lease.listLeases({ gpuId: "a b" }),
    Code.InvalidArgument,
    "gpu_id",
  ],
  [
    "ListLeases: bad holder_id",
    () => lease.listLeases({ holderId: "a b" }),
    Code.InvalidArgument,
    "holder_id",
  ],
  [
    "WatchStatus: min_interval_ms over 60000",
    () => drain(cluster.watchStatus({ minIntervalMs: 60_001 })),
    Code.InvalidArgument,
    "min_interval_ms",
  ],
  [
    "RegisterNode: empty node",
    () => cluster.registerNode({ gpus: [{ index: 0, memoryTotalMb: 1n }] }),
    Code.InvalidArgument,
    "node",
  ],
  [
    "RegisterNode: bad node",
    () => cluster.registerNode({ node: "no de", gpus: [{ index: 0, memoryTotalMb: 1n }] }),
    Code.InvalidArgument,
    "node",
  ],
  [
    "RegisterNode: no GPUs",
    () => cluster.registerNode({ node: "n1" }),
    Code.InvalidArgument,
    "gpus",
  ],
  [
    "RegisterNode: duplicate index",
    () =>
      cluster.registerNode({
        node: "n1",
        gpus: [
          { index: 0, memoryTotalMb: 1024n },
          { index: 0, memoryTotalMb: 1024n },
        ],
      }),
    Code.InvalidArgument,
    "gpus[1].index",
  ],
  [
    "RegisterNode: zero memory",
    () => cluster.registerNode({ node: "n1", gpus: [{ index: 0, memoryTotalMb: 0n }] }),
    Code.InvalidArgument,
    "gpus[0].memory_total_mb",
  ],
  [
    "RegisterNode: huge memory",
    () => cluster.registerNode({ node: "n1", gpus: [{ index: 0, memoryTotalMb: 2n ** 40n }] }),
    Code.InvalidArgument,
    "gpus[0].memory_total_mb",
  ],
  [
    "RegisterNode: capacity over memory",
    () =>
      cluster.registerNode({
        node: "n1",
        gpus: [{ index: 0, memoryTotalMb: 1024n, capacityMb: 2048n }],
      }),
    Code.InvalidArgument,
    "gpus[0].capacity_mb",
  ],
  [
    "RegisterNode: long name",
    () =>
      cluster.registerNode({
        node: "n1",
        gpus: [{ index: 0, memoryTotalMb: 1024n, name: long(129) }],
      }),
    Code.InvalidArgument,
    "gpus[0].name",
  ],
  [
    "RegisterNode: bad uuid",
    () =>
      cluster.registerNode({ node: "n1", gpus: [{ index: 0, memoryTotalMb: 1024n, uuid: "a b" }] }),
    Code.InvalidArgument,
    "gpus[0].uuid",
  ],
  [
    "RegisterNode: shrinking a GPU below its leases",
    () =>
      cluster.registerNode({
        node: "local",
        gpus: [
          { index: 1, memoryTotalMb: 8192n },
          { index: 0, memoryTotalMb: 24576n, capacityMb: 500n },
        ],
      }),
    Code.FailedPrecondition,
    "gpus[1].capacity_mb",
  ],
  ["ReportUsage: no usage", () => cluster.reportUsage({}), Code.InvalidArgument, "usage"],
  [
    "ReportUsage: too many",
    () =>
      cluster.reportUsage(
        create(ReportUsageRequestSchema, {
          usage: Array.from({ length: 1025 }, () => ({ gpuId: "local/0", usedMb: 1n })),
        }),
      ),
    Code.InvalidArgument,
    "usage",
  ],
  [
    "ReportUsage: empty gpu_id",
    () => cluster.reportUsage({ usage: [{ gpuId: "local/0", usedMb: 1n }, { usedMb: 1n }] }),
    Code.InvalidArgument,
    "usage[1].gpu_id",
  ],
  [
    "ReportUsage: malformed gpu_id",
    () => cluster.reportUsage({ usage: [{ gpuId: "a b", usedMb: 1n }] }),
    Code.InvalidArgument,
    "usage[0].gpu_id",
  ],
  [
    "ReportUsage: huge used_mb",
    () => cluster.reportUsage({ usage: [{ gpuId: "local/0", usedMb: 2n ** 63n }] }),
    Code.InvalidArgument,
    "usage[0].used_mb",
  ],
  [
    "ReportUsage: unknown GPU (and nothing applied)",
    () =>
      cluster.reportUsage({
        usage: [
          { gpuId: "local/0", usedMb: 5000n },
          { gpuId: "elsewhere/0", usedMb: 1n },
        ],
      }),
    Code.NotFound,
    "usage[1].gpu_id",
  ],
  ["GetProfile: empty name", () => profile.getProfile({}), Code.InvalidArgument, "name"],
  [
    "GetProfile: long name",
    () => profile.getProfile({ name: long(129) }),
    Code.InvalidArgument,
    "name",
  ],
  [
    "GetProfile: unknown name",
    () => profile.getProfile({ name: "Voodoo 5 6000" }),
    Code.NotFound,
    "name",
  ],
  [
    "ListProfiles: unknown vendor",
    () => profile.listProfiles({ vendor: "nvida" }),
    Code.InvalidArgument,
    "vendor",
  ],
  [
    "CheckFit: no target",
    () => profile.checkFit({ paramsBillions: 8 }),
    Code.InvalidArgument,
    "target",
  ],
  ...[0, -1, Number.NaN, Number.POSITIVE_INFINITY, 10_000.5].map(
    (p): [string, () => Promise<unknown>, Code, string] => [
      `CheckFit: params_billions ${p}`,
      () => profile.checkFit({ target: { case: "gpuName", value: "rtx4090" }, paramsBillions: p }),
      Code.InvalidArgument,
      "params_billions",
    ],
  ),
  [
    "CheckFit: context_length too long",
    () =>
      profile.checkFit(
        create(CheckFitRequestSchema, {
          target: { case: "gpuName", value: "rtx4090" },
          paramsBillions: 8,
          contextLength: 10_000_001,
        }),
      ),
    Code.InvalidArgument,
    "context_length",
  ],
  [
    "CheckFit: empty gpu_name",
    () => profile.checkFit({ target: { case: "gpuName", value: "" }, paramsBillions: 8 }),
    Code.InvalidArgument,
    "gpu_name",
  ],
  [
    "CheckFit: empty gpu_id",
    () => profile.checkFit({ target: { case: "gpuId", value: "" }, paramsBillions: 8 }),
    Code.InvalidArgument,
    "gpu_id",
  ],
  [
    "CheckFit: unknown gpu_id",
    () => profile.checkFit({ target: { case: "gpuId", value: "elsewhere/0" }, paramsBillions: 8 }),
    Code.NotFound,
    "gpu_id",
  ],
  [
    "Health.Check: long service",
    () => health.check({ service: long(600) }),
    Code.InvalidArgument,
    "service",
  ],
];

describe("unary and server-streaming RPCs", () => {
  test.each(UNARY)("%s", async (_name, call, code, field) => {
    const before = await state();
    await expectError(call(), code, field);
    expect(await state()).toEqual(before);
  });

  test("GetProfile NOT_FOUND carries suggestions in the message and a GpuProfileNotFound detail", async () => {
    const err = await expectError(profile.getProfile({ name: "RTX 4091" }), Code.NotFound, "name");
    expect(err.rawMessage).toMatch(/did you mean: .*RTX 4090/);
    const [detail] = err.findDetails(GpuProfileNotFoundSchema);
    expect(detail?.name).toBe("RTX 4091");
    expect(detail?.suggestions.length).toBeGreaterThan(0);
  });
});

describe("EvictionService.Session", () => {
  type SessionInit = MessageInitShape<typeof SessionRequestSchema>;
  async function* messages(list: SessionInit[]) {
    for (const m of list) yield create(SessionRequestSchema, m);
  }
  const START: Array<[string, SessionInit[], string]> = [
    ["first message is not hello", [{ msg: { case: "heartbeat", value: {} } }], "hello"],
    ["empty first message", [{}], "hello"],
    ["empty holder_id", [{ msg: { case: "hello", value: { holderId: "" } } }], "hello.holder_id"],
    [
      "malformed holder_id",
      [{ msg: { case: "hello", value: { holderId: "a b" } } }],
      "hello.holder_id",
    ],
    [
      "long service",
      [{ msg: { case: "hello", value: { holderId: "h", service: long(65) } } }],
      "hello.service",
    ],
  ];
  test.each(START)("%s", async (_name, msgs, field) => {
    const before = await state();
    await expectError(drain(eviction.session(messages(msgs))), Code.InvalidArgument, field);
    expect(await state()).toEqual(before);
  });

  test("per-message errors name the field and keep the session", async () => {
    const before = await state();
    const sent: SessionInit[] = [
      { msg: { case: "hello", value: { holderId: "kiwi:existing" } } },
      { msg: { case: "register", value: { leaseId: "" } } },
      { msg: { case: "register", value: { leaseId: "a b" } } },
      { msg: { case: "unregister", value: { leaseId: "" } } },
      { msg: { case: "checkpointed", value: { leaseId: "" } } },
      { msg: { case: "refused", value: { leaseId: "" } } },
      { msg: { case: "refused", value: { leaseId: liveLeaseId, reason: long(257) } } },
      { msg: { case: "checkpointed", value: { leaseId: liveLeaseId } } },
      { msg: { case: "register", value: { leaseId: "lease_of_someone_else" } } },
      {},
      { msg: { case: "hello", value: { holderId: "again" } } },
    ];
    const errors: Array<[string, string]> = [];
    const queue = [...sent];
    async function* input() {
      yield create(SessionRequestSchema, queue.shift()!);
      // Send each next message after the previous answer (bounded by the list length).
      while (queue.length > 0) {
        await new Promise((r) => setTimeout(r, 5));
        yield create(SessionRequestSchema, queue.shift()!);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    for await (const m of eviction.session(input())) {
      if (m.msg.case === "error")
        errors.push([m.msg.value.code, m.msg.value.message.split(":")[0]!]);
    }
    expect(errors).toEqual([
      ["INVALID_ARGUMENT", "register.lease_id"],
      ["INVALID_ARGUMENT", "register.lease_id"],
      ["INVALID_ARGUMENT", "unregister.lease_id"],
      ["INVALID_ARGUMENT", "checkpointed.lease_id"],
      ["INVALID_ARGUMENT", "refused.lease_id"],
      ["INVALID_ARGUMENT", "refused.reason"],
      ["FAILED_PRECONDITION", "lease_id"],
      ["NOT_FOUND", "register.lease_id"],
      ["INVALID_ARGUMENT", "msg"],
      ["INVALID_ARGUMENT", "hello"],
    ]);
    // Only the lease's expiry moved (the session renewed it); nothing else changed.
    const after = (await cluster.getStatus({})) as GetStatusResponse;
    const b = (await cluster.getStatus({})) as GetStatusResponse;
    expect(after.leases.map((l) => l.leaseId)).toEqual([liveLeaseId]);
    expect(b.queue).toHaveLength(0);
    void before;
  });
});

describe("malformed wire data", () => {
  function grpcRaw(
    path: string,
    body: Buffer,
  ): Promise<{ status: string | undefined; message: string | undefined }> {
    return new Promise((resolve, reject) => {
      const s = http2.connect(c.url);
      s.on("error", reject);
      const req = s.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
      });
      let status: string | undefined;
      let message: string | undefined;
      req.on("response", (h) => {
        if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      });
      req.on("trailers", (t) => {
        status = String(t["grpc-status"]);
        message =
          t["grpc-message"] !== undefined
            ? decodeURIComponent(String(t["grpc-message"]))
            : undefined;
      });
      req.on("data", () => undefined);
      req.on("end", () => {
        s.close();
        resolve({ status, message });
      });
      req.on("error", reject);
      req.end(body);
    });
  }
  const frame = (payload: Buffer, declared = payload.length) => {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(declared, 1);
    return Buffer.concat([head, payload]);
  };

  test("a truncated gRPC frame is an error, not a crash", async () => {
    const before = await state();
    const r = await grpcRaw(
      "/cforch.v1.LeaseService/GetLease",
      frame(Buffer.from([0x0a, 0x02, 0x41]), 100),
    );
    expect(r.status).not.toBe("0");
    expect(await state()).toEqual(before);
  });

  test("garbage protobuf bytes are INVALID_ARGUMENT", async () => {
    const r = await grpcRaw(
      "/cforch.v1.LeaseService/Release",
      frame(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])),
    );
    expect(r.status).toBe(String(Code.InvalidArgument));
  });

  test("an oversized gRPC message is refused", async () => {
    const big = toBinary(
      AcquireRequestSchema,
      create(AcquireRequestSchema, {
        requestId: "big",
        slot: { service: "kiwi", taskType: long(2 * 1024 * 1024), vramMb: 1n },
      }),
    );
    const before = await state();
    const r = await grpcRaw("/cforch.v1.LeaseService/Acquire", frame(Buffer.from(big)));
    expect(r.status).toBe(String(Code.ResourceExhausted));
    expect(await state()).toEqual(before);
  });

  test("Connect JSON: NaN, negative and non-numeric VRAM, unknown enum names", async () => {
    const env = (json: unknown) => {
      const body = Buffer.from(JSON.stringify(json));
      const head = Buffer.alloc(5);
      head.writeUInt32BE(body.length, 1);
      return Buffer.concat([head, body]);
    };
    for (const slot of [
      { service: "kiwi", vramMb: "NaN" },
      { service: "kiwi", vramMb: -5 },
      { service: "kiwi", vramMb: "abc" },
      { service: "kiwi", vramMb: 1.5 },
      { service: "kiwi", vramMb: 1, priority: "PRIORITY_CLASS_URGENT" },
    ]) {
      const before = await state();
      const res = await fetch(`${c.url}/cforch.v1.LeaseService/Acquire`, {
        method: "POST",
        headers: { "content-type": "application/connect+json" },
        body: env({ requestId: "json", slot }),
      });
      const text = Buffer.from(await res.arrayBuffer());
      // The end-of-stream envelope (flag 0x02) carries the error.
      expect(text[0]).toBe(2);
      const end = JSON.parse(text.subarray(5).toString()) as { error?: { code: string } };
      expect(end.error?.code).toBe("invalid_argument");
      expect(await state()).toEqual(before);
    }
  });
});

test("RegisterNode then ReportUsage: valid calls change state (the table above is not vacuous)", async () => {
  const reg = await cluster.registerNode(
    create(RegisterNodeRequestSchema, {
      node: "node-b",
      gpus: [{ index: 0, name: "NVIDIA L4", uuid: "GPU-l4-0", memoryTotalMb: 23034n }],
    }),
  );
  expect(reg.gpus.map((g) => [g.gpuId, g.capacityMb, g.profile?.name])).toEqual([
    ["node-b/0", 23034n, "L4"],
  ]);
  const rep = await cluster.reportUsage({ usage: [{ gpuId: "GPU-l4-0", usedMb: 3000n }] });
  const l4 = rep.gpus.find((g) => g.gpuId === "node-b/0")!;
  expect([l4.measuredMb, l4.unaccountedMb, l4.freeMb]).toEqual([3000n, 3000n, 20034n]);
});
