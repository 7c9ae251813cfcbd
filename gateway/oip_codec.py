"""The Open Inference Protocol's wire format: JSON, binary tensors and compressed bodies.

A request is JSON, or (the binary tensor data extension, which tritonclient uses by
default) JSON of ``Inference-Header-Content-Length`` bytes followed by the raw tensors
of the inputs whose ``parameters.binary_data_size`` says so, in input order. Numbers are
little-endian; each ``BYTES`` element is a 4-byte little-endian length and its bytes.
A body may be compressed (``Content-Encoding: gzip`` or ``deflate``); it is inflated up to
the gateway's body limit. A response is JSON unless the request asked for binary outputs
(``parameters.binary_data_output``, or ``binary_data`` on a requested output).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

HEADER_LENGTH = "Inference-Header-Content-Length"
NUMERIC_DTYPES: dict[str, str] = {
    "FP64": "<f8",
    "FP32": "<f4",
    "FP16": "<f2",
    "INT64": "<i8",
    "INT32": "<i4",
    "INT16": "<i2",
    "INT8": "i1",
    "UINT64": "<u8",
    "UINT32": "<u4",
    "UINT16": "<u2",
    "UINT8": "u1",
}
_INFLATE = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}
_LENGTH = struct.Struct("<I")
SEND_JSON = (
    "send the request as JSON, or as a JSON header followed by binary tensors with the "
    f"{HEADER_LENGTH} header (the binary tensor data extension)"
)


class ProtocolError(Exception):
    """A request the protocol answers with an error (400 unless ``status`` says otherwise)."""

    def __init__(
        self, message: str, errors: list[dict[str, Any]] | None = None, *, status: int = 400
    ) -> None:
        super().__init__(message)
        self.errors = errors
        self.status = status


@dataclass(frozen=True)
class InferRequest:
    """A decoded request: its JSON header and the binary tensors that followed it."""

    body: dict[str, Any]
    binary: bytes


def decode_request(raw: bytes, headers: Mapping[str, str], *, limit: int) -> InferRequest:
    """The request's JSON and binary part, inflated first when it is compressed."""
    raw = _inflate(raw, headers.get("content-encoding"), limit=limit)
    length = headers.get(HEADER_LENGTH.lower())
    if length is None:
        return InferRequest(json_body(raw), b"")
    if not length.isdigit() or int(length) > len(raw):
        raise ProtocolError(f"{HEADER_LENGTH} must be a byte count within the body")
    return InferRequest(json_body(raw[: int(length)]), raw[int(length) :])


def json_body(raw: bytes) -> dict[str, Any]:
    """The request's JSON object, which must hold an ``inputs`` list."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"the body is not valid JSON: {SEND_JSON}") from None
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise ProtocolError("the body must be an object with an 'inputs' list")
    if not isinstance(body.get("id", ""), str):
        raise ProtocolError("the request's 'id' must be a string")
    if not isinstance(body.get("outputs", []), list):
        raise ProtocolError("'outputs' must be a list of the outputs wanted")
    if not isinstance(body.get("parameters", {}), dict):
        raise ProtocolError("'parameters' must be an object")
    return body


class BinaryReader:
    """Hands out the binary part of a request, tensor by tensor, in input order."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def take(self, name: str, size: Any, datatype: str, count: int) -> list[Any]:
        """The next ``size`` bytes as ``count`` values of ``datatype``."""
        if not isinstance(size, int) or size < 0 or self._offset + size > len(self._data):
            raise ProtocolError(f"{name}: binary_data_size must be a byte count within the body")
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        if datatype == "BYTES":
            return _strings(name, chunk, count)
        dtype = NUMERIC_DTYPES.get(datatype)
        if dtype is None:
            raise ProtocolError(f"{name}: binary data of datatype {datatype!r} is not supported")
        if size != count * np.dtype(dtype).itemsize:
            raise ProtocolError(f"{name}: {size} bytes do not hold {count} {datatype} values")
        values: list[Any] = np.frombuffer(chunk, dtype=dtype).astype(np.float64).tolist()
        return values

    def check_used(self) -> None:
        """Refuse bytes that no input claimed (a client and server out of step)."""
        if self._offset != len(self._data):
            raise ProtocolError(
                f"{len(self._data) - self._offset} bytes after the tensors belong to no input"
            )


def wants_binary(body: Mapping[str, Any], output: str) -> bool:
    """Whether the client asked for ``output`` as binary data."""
    default = _flag(body.get("parameters"), "binary_data_output")
    requested_outputs = body.get("outputs")
    for requested in requested_outputs if isinstance(requested_outputs, list) else []:
        if isinstance(requested, dict) and requested.get("name") == output:
            parameters = requested.get("parameters")
            if isinstance(parameters, dict) and "binary_data" in parameters:
                return _flag(parameters, "binary_data")
    return default


def encode_response(
    head: dict[str, Any], outputs: list[tuple[str, str, list[Any], bool]]
) -> tuple[bytes, dict[str, str]]:
    """The response body and headers; ``outputs`` are ``(name, datatype, values, binary)``."""
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, datatype, values, binary in outputs:
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": [len(values)]}
        if binary:
            blob = _encode(datatype, values)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = values
        tensors.append(tensor)
    text = json.dumps({**head, "outputs": tensors}, allow_nan=False).encode()
    if not blobs:
        return text, {"content-type": "application/json"}
    headers = {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(text))}
    return text + b"".join(blobs), headers


def _encode(datatype: str, values: list[Any]) -> bytes:
    if datatype == "BYTES":
        parts = [str(v).encode() for v in values]
        return b"".join(_LENGTH.pack(len(p)) + p for p in parts)
    return np.asarray(values, dtype=NUMERIC_DTYPES[datatype]).tobytes()


def _strings(name: str, chunk: bytes, count: int) -> list[Any]:
    values: list[Any] = []
    offset = 0
    while offset < len(chunk):
        if offset + _LENGTH.size > len(chunk):
            raise ProtocolError(f"{name}: a BYTES element is cut short")
        (size,) = _LENGTH.unpack_from(chunk, offset)
        offset += _LENGTH.size
        if offset + size > len(chunk):
            raise ProtocolError(f"{name}: a BYTES element is cut short")
        try:
            values.append(chunk[offset : offset + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(f"{name}: BYTES elements must be UTF-8 text") from None
        offset += size
    if len(values) != count:
        raise ProtocolError(f"{name}: {len(values)} BYTES elements where the shape says {count}")
    return values


def _inflate(raw: bytes, encoding: str | None, *, limit: int) -> bytes:
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        return raw
    wbits = _INFLATE.get(name)
    if wbits is None:
        raise ProtocolError(
            f"Content-Encoding {name!r} is not supported; send gzip, deflate or none", status=415
        )
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise ProtocolError(f"the body is not valid {name} data") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise ProtocolError(f"the body inflates to more than {limit:,} bytes", status=413)
    return data


def _flag(parameters: Any, name: str) -> bool:
    return isinstance(parameters, dict) and parameters.get(name) is True
