import datetime

from cforch.v1 import common_pb2 as _common_pb2
from cforch.v1 import lease_pb2 as _lease_pb2
from cforch.v1 import profile_pb2 as _profile_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvictionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVICTION_STATE_UNSPECIFIED: _ClassVar[EvictionState]
    EVICTION_STATE_REQUESTED: _ClassVar[EvictionState]
    EVICTION_STATE_CHECKPOINTED: _ClassVar[EvictionState]
EVICTION_STATE_UNSPECIFIED: EvictionState
EVICTION_STATE_REQUESTED: EvictionState
EVICTION_STATE_CHECKPOINTED: EvictionState

class GpuStatus(_message.Message):
    __slots__ = ("gpu_id", "node", "index", "name", "uuid", "capacity_mb", "leased_mb", "reserved_mb", "measured_mb", "unaccounted_mb", "free_mb", "profile")
    GPU_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_MB_FIELD_NUMBER: _ClassVar[int]
    LEASED_MB_FIELD_NUMBER: _ClassVar[int]
    RESERVED_MB_FIELD_NUMBER: _ClassVar[int]
    MEASURED_MB_FIELD_NUMBER: _ClassVar[int]
    UNACCOUNTED_MB_FIELD_NUMBER: _ClassVar[int]
    FREE_MB_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    gpu_id: str
    node: str
    index: int
    name: str
    uuid: str
    capacity_mb: int
    leased_mb: int
    reserved_mb: int
    measured_mb: int
    unaccounted_mb: int
    free_mb: int
    profile: _profile_pb2.GpuProfile
    def __init__(self, gpu_id: _Optional[str] = ..., node: _Optional[str] = ..., index: _Optional[int] = ..., name: _Optional[str] = ..., uuid: _Optional[str] = ..., capacity_mb: _Optional[int] = ..., leased_mb: _Optional[int] = ..., reserved_mb: _Optional[int] = ..., measured_mb: _Optional[int] = ..., unaccounted_mb: _Optional[int] = ..., free_mb: _Optional[int] = ..., profile: _Optional[_Union[_profile_pb2.GpuProfile, _Mapping]] = ...) -> None: ...

class QueuedRequest(_message.Message):
    __slots__ = ("status", "slot", "holder_id", "paused_lease_id")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    PAUSED_LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    status: _lease_pb2.QueueStatus
    slot: _common_pb2.Slot
    holder_id: str
    paused_lease_id: str
    def __init__(self, status: _Optional[_Union[_lease_pb2.QueueStatus, _Mapping]] = ..., slot: _Optional[_Union[_common_pb2.Slot, _Mapping]] = ..., holder_id: _Optional[str] = ..., paused_lease_id: _Optional[str] = ...) -> None: ...

class Eviction(_message.Message):
    __slots__ = ("preemptor_request_id", "victim_lease_id", "victim_holder_id", "gpu_id", "vram_mb", "started_at", "deadline", "state")
    PREEMPTOR_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VICTIM_LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    VICTIM_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    GPU_ID_FIELD_NUMBER: _ClassVar[int]
    VRAM_MB_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    preemptor_request_id: str
    victim_lease_id: str
    victim_holder_id: str
    gpu_id: str
    vram_mb: int
    started_at: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    state: EvictionState
    def __init__(self, preemptor_request_id: _Optional[str] = ..., victim_lease_id: _Optional[str] = ..., victim_holder_id: _Optional[str] = ..., gpu_id: _Optional[str] = ..., vram_mb: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[EvictionState, str]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("gpus", "leases", "queue", "evictions", "now", "revision")
    GPUS_FIELD_NUMBER: _ClassVar[int]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    gpus: _containers.RepeatedCompositeFieldContainer[GpuStatus]
    leases: _containers.RepeatedCompositeFieldContainer[_lease_pb2.Lease]
    queue: _containers.RepeatedCompositeFieldContainer[QueuedRequest]
    evictions: _containers.RepeatedCompositeFieldContainer[Eviction]
    now: _timestamp_pb2.Timestamp
    revision: int
    def __init__(self, gpus: _Optional[_Iterable[_Union[GpuStatus, _Mapping]]] = ..., leases: _Optional[_Iterable[_Union[_lease_pb2.Lease, _Mapping]]] = ..., queue: _Optional[_Iterable[_Union[QueuedRequest, _Mapping]]] = ..., evictions: _Optional[_Iterable[_Union[Eviction, _Mapping]]] = ..., now: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class WatchStatusRequest(_message.Message):
    __slots__ = ("min_interval_ms",)
    MIN_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    min_interval_ms: int
    def __init__(self, min_interval_ms: _Optional[int] = ...) -> None: ...

class WatchStatusResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: GetStatusResponse
    def __init__(self, status: _Optional[_Union[GetStatusResponse, _Mapping]] = ...) -> None: ...

class GpuInfo(_message.Message):
    __slots__ = ("index", "name", "uuid", "memory_total_mb", "capacity_mb")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_MB_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_MB_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    uuid: str
    memory_total_mb: int
    capacity_mb: int
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., uuid: _Optional[str] = ..., memory_total_mb: _Optional[int] = ..., capacity_mb: _Optional[int] = ...) -> None: ...

class RegisterNodeRequest(_message.Message):
    __slots__ = ("node", "gpus")
    NODE_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    node: str
    gpus: _containers.RepeatedCompositeFieldContainer[GpuInfo]
    def __init__(self, node: _Optional[str] = ..., gpus: _Optional[_Iterable[_Union[GpuInfo, _Mapping]]] = ...) -> None: ...

class RegisterNodeResponse(_message.Message):
    __slots__ = ("gpus",)
    GPUS_FIELD_NUMBER: _ClassVar[int]
    gpus: _containers.RepeatedCompositeFieldContainer[GpuStatus]
    def __init__(self, gpus: _Optional[_Iterable[_Union[GpuStatus, _Mapping]]] = ...) -> None: ...

class GpuUsage(_message.Message):
    __slots__ = ("gpu_id", "used_mb")
    GPU_ID_FIELD_NUMBER: _ClassVar[int]
    USED_MB_FIELD_NUMBER: _ClassVar[int]
    gpu_id: str
    used_mb: int
    def __init__(self, gpu_id: _Optional[str] = ..., used_mb: _Optional[int] = ...) -> None: ...

class ReportUsageRequest(_message.Message):
    __slots__ = ("usage",)
    USAGE_FIELD_NUMBER: _ClassVar[int]
    usage: _containers.RepeatedCompositeFieldContainer[GpuUsage]
    def __init__(self, usage: _Optional[_Iterable[_Union[GpuUsage, _Mapping]]] = ...) -> None: ...

class ReportUsageResponse(_message.Message):
    __slots__ = ("gpus",)
    GPUS_FIELD_NUMBER: _ClassVar[int]
    gpus: _containers.RepeatedCompositeFieldContainer[GpuStatus]
    def __init__(self, gpus: _Optional[_Iterable[_Union[GpuStatus, _Mapping]]] = ...) -> None: ...
