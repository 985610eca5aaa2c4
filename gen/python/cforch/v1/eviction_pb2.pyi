import datetime

from cforch.v1 import common_pb2 as _common_pb2
from cforch.v1 import lease_pb2 as _lease_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionRequest(_message.Message):
    __slots__ = ("hello", "register", "unregister", "checkpointed", "refused", "heartbeat")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    UNREGISTER_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    register: Register
    unregister: Unregister
    checkpointed: Checkpointed
    refused: Refused
    heartbeat: Heartbeat
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., register: _Optional[_Union[Register, _Mapping]] = ..., unregister: _Optional[_Union[Unregister, _Mapping]] = ..., checkpointed: _Optional[_Union[Checkpointed, _Mapping]] = ..., refused: _Optional[_Union[Refused, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("welcome", "checkpoint", "resume", "heartbeat", "registered", "error", "lost")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LOST_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    checkpoint: CheckpointRequest
    resume: ResumeNotice
    heartbeat: Heartbeat
    registered: Registered
    error: SessionError
    lost: LeaseLost
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., checkpoint: _Optional[_Union[CheckpointRequest, _Mapping]] = ..., resume: _Optional[_Union[ResumeNotice, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., registered: _Optional[_Union[Registered, _Mapping]] = ..., error: _Optional[_Union[SessionError, _Mapping]] = ..., lost: _Optional[_Union[LeaseLost, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("holder_id", "service")
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    holder_id: str
    service: str
    def __init__(self, holder_id: _Optional[str] = ..., service: _Optional[str] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("heartbeat_interval_ms", "leases")
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_ms: int
    leases: _containers.RepeatedCompositeFieldContainer[_lease_pb2.Lease]
    def __init__(self, heartbeat_interval_ms: _Optional[int] = ..., leases: _Optional[_Iterable[_Union[_lease_pb2.Lease, _Mapping]]] = ...) -> None: ...

class Register(_message.Message):
    __slots__ = ("lease_id", "work_lost_ms")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    WORK_LOST_MS_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    work_lost_ms: int
    def __init__(self, lease_id: _Optional[str] = ..., work_lost_ms: _Optional[int] = ...) -> None: ...

class Unregister(_message.Message):
    __slots__ = ("lease_id",)
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    def __init__(self, lease_id: _Optional[str] = ...) -> None: ...

class Registered(_message.Message):
    __slots__ = ("lease",)
    LEASE_FIELD_NUMBER: _ClassVar[int]
    lease: _lease_pb2.Lease
    def __init__(self, lease: _Optional[_Union[_lease_pb2.Lease, _Mapping]] = ...) -> None: ...

class Checkpointed(_message.Message):
    __slots__ = ("lease_id",)
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    def __init__(self, lease_id: _Optional[str] = ...) -> None: ...

class Refused(_message.Message):
    __slots__ = ("lease_id", "reason")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    reason: str
    def __init__(self, lease_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("sent_at",)
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CheckpointRequest(_message.Message):
    __slots__ = ("lease_id", "deadline", "preemptor_request_id", "preemptor_service", "preemptor_priority")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PREEMPTOR_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PREEMPTOR_SERVICE_FIELD_NUMBER: _ClassVar[int]
    PREEMPTOR_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    deadline: _timestamp_pb2.Timestamp
    preemptor_request_id: str
    preemptor_service: str
    preemptor_priority: _common_pb2.PriorityClass
    def __init__(self, lease_id: _Optional[str] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., preemptor_request_id: _Optional[str] = ..., preemptor_service: _Optional[str] = ..., preemptor_priority: _Optional[_Union[_common_pb2.PriorityClass, str]] = ...) -> None: ...

class ResumeNotice(_message.Message):
    __slots__ = ("lease",)
    LEASE_FIELD_NUMBER: _ClassVar[int]
    lease: _lease_pb2.Lease
    def __init__(self, lease: _Optional[_Union[_lease_pb2.Lease, _Mapping]] = ...) -> None: ...

class LeaseLost(_message.Message):
    __slots__ = ("lease_id", "reason")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    reason: str
    def __init__(self, lease_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SessionError(_message.Message):
    __slots__ = ("lease_id", "code", "message")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    code: str
    message: str
    def __init__(self, lease_id: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
