from cforch.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GpuProfile(_message.Message):
    __slots__ = ("name", "vendor", "architecture", "vram_gb", "vram_mb", "fp16", "bf16", "int8", "int4", "fp8", "max_batch", "compute_capability", "memory_bandwidth_gbs", "unified_memory", "form_factor", "aliases", "source")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    VRAM_GB_FIELD_NUMBER: _ClassVar[int]
    VRAM_MB_FIELD_NUMBER: _ClassVar[int]
    FP16_FIELD_NUMBER: _ClassVar[int]
    BF16_FIELD_NUMBER: _ClassVar[int]
    INT8_FIELD_NUMBER: _ClassVar[int]
    INT4_FIELD_NUMBER: _ClassVar[int]
    FP8_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BANDWIDTH_GBS_FIELD_NUMBER: _ClassVar[int]
    UNIFIED_MEMORY_FIELD_NUMBER: _ClassVar[int]
    FORM_FACTOR_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    vendor: str
    architecture: str
    vram_gb: float
    vram_mb: int
    fp16: bool
    bf16: bool
    int8: bool
    int4: bool
    fp8: bool
    max_batch: int
    compute_capability: str
    memory_bandwidth_gbs: float
    unified_memory: bool
    form_factor: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    source: str
    def __init__(self, name: _Optional[str] = ..., vendor: _Optional[str] = ..., architecture: _Optional[str] = ..., vram_gb: _Optional[float] = ..., vram_mb: _Optional[int] = ..., fp16: _Optional[bool] = ..., bf16: _Optional[bool] = ..., int8: _Optional[bool] = ..., int4: _Optional[bool] = ..., fp8: _Optional[bool] = ..., max_batch: _Optional[int] = ..., compute_capability: _Optional[str] = ..., memory_bandwidth_gbs: _Optional[float] = ..., unified_memory: _Optional[bool] = ..., form_factor: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., source: _Optional[str] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ("name", "vram_mb_hint")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VRAM_MB_HINT_FIELD_NUMBER: _ClassVar[int]
    name: str
    vram_mb_hint: int
    def __init__(self, name: _Optional[str] = ..., vram_mb_hint: _Optional[int] = ...) -> None: ...

class GetProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: GpuProfile
    def __init__(self, profile: _Optional[_Union[GpuProfile, _Mapping]] = ...) -> None: ...

class GpuProfileNotFound(_message.Message):
    __slots__ = ("name", "suggestions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    suggestions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., suggestions: _Optional[_Iterable[str]] = ...) -> None: ...

class ListProfilesRequest(_message.Message):
    __slots__ = ("vendor",)
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    vendor: str
    def __init__(self, vendor: _Optional[str] = ...) -> None: ...

class ListProfilesResponse(_message.Message):
    __slots__ = ("profiles",)
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[GpuProfile]
    def __init__(self, profiles: _Optional[_Iterable[_Union[GpuProfile, _Mapping]]] = ...) -> None: ...

class CheckFitRequest(_message.Message):
    __slots__ = ("gpu_name", "gpu_id", "params_billions", "context_length")
    GPU_NAME_FIELD_NUMBER: _ClassVar[int]
    GPU_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_BILLIONS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    gpu_name: str
    gpu_id: str
    params_billions: float
    context_length: int
    def __init__(self, gpu_name: _Optional[str] = ..., gpu_id: _Optional[str] = ..., params_billions: _Optional[float] = ..., context_length: _Optional[int] = ...) -> None: ...

class PrecisionFit(_message.Message):
    __slots__ = ("precision", "supported", "required_gb", "headroom_gb", "fits")
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_GB_FIELD_NUMBER: _ClassVar[int]
    HEADROOM_GB_FIELD_NUMBER: _ClassVar[int]
    FITS_FIELD_NUMBER: _ClassVar[int]
    precision: _common_pb2.Precision
    supported: bool
    required_gb: float
    headroom_gb: float
    fits: bool
    def __init__(self, precision: _Optional[_Union[_common_pb2.Precision, str]] = ..., supported: _Optional[bool] = ..., required_gb: _Optional[float] = ..., headroom_gb: _Optional[float] = ..., fits: _Optional[bool] = ...) -> None: ...

class CheckFitResponse(_message.Message):
    __slots__ = ("profile", "fits", "formula")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    FITS_FIELD_NUMBER: _ClassVar[int]
    FORMULA_FIELD_NUMBER: _ClassVar[int]
    profile: GpuProfile
    fits: _containers.RepeatedCompositeFieldContainer[PrecisionFit]
    formula: str
    def __init__(self, profile: _Optional[_Union[GpuProfile, _Mapping]] = ..., fits: _Optional[_Iterable[_Union[PrecisionFit, _Mapping]]] = ..., formula: _Optional[str] = ...) -> None: ...
