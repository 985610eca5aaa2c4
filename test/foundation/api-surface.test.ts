// The generated TypeScript descriptors expose the API the issues promise: every
// service, every method, and the streaming kind of each method.
import { LeaseService } from "../../gen/ts/cforch/v1/lease_pb.js";
import { EvictionService } from "../../gen/ts/cforch/v1/eviction_pb.js";
import { GpuProfileService } from "../../gen/ts/cforch/v1/profile_pb.js";
import { ClusterService } from "../../gen/ts/cforch/v1/cluster_pb.js";
import { PriorityClass, PriorityClassSchema } from "../../gen/ts/cforch/v1/common_pb.js";
import { Health } from "../../gen/ts/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../../gen/ts/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/ts/grpc/reflection/v1alpha/reflection_pb.js";
import type { DescService } from "@bufbuild/protobuf";

function methodKinds(service: DescService): Record<string, string> {
  return Object.fromEntries(service.methods.map((m) => [m.name, m.methodKind]));
}

describe("cforch.v1 API surface", () => {
  test.each([
    [
      LeaseService,
      "cforch.v1.LeaseService",
      {
        Acquire: "server_streaming",
        Release: "unary",
        KeepAlive: "unary",
        GetLease: "unary",
        ListLeases: "unary",
      },
    ],
    [EvictionService, "cforch.v1.EvictionService", { Session: "bidi_streaming" }],
    [
      GpuProfileService,
      "cforch.v1.GpuProfileService",
      { GetProfile: "unary", ListProfiles: "unary", CheckFit: "unary" },
    ],
    [
      ClusterService,
      "cforch.v1.ClusterService",
      {
        GetStatus: "unary",
        WatchStatus: "server_streaming",
        RegisterNode: "unary",
        ReportUsage: "unary",
      },
    ],
    [Health, "grpc.health.v1.Health", { Check: "unary", Watch: "server_streaming" }],
    [
      ReflectionV1,
      "grpc.reflection.v1.ServerReflection",
      { ServerReflectionInfo: "bidi_streaming" },
    ],
    [
      ReflectionV1alpha,
      "grpc.reflection.v1alpha.ServerReflection",
      { ServerReflectionInfo: "bidi_streaming" },
    ],
  ])("%#: %s has exactly the expected methods", (service, typeName, expected) => {
    expect(service.typeName).toBe(typeName);
    expect(methodKinds(service)).toEqual(expected);
  });

  test("priority classes are named levels ordered by urgency", () => {
    const names = PriorityClassSchema.values.map((v) => v.name);
    expect(names).toEqual([
      "PRIORITY_CLASS_UNSPECIFIED",
      "PRIORITY_CLASS_BATCH",
      "PRIORITY_CLASS_LOW",
      "PRIORITY_CLASS_NORMAL",
      "PRIORITY_CLASS_HIGH",
      "PRIORITY_CLASS_CRITICAL",
    ]);
    expect(PriorityClass.CRITICAL).toBeGreaterThan(PriorityClass.HIGH);
    expect(PriorityClass.HIGH).toBeGreaterThan(PriorityClass.NORMAL);
    expect(PriorityClass.NORMAL).toBeGreaterThan(PriorityClass.LOW);
    expect(PriorityClass.LOW).toBeGreaterThan(PriorityClass.BATCH);
  });

  test("VRAM travels as integer MiB everywhere on the wire", () => {
    const vramFields = [LeaseService, ClusterService, EvictionService, GpuProfileService]
      .flatMap((s) => s.methods.flatMap((m) => [m.input, m.output]))
      .flatMap((msg) => collectFields(msg))
      .filter((f) => f.name.endsWith("_mb"));
    expect(vramFields.length).toBeGreaterThan(5);
    for (const field of vramFields) {
      expect([field.name, field.scalar]).toEqual([field.name, 4 /* ScalarType.UINT64 */]);
    }
  });
});

type FieldInfo = { name: string; scalar: number | undefined };
function collectFields(
  msg: import("@bufbuild/protobuf").DescMessage,
  seen = new Set<string>(),
): FieldInfo[] {
  if (seen.has(msg.typeName)) return [];
  seen.add(msg.typeName);
  return msg.fields.flatMap((f) => {
    const own: FieldInfo = { name: f.name, scalar: f.scalar };
    const nested = f.message ? collectFields(f.message, seen) : [];
    return [own, ...nested];
  });
}
