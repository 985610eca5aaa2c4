import datetime

from cforch.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LeaseState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEASE_STATE_UNSPECIFIED: _ClassVar[LeaseState]
    LEASE_STATE_ACTIVE: _ClassVar[LeaseState]
    LEASE_STATE_CHECKPOINTING: _ClassVar[LeaseState]
    LEASE_STATE_PAUSED: _ClassVar[LeaseState]
    LEASE_STATE_RELEASED: _ClassVar[LeaseState]
    LEASE_STATE_EXPIRED: _ClassVar[LeaseState]

class WaitReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WAIT_REASON_UNSPECIFIED: _ClassVar[WaitReason]
    WAIT_REASON_NO_GPU_FREE: _ClassVar[WaitReason]
    WAIT_REASON_BEHIND_EARLIER: _ClassVar[WaitReason]
    WAIT_REASON_WAITING_FOR_EVICTION: _ClassVar[WaitReason]
    WAIT_REASON_PAUSED: _ClassVar[WaitReason]
LEASE_STATE_UNSPECIFIED: LeaseState
LEASE_STATE_ACTIVE: LeaseState
LEASE_STATE_CHECKPOINTING: LeaseState
LEASE_STATE_PAUSED: LeaseState
LEASE_STATE_RELEASED: LeaseState
LEASE_STATE_EXPIRED: LeaseState
WAIT_REASON_UNSPECIFIED: WaitReason
WAIT_REASON_NO_GPU_FREE: WaitReason
WAIT_REASON_BEHIND_EARLIER: WaitReason
WAIT_REASON_WAITING_FOR_EVICTION: WaitReason
WAIT_REASON_PAUSED: WaitReason

class Lease(_message.Message):
    __slots__ = ("lease_id", "request_id", "slot", "gpu_id", "node", "vram_mb", "state", "fencing_token", "granted_at", "expires_at", "ttl_ms", "holder_id", "evictable", "pause_count", "paused_at", "paused_by_request_id")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    GPU_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    VRAM_MB_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    EVICTABLE_FIELD_NUMBER: _ClassVar[int]
    PAUSE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PAUSED_AT_FIELD_NUMBER: _ClassVar[int]
    PAUSED_BY_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    request_id: str
    slot: _common_pb2.Slot
    gpu_id: str
    node: str
    vram_mb: int
    state: LeaseState
    fencing_token: int
    granted_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    ttl_ms: int
    holder_id: str
    evictable: bool
    pause_count: int
    paused_at: _timestamp_pb2.Timestamp
    paused_by_request_id: str
    def __init__(self, lease_id: _Optional[str] = ..., request_id: _Optional[str] = ..., slot: _Optional[_Union[_common_pb2.Slot, _Mapping]] = ..., gpu_id: _Optional[str] = ..., node: _Optional[str] = ..., vram_mb: _Optional[int] = ..., state: _Optional[_Union[LeaseState, str]] = ..., fencing_token: _Optional[int] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ttl_ms: _Optional[int] = ..., holder_id: _Optional[str] = ..., evictable: _Optional[bool] = ..., pause_count: _Optional[int] = ..., paused_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., paused_by_request_id: _Optional[str] = ...) -> None: ...

class QueueStatus(_message.Message):
    __slots__ = ("position", "vram_ahead_mb", "reason", "reason_text", "request_id", "enqueued_at")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    VRAM_AHEAD_MB_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REASON_TEXT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_AT_FIELD_NUMBER: _ClassVar[int]
    position: int
    vram_ahead_mb: int
    reason: WaitReason
    reason_text: str
    request_id: str
    enqueued_at: _timestamp_pb2.Timestamp
    def __init__(self, position: _Optional[int] = ..., vram_ahead_mb: _Optional[int] = ..., reason: _Optional[_Union[WaitReason, str]] = ..., reason_text: _Optional[str] = ..., request_id: _Optional[str] = ..., enqueued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AcquireRequest(_message.Message):
    __slots__ = ("request_id", "slot", "ttl_ms", "holder_id", "hold")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    slot: _common_pb2.Slot
    ttl_ms: int
    holder_id: str
    hold: bool
    def __init__(self, request_id: _Optional[str] = ..., slot: _Optional[_Union[_common_pb2.Slot, _Mapping]] = ..., ttl_ms: _Optional[int] = ..., holder_id: _Optional[str] = ..., hold: _Optional[bool] = ...) -> None: ...

class AcquireResponse(_message.Message):
    __slots__ = ("queued", "granted", "renewed")
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    RENEWED_FIELD_NUMBER: _ClassVar[int]
    queued: QueueStatus
    granted: Lease
    renewed: Lease
    def __init__(self, queued: _Optional[_Union[QueueStatus, _Mapping]] = ..., granted: _Optional[_Union[Lease, _Mapping]] = ..., renewed: _Optional[_Union[Lease, _Mapping]] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("lease_id", "request_id")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    request_id: str
    def __init__(self, lease_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("released", "already_released", "lease")
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RELEASED_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    released: bool
    already_released: bool
    lease: Lease
    def __init__(self, released: _Optional[bool] = ..., already_released: _Optional[bool] = ..., lease: _Optional[_Union[Lease, _Mapping]] = ...) -> None: ...

class KeepAliveRequest(_message.Message):
    __slots__ = ("lease_id",)
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    def __init__(self, lease_id: _Optional[str] = ...) -> None: ...

class KeepAliveResponse(_message.Message):
    __slots__ = ("lease",)
    LEASE_FIELD_NUMBER: _ClassVar[int]
    lease: Lease
    def __init__(self, lease: _Optional[_Union[Lease, _Mapping]] = ...) -> None: ...

class GetLeaseRequest(_message.Message):
    __slots__ = ("lease_id",)
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    def __init__(self, lease_id: _Optional[str] = ...) -> None: ...

class GetLeaseResponse(_message.Message):
    __slots__ = ("lease",)
    LEASE_FIELD_NUMBER: _ClassVar[int]
    lease: Lease
    def __init__(self, lease: _Optional[_Union[Lease, _Mapping]] = ...) -> None: ...

class ListLeasesRequest(_message.Message):
    __slots__ = ("service", "gpu_id", "holder_id")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    GPU_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    service: str
    gpu_id: str
    holder_id: str
    def __init__(self, service: _Optional[str] = ..., gpu_id: _Optional[str] = ..., holder_id: _Optional[str] = ...) -> None: ...

class ListLeasesResponse(_message.Message):
    __slots__ = ("leases",)
    LEASES_FIELD_NUMBER: _ClassVar[int]
    leases: _containers.RepeatedCompositeFieldContainer[Lease]
    def __init__(self, leases: _Optional[_Iterable[_Union[Lease, _Mapping]]] = ...) -> None: ...
