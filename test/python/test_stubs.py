"""The generated Python stubs import, describe the API, and can build every request."""
import importlib

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

MODULES = ["common", "lease", "eviction", "profile", "cluster"]
SERVICES = {
    "lease": ("LeaseService", {"Acquire", "Release", "KeepAlive", "GetLease", "ListLeases"}),
    "eviction": ("EvictionService", {"Session"}),
    "profile": ("GpuProfileService", {"GetProfile", "ListProfiles", "CheckFit"}),
    "cluster": ("ClusterService", {"GetStatus", "WatchStatus", "RegisterNode", "ReportUsage"}),
}


def pb2(name):
    return importlib.import_module(f"cforch.v1.{name}_pb2")


def grpc_module(name):
    return importlib.import_module(f"cforch.v1.{name}_pb2_grpc")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_descriptor_and_stub(name):
    service_name, methods = SERVICES[name]
    service = pb2(name).DESCRIPTOR.services_by_name[service_name]
    assert {m.name for m in service.methods} == methods
    stub_class = getattr(grpc_module(name), f"{service_name}Stub")
    channel = grpc.insecure_channel("127.0.0.1:1")  # never connected: stubs are lazy
    try:
        stub = stub_class(channel)
        for method in methods:
            assert callable(getattr(stub, method))
    finally:
        channel.close()


def fill(message, depth=0):
    """Sets every field of a message to a non-default value, recursing into sub-messages."""
    for field in message.DESCRIPTOR.fields:
        if field.containing_oneof is not None and message.WhichOneof(field.containing_oneof.name):
            continue  # one member of each oneof
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth > 3:
                continue
            target = getattr(message, field.name).add() if repeated else getattr(message, field.name)
            if field.message_type.full_name == "google.protobuf.Timestamp":
                target.seconds = 1_700_000_000
            else:
                fill(target, depth + 1)
                if not repeated:
                    getattr(message, field.name).SetInParent()
            continue
        if field.type == FieldDescriptor.TYPE_ENUM:
            value = field.enum_type.values[-1].number
        elif field.type == FieldDescriptor.TYPE_STRING:
            value = f"{field.name}-x"
        elif field.type == FieldDescriptor.TYPE_BOOL:
            value = True
        elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            value = 1.5
        elif field.type == FieldDescriptor.TYPE_BYTES:
            value = b"x"
        else:
            value = 7
        if repeated:
            getattr(message, field.name).append(value)
        else:
            setattr(message, field.name, value)


def all_request_classes():
    for name in MODULES:
        module = pb2(name)
        for message_name in module.DESCRIPTOR.message_types_by_name:
            if message_name.endswith("Request"):
                yield pytest.param(getattr(module, message_name), id=f"{name}.{message_name}")


@pytest.mark.parametrize("cls", list(all_request_classes()))
def test_every_request_message_builds_and_round_trips(cls):
    message = cls()
    fill(message)
    wire = message.SerializeToString()
    assert cls.FromString(wire) == message
    as_json = json_format.MessageToJson(message)
    assert json_format.Parse(as_json, cls()) == message


def test_there_are_requests_for_every_rpc():
    requests = {p.id for p in all_request_classes()}
    assert len(requests) >= 15, requests


def test_acquire_request_as_a_product_would_write_it():
    common, lease = pb2("common"), pb2("lease")
    request = lease.AcquireRequest(
        request_id="req-1",
        slot=common.Slot(
            service="peregrine",
            task_type="vision",
            vram_mb=4096,
            priority=common.PRIORITY_CLASS_HIGH,
            constraints=common.Constraints(requires=[common.PRECISION_BF16]),
        ),
        ttl_ms=30_000,
    )
    decoded = lease.AcquireRequest.FromString(request.SerializeToString())
    assert decoded.slot.vram_mb == 4096
    assert decoded.slot.priority == common.PRIORITY_CLASS_HIGH
    assert list(decoded.slot.constraints.requires) == [common.PRECISION_BF16]
