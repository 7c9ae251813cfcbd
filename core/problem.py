"""RFC 9457 problem details: the one error shape the gateway sends and the web app reads.

Here, in the leaf package, because both sides need the same definition and neither may
import the other: the gateway renders errors with it (``gateway.errors``), the web app
reads every failed answer into it (``webui.api``). Pydantic only.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    """One field (or row) that broke the contract."""

    field: str | None = Field(
        default=None, description="Dotted path of the field, e.g. 'rows.3.sqft'."
    )
    message: str
    suggestion: str | None = Field(
        default=None, description="The known name a near-miss category was probably meant as."
    )


class Problem(BaseModel):
    """An RFC 9457 problem details document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)
