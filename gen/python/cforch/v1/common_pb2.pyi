from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PriorityClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_CLASS_UNSPECIFIED: _ClassVar[PriorityClass]
    PRIORITY_CLASS_BATCH: _ClassVar[PriorityClass]
    PRIORITY_CLASS_LOW: _ClassVar[PriorityClass]
    PRIORITY_CLASS_NORMAL: _ClassVar[PriorityClass]
    PRIORITY_CLASS_HIGH: _ClassVar[PriorityClass]
    PRIORITY_CLASS_CRITICAL: _ClassVar[PriorityClass]

class Precision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRECISION_UNSPECIFIED: _ClassVar[Precision]
    PRECISION_FP16: _ClassVar[Precision]
    PRECISION_BF16: _ClassVar[Precision]
    PRECISION_FP8: _ClassVar[Precision]
    PRECISION_INT8: _ClassVar[Precision]
    PRECISION_INT4: _ClassVar[Precision]
PRIORITY_CLASS_UNSPECIFIED: PriorityClass
PRIORITY_CLASS_BATCH: PriorityClass
PRIORITY_CLASS_LOW: PriorityClass
PRIORITY_CLASS_NORMAL: PriorityClass
PRIORITY_CLASS_HIGH: PriorityClass
PRIORITY_CLASS_CRITICAL: PriorityClass
PRECISION_UNSPECIFIED: Precision
PRECISION_FP16: Precision
PRECISION_BF16: Precision
PRECISION_FP8: Precision
PRECISION_INT8: Precision
PRECISION_INT4: Precision

class Constraints(_message.Message):
    __slots__ = ("gpu_id", "node", "requires")
    GPU_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_FIELD_NUMBER: _ClassVar[int]
    gpu_id: str
    node: str
    requires: _containers.RepeatedScalarFieldContainer[Precision]
    def __init__(self, gpu_id: _Optional[str] = ..., node: _Optional[str] = ..., requires: _Optional[_Iterable[_Union[Precision, str]]] = ...) -> None: ...

class Slot(_message.Message):
    __slots__ = ("service", "task_type", "vram_mb", "priority", "constraints")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    VRAM_MB_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    service: str
    task_type: str
    vram_mb: int
    priority: PriorityClass
    constraints: Constraints
    def __init__(self, service: _Optional[str] = ..., task_type: _Optional[str] = ..., vram_mb: _Optional[int] = ..., priority: _Optional[_Union[PriorityClass, str]] = ..., constraints: _Optional[_Union[Constraints, _Mapping]] = ...) -> None: ...
