"""The gateway's hooks into the audit trail (audit/): one cheap ``submit`` per request.

The request path hands over references (the raw body, the validated houses, the
predictions); the record is built by the writer's background task, never while the
caller waits.
"""

from __future__ import annotations

import time
from functools import partial

import pandas as pd
from fastapi import Request

from audit.records import frame_record, request_record
from audit.writer import AuditWriter, open_trail
from core.settings import CoreSettings
from gateway.deps import request_owner
from ml.card import ModelCard
from ml.contract import HouseFeatures, Prediction


def open_audit_writer(core: CoreSettings) -> AuditWriter | None:
    """The gateway process's audit writer (a stream of its own), or None when disabled."""
    if not core.audit_enabled:
        return None
    trail = open_trail(
        core.resolved_audit_url(),
        service="gateway",
        key=core.audit_key_bytes(),
        rotate_bytes=core.audit_rotate_bytes,
    )
    return AuditWriter(
        trail,
        flush_records=core.audit_flush_records,
        flush_seconds=core.audit_flush_seconds,
        max_buffer=core.audit_max_buffer,
    )


def audit_request(
    request: Request, kind: str, features: list[HouseFeatures], predictions: list[Prediction]
) -> None:
    """Queue the record of a /v1 request (``predict`` or ``batch``)."""
    writer: AuditWriter | None = getattr(request.app.state, "audit", None)
    if writer is None or not predictions:
        return
    writer.submit(
        partial(
            request_record,
            kind=kind,
            owner=request_owner(request),
            at=time.time(),
            body=getattr(request, "_body", b""),  # the body the route already read
            features=features,
            predictions=predictions,
        )
    )


def audit_frame(
    request: Request,
    *,
    frame: pd.DataFrame,
    scored: pd.DataFrame,
    categories: pd.DataFrame,
    version: str,
    card: ModelCard,
    prediction_ids: list[str],
) -> None:
    """Queue the record of rows scored as a frame (/v2 infer)."""
    writer: AuditWriter | None = getattr(request.app.state, "audit", None)
    if writer is None:
        return
    writer.submit(
        partial(
            frame_record,
            kind="v2",
            owner=request_owner(request),
            at=time.time(),
            version=version,
            level=card.interval.level,
            frame=frame,
            scored=scored,
            categories=categories,
            prediction_ids=prediction_ids,
        )
    )
