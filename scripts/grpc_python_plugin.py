"""protoc plugin: CodeGeneratorRequest on stdin -> grpcio stubs via grpc_tools.protoc.

The request's descriptors are written to a temporary descriptor set and compiled with
--grpc_python_out, so the output is byte-identical to running grpc_tools.protoc directly.
"""
import os
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def main() -> int:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    with tempfile.TemporaryDirectory() as tmp:
        descriptor_set = descriptor_pb2.FileDescriptorSet(file=request.proto_file)
        set_path = os.path.join(tmp, "in.binpb")
        with open(set_path, "wb") as f:
            f.write(descriptor_set.SerializeToString())
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        args = ["grpc_tools.protoc", f"--descriptor_set_in={set_path}", f"--grpc_python_out={out}"]
        args += list(request.file_to_generate)
        if protoc.main(args) != 0:
            response.error = "grpc_tools.protoc failed for " + ", ".join(request.file_to_generate)
        else:
            for root, _, files in os.walk(out):
                for name in sorted(files):
                    path = os.path.join(root, name)
                    with open(path, encoding="utf-8") as f:
                        response.file.add(name=os.path.relpath(path, out), content=f.read())
    sys.stdout.buffer.write(response.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
