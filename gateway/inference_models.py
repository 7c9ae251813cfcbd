"""The Open Inference Protocol's (KServe V2) answers, as the /v2 routes send them.

Named so the OpenAPI document describes every /v2 response; the field names are the
protocol's, which tritonclient and the kserve SDK read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Datatype = Literal["FP64", "INT64", "BYTES"]


class _Protocol(BaseModel):
    model_config = ConfigDict(protected_namespaces=())  # model_name is the protocol's


class ServerLive(_Protocol):
    """``GET /v2/health/live``."""

    live: bool


class ServerReady(_Protocol):
    """``GET /v2/health/ready``."""

    ready: bool


class ServerMetadata(_Protocol):
    """``GET /v2``: the server's name, version and protocol extensions."""

    name: str
    version: str
    extensions: list[str]


class ModelReady(_Protocol):
    """Whether a model version is loaded and ready."""

    name: str
    ready: bool
    version: str


class TensorMetadata(_Protocol):
    """One input or output tensor of the model."""

    name: str
    datatype: Datatype
    shape: list[int]


class ModelMetadata(_Protocol):
    """Name, versions, platform and the input and output tensors of a model."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class OutputTensor(_Protocol):
    """One output tensor: values in ``data``, or their byte size when sent as binary data."""

    name: str
    datatype: Datatype
    shape: list[int]
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = Field(
        default=None, description="{'binary_data_size': n} when the tensor follows as bytes."
    )


class InferResponse(_Protocol):
    """The prices (and warnings) of the houses sent, with the prediction ids for feedback."""

    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, Any] = Field(description="{'prediction_ids': [...]}")
    outputs: list[OutputTensor]


# The binary data extension: the JSON header (its length in Inference-Header-Content-Length),
# then the tensors' bytes.
INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": InferResponse,
        "description": "The outputs as JSON, or with the binary data extension a JSON header "
        "followed by the tensors' bytes",
        "content": {"application/octet-stream": {"schema": {"type": "string"}}},
    }
}
