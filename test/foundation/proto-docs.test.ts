// Every service, RPC, message, field, oneof, enum and enum value of cforch.v1
// carries a doc comment (they are the API reference grpcurl and IDEs show), and
// every RPC documents the errors it returns. Read from `buf build`'s source info.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";

const root = join(__dirname, "..", "..");

function buildImage(): FileDescriptorProto[] {
  const dir = mkdtempSync(join(tmpdir(), "cforch-buf-"));
  try {
    const out = join(dir, "image.binpb");
    execFileSync(join(root, "node_modules/.bin/buf"), ["build", "-o", out], { cwd: root });
    return fromBinary(FileDescriptorSetSchema, readFileSync(out)).file;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Element {
  what: string;
  path: number[];
}

// Descriptor field numbers used in SourceCodeInfo paths (descriptor.proto).
const MESSAGE = 4,
  ENUM = 5,
  SERVICE = 6,
  FIELD = 2,
  NESTED = 3,
  NESTED_ENUM = 4,
  ONEOF = 8;
const VALUE = 2,
  METHOD = 2;

function elements(file: FileDescriptorProto): Element[] {
  const out: Element[] = [];
  const walkEnum = (e: FileDescriptorProto["enumType"][number], path: number[], name: string) => {
    out.push({ what: `enum ${name}`, path });
    e.value.forEach((v, i) =>
      out.push({ what: `enum value ${v.name}`, path: [...path, VALUE, i] }),
    );
  };
  const walkMessage = (
    m: FileDescriptorProto["messageType"][number],
    path: number[],
    name: string,
  ) => {
    out.push({ what: `message ${name}`, path });
    m.field.forEach((f, i) =>
      out.push({ what: `field ${name}.${f.name}`, path: [...path, FIELD, i] }),
    );
    m.oneofDecl.forEach((o, i) =>
      out.push({ what: `oneof ${name}.${o.name}`, path: [...path, ONEOF, i] }),
    );
    m.nestedType.forEach((n, i) => walkMessage(n, [...path, NESTED, i], `${name}.${n.name}`));
    m.enumType.forEach((e, i) => walkEnum(e, [...path, NESTED_ENUM, i], `${name}.${e.name}`));
  };
  file.messageType.forEach((m, i) => walkMessage(m, [MESSAGE, i], m.name));
  file.enumType.forEach((e, i) => walkEnum(e, [ENUM, i], e.name));
  file.service.forEach((s, i) => {
    out.push({ what: `service ${s.name}`, path: [SERVICE, i] });
    s.method.forEach((m, j) =>
      out.push({ what: `rpc ${s.name}.${m.name}`, path: [SERVICE, i, METHOD, j] }),
    );
  });
  return out;
}

describe("proto documentation", () => {
  const files = buildImage().filter((f) => f.name.startsWith("cforch/"));

  test("the cforch.v1 files are all there", () => {
    expect(files.map((f) => f.name).sort()).toEqual([
      "cforch/v1/cluster.proto",
      "cforch/v1/common.proto",
      "cforch/v1/eviction.proto",
      "cforch/v1/lease.proto",
      "cforch/v1/profile.proto",
    ]);
  });

  test("every element has a doc comment and every RPC documents its errors", () => {
    const missing: string[] = [];
    let checked = 0;
    for (const file of files) {
      const comments = new Map(
        (file.sourceCodeInfo?.location ?? []).map((l) => [l.path.join("."), l.leadingComments]),
      );
      for (const el of elements(file)) {
        checked++;
        const comment = comments.get(el.path.join("."))?.trim() ?? "";
        if (comment === "") missing.push(`${file.name}: ${el.what} has no doc comment`);
        else if (el.what.startsWith("rpc ") && !/Errors:/.test(comment))
          missing.push(`${file.name}: ${el.what} does not document its errors ("Errors: ...")`);
      }
    }
    expect(checked).toBeGreaterThan(150);
    expect(missing).toEqual([]);
  });
});
