/**
 * gRPC server reflection, v1 and v1alpha (grpcurl tries v1 first, older tools only know
 * v1alpha). connect-node has no reflection package for protobuf-es v2, so this is our own:
 * the FileDescriptorProtos come from the documented `buf build` image in gen/ts/proto-image.ts
 * (so `grpcurl describe` shows the proto doc comments), falling back to the generated code's
 * embedded descriptors (which protoc-gen-es strips of comments) for files not in the image.
 *
 * Answers: list_services, file_by_filename, file_containing_symbol (packages' services,
 * methods, messages, nested messages, enums, enum values, fields) with every transitive
 * dependency, and the extension queries (we define no extensions: an empty list for a known
 * message, NOT_FOUND otherwise).
 */
import {
  create,
  fromBinary,
  toBinary,
  type DescFile,
  type DescMessage,
  type DescEnum,
} from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { protoImageBase64 } from "../../gen/ts/proto-image.js";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import {
  ServerReflection as ServerReflectionV1,
  ServerReflectionRequestSchema as RequestV1,
  ServerReflectionResponseSchema as ResponseV1,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../gen/ts/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1Alpha,
  ServerReflectionRequestSchema as RequestV1Alpha,
  ServerReflectionResponseSchema as ResponseV1Alpha,
} from "../../gen/ts/grpc/reflection/v1alpha/reflection_pb.js";
import type { DescService } from "@bufbuild/protobuf";

/** File name → serialized FileDescriptorProto with source info, from the documented image. */
function documentedFiles(): Map<string, Uint8Array> {
  const image = fromBinary(FileDescriptorSetSchema, base64Decode(protoImageBase64));
  return new Map(image.file.map((f) => [f.name, toBinary(FileDescriptorProtoSchema, f)]));
}

export class ReflectionIndex {
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly messages = new Set<string>();
  private readonly encoded = new Map<string, Uint8Array>();
  private readonly documented = documentedFiles();
  readonly serviceNames: string[];

  constructor(services: readonly DescService[]) {
    this.serviceNames = services.map((s) => s.typeName);
    for (const s of services) this.addFile(s.file);
  }

  private addFile(file: DescFile): void {
    const name = fileName(file);
    if (this.files.has(name)) return;
    this.files.set(name, file);
    this.encoded.set(
      name,
      this.documented.get(name) ?? toBinary(FileDescriptorProtoSchema, file.proto),
    );
    for (const dep of file.dependencies) this.addFile(dep);
    if (file.proto.package)
      this.symbols.set(file.proto.package, this.symbols.get(file.proto.package) ?? file);
    const addEnum = (e: DescEnum, scope: string) => {
      this.symbols.set(e.typeName, file);
      for (const v of e.values) this.symbols.set(scope ? `${scope}.${v.name}` : v.name, file);
    };
    const addMessage = (m: DescMessage) => {
      this.symbols.set(m.typeName, file);
      this.messages.add(m.typeName);
      for (const f of m.fields) this.symbols.set(`${m.typeName}.${f.name}`, file);
      for (const o of m.oneofs) this.symbols.set(`${m.typeName}.${o.name}`, file);
      for (const n of m.nestedMessages) addMessage(n);
      for (const e of m.nestedEnums) addEnum(e, m.typeName);
      for (const x of m.nestedExtensions) this.symbols.set(x.typeName, file);
    };
    for (const m of file.messages) addMessage(m);
    for (const e of file.enums) addEnum(e, file.proto.package);
    for (const x of file.extensions) this.symbols.set(x.typeName, file);
    for (const s of file.services) {
      this.symbols.set(s.typeName, file);
      for (const m of s.methods) this.symbols.set(`${s.typeName}.${m.name}`, file);
    }
  }

  /** The file and all its transitive dependencies, the file itself first. */
  private withDependencies(file: DescFile): Uint8Array[] {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const visit = (f: DescFile) => {
      const n = fileName(f);
      if (seen.has(n)) return;
      seen.add(n);
      out.push(this.encoded.get(n)!);
      for (const d of f.dependencies) visit(d);
    };
    visit(file);
    return out;
  }

  answer(req: ServerReflectionRequest): ServerReflectionResponse {
    const base = { validHost: req.host, originalRequest: req };
    const error = (code: Code, message: string): ServerReflectionResponse =>
      create(ResponseV1, {
        ...base,
        messageResponse: {
          case: "errorResponse",
          value: { errorCode: code, errorMessage: message },
        },
      });
    const files = (file: DescFile): ServerReflectionResponse =>
      create(ResponseV1, {
        ...base,
        messageResponse: {
          case: "fileDescriptorResponse",
          value: { fileDescriptorProto: this.withDependencies(file) },
        },
      });
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return create(ResponseV1, {
          ...base,
          messageResponse: {
            case: "listServicesResponse",
            value: { service: this.serviceNames.map((name) => ({ name })) },
          },
        });
      case "fileByFilename": {
        const f = this.files.get(r.value);
        return f ? files(f) : error(Code.NotFound, `file not found: ${r.value}`);
      }
      case "fileContainingSymbol": {
        const symbol = r.value.replace(/^\./, "");
        const f = this.symbols.get(symbol);
        return f ? files(f) : error(Code.NotFound, `symbol not found: ${symbol}`);
      }
      case "fileContainingExtension": {
        const t = r.value.containingType.replace(/^\./, "");
        return error(
          Code.NotFound,
          `no extension ${r.value.extensionNumber} of ${t} (this server defines no extensions)`,
        );
      }
      case "allExtensionNumbersOfType": {
        const t = r.value.replace(/^\./, "");
        if (!this.messages.has(t)) return error(Code.NotFound, `message type not found: ${t}`);
        return create(ResponseV1, {
          ...base,
          messageResponse: {
            case: "allExtensionNumbersResponse",
            value: { baseTypeName: t, extensionNumber: [] },
          },
        });
      }
      default:
        return error(Code.InvalidArgument, "message_request: one of its fields is required");
    }
  }
}

function fileName(f: DescFile): string {
  return f.proto.name;
}

export function reflectionV1(index: ReflectionIndex): ServiceImpl<typeof ServerReflectionV1> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield index.answer(req);
    },
  };
}

/** v1alpha has the same wire format as v1: translate through the binary encoding. */
export function reflectionV1Alpha(
  index: ReflectionIndex,
): ServiceImpl<typeof ServerReflectionV1Alpha> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        const v1 = fromBinary(RequestV1, toBinary(RequestV1Alpha, req));
        yield fromBinary(ResponseV1Alpha, toBinary(ResponseV1, index.answer(v1)));
      }
    },
  };
}
