/**
 * gRPC server reflection (v1 and v1alpha) and grpc.health.v1.Health, through @grpc/grpc-js
 * with the protos from proto/grpc/. Reflection answers are decoded into descriptors and used
 * the way grpcurl does: list, describe, then call a method with no local .proto at all.
 */
import { join } from "node:path";
import {
  create,
  createFileRegistry,
  fromBinary,
  toBinary,
  type DescMessage,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as protoLoader from "@grpc/proto-loader";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { REPO_ROOT, startTestCoordinator } from "../support/coordinator.js";
import { StreamReader, grpc, type Msg } from "./grpc-client.js";

jest.setTimeout(30_000);

const PROTO_DIR = join(REPO_ROOT, "proto");
const load = (file: string) =>
  grpc.loadPackageDefinition(
    protoLoader.loadSync(join(PROTO_DIR, file), {
      includeDirs: [PROTO_DIR],
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    }),
  ) as Msg;

const reflectionV1 = load("grpc/reflection/v1/reflection.proto").grpc.reflection.v1
  .ServerReflection;
const reflectionV1Alpha = load("grpc/reflection/v1alpha/reflection.proto").grpc.reflection.v1alpha
  .ServerReflection;
const healthPkg = load("grpc/health/v1/health.proto").grpc.health.v1.Health;

let c: RunningCoordinator;
let target: string;
beforeAll(async () => {
  c = await startTestCoordinator();
  target = c.url.replace("http://", "");
});
afterAll(async () => {
  await c?.close();
});

const EXPECTED_SERVICES = [
  "cforch.v1.ClusterService",
  "cforch.v1.EvictionService",
  "cforch.v1.GpuProfileService",
  "cforch.v1.LeaseService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

for (const [version, Service] of [
  ["v1", reflectionV1],
  ["v1alpha", reflectionV1Alpha],
] as const) {
  describe(`reflection ${version}`, () => {
    let client: Msg;
    let call: Msg;
    let reader: StreamReader;
    beforeEach(() => {
      client = new Service(target, grpc.credentials.createInsecure());
      call = client.serverReflectionInfo();
      reader = new StreamReader(call as never);
    });
    afterEach(() => {
      call.end();
      client.close();
    });
    const ask = async (req: Msg): Promise<Msg> => {
      call.write({ host: "", ...req });
      return reader.next();
    };
    const files = (res: Msg) =>
      (res.fileDescriptorResponse.fileDescriptorProto as Buffer[]).map((b) =>
        fromBinary(FileDescriptorProtoSchema, new Uint8Array(b)),
      );

    test("list_services", async () => {
      const res = await ask({ listServices: "" });
      expect(res.messageResponse).toBe("listServicesResponse");
      const names = (res.listServicesResponse.service as Msg[]).map((s) => s.name as string).sort();
      expect(names).toEqual(EXPECTED_SERVICES);
    });

    test("file_containing_symbol: a service, with its transitive dependencies", async () => {
      const res = await ask({ fileContainingSymbol: "cforch.v1.LeaseService" });
      const fds = files(res);
      expect(fds[0]!.name).toBe("cforch/v1/lease.proto");
      expect(fds.map((f) => f.name).sort()).toEqual([
        "cforch/v1/common.proto",
        "cforch/v1/lease.proto",
        "google/protobuf/timestamp.proto",
      ]);
      const svc = fds[0]!.service.find((s) => s.name === "LeaseService")!;
      expect(svc.method.map((m) => [m.name, m.serverStreaming ?? false])).toEqual([
        ["Acquire", true],
        ["Release", false],
        ["KeepAlive", false],
        ["GetLease", false],
        ["ListLeases", false],
      ]);
      expect(res.originalRequest.fileContainingSymbol).toBe("cforch.v1.LeaseService");
    });

    test.each([
      ["cforch.v1.LeaseService.Acquire", "cforch/v1/lease.proto"],
      ["cforch.v1.Slot", "cforch/v1/common.proto"],
      ["cforch.v1.PriorityClass", "cforch/v1/common.proto"],
      ["cforch.v1.SessionRequest", "cforch/v1/eviction.proto"],
      ["cforch.v1.GpuStatus", "cforch/v1/cluster.proto"],
      ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
      ["grpc.health.v1.Health", "grpc/health/v1/health.proto"],
      [
        `grpc.reflection.${version}.ServerReflection`,
        `grpc/reflection/${version}/reflection.proto`,
      ],
      ["google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
    ])("file_containing_symbol %s", async (symbol, file) => {
      const res = await ask({ fileContainingSymbol: symbol });
      expect(res.messageResponse).toBe("fileDescriptorResponse");
      expect(files(res)[0]!.name).toBe(file);
    });

    test("file_by_filename, and unknown names answer NOT_FOUND without ending the stream", async () => {
      const res = await ask({ fileByFilename: "cforch/v1/eviction.proto" });
      const fds = files(res);
      expect(fds[0]!.messageType.map((m) => m.name)).toContain("CheckpointRequest");
      expect(fds.map((f) => f.name)).toContain("cforch/v1/lease.proto");
      const missing = await ask({ fileByFilename: "nope.proto" });
      expect(missing.errorResponse.errorCode).toBe(grpc.status.NOT_FOUND);
      const sym = await ask({ fileContainingSymbol: "cforch.v1.Nope" });
      expect(sym.errorResponse.errorCode).toBe(grpc.status.NOT_FOUND);
      const ext = await ask({
        fileContainingExtension: { containingType: "cforch.v1.Slot", extensionNumber: 100 },
      });
      expect(ext.errorResponse.errorCode).toBe(grpc.status.NOT_FOUND);
      const nums = await ask({ allExtensionNumbersOfType: "cforch.v1.Slot" });
      expect(nums.allExtensionNumbersResponse).toMatchObject({
        baseTypeName: "cforch.v1.Slot",
        extensionNumber: [],
      });
      const again = await ask({ listServices: "" });
      expect(again.listServicesResponse.service.length).toBe(EXPECTED_SERVICES.length);
    });

    test("describe and invoke a method with no local protos (what grpcurl does)", async () => {
      const res = await ask({ fileContainingSymbol: "cforch.v1.GpuProfileService" });
      // The requested file comes first (as grpc-go does); a registry wants dependencies first.
      const pending = files(res);
      const ordered: typeof pending = [];
      for (let round = 0; pending.length > 0 && round < 20; round++) {
        for (const f of [...pending]) {
          if (f.dependency.every((d) => ordered.some((o) => o.name === d))) {
            ordered.push(f);
            pending.splice(pending.indexOf(f), 1);
          }
        }
      }
      const set = create(FileDescriptorSetSchema, { file: ordered });
      const registry = createFileRegistry(set);
      const svc = registry.getService("cforch.v1.GpuProfileService")!;
      const method = svc.methods.find((m) => m.name === "GetProfile")!;
      const input = method.input as DescMessage;
      const output = method.output as DescMessage;
      const raw = new grpc.Client(target, grpc.credentials.createInsecure());
      const answer = await new Promise<Msg>((resolve, reject) => {
        raw.makeUnaryRequest(
          `/${svc.typeName}/${method.name}`,
          (m: Msg) => Buffer.from(toBinary(input, create(input, m))),
          (b: Buffer) => fromBinary(output, new Uint8Array(b)) as Msg,
          { name: "rtx4090" },
          (err, value) => (err ? reject(err) : resolve(value!)),
        );
      });
      raw.close();
      expect(answer.profile.name).toBe("GeForce RTX 4090");
    });
  });
}

describe("grpc.health.v1.Health", () => {
  test("Check: the server and each service are SERVING; unknown names are NOT_FOUND", async () => {
    const h = new healthPkg(target, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<Msg>((resolve, reject) =>
        h.check({ service }, (err: grpc.ServiceError | null, res: Msg) =>
          err ? reject(err) : resolve(res),
        ),
      );
    await expect(check("")).resolves.toEqual({ status: "SERVING" });
    for (const s of EXPECTED_SERVICES)
      await expect(check(s)).resolves.toEqual({ status: "SERVING" });
    await expect(check("nope.Service")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    h.close();
  });
});

test("Health.Watch streams SERVING, then NOT_SERVING when the coordinator shuts down", async () => {
  const own = await startTestCoordinator();
  const h = new healthPkg(own.url.replace("http://", ""), grpc.credentials.createInsecure());
  const watch = new StreamReader(h.watch({ service: "" }));
  const unknown = new StreamReader(h.watch({ service: "nope.Service" }));
  const leaseWatch = new StreamReader(h.watch({ service: "cforch.v1.LeaseService" }));
  expect(await watch.next()).toEqual({ status: "SERVING" });
  expect(await leaseWatch.next()).toEqual({ status: "SERVING" });
  expect(await unknown.next()).toEqual({ status: "SERVICE_UNKNOWN" });
  const closing = own.close();
  expect(await watch.next()).toEqual({ status: "NOT_SERVING" });
  expect(await leaseWatch.next()).toEqual({ status: "NOT_SERVING" });
  const err = await watch.finished();
  expect(err?.code).toBe(grpc.status.UNAVAILABLE);
  await closing;
  h.close();
});
