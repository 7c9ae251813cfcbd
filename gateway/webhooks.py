"""A job's webhook URL as the gateway takes it: checked at creation, refused with a 422."""

from __future__ import annotations

from core.settings import CoreSettings
from gateway.errors import ProblemError
from jobs.webhook_targets import WebhookPolicy, WebhookUrlError, check_webhook_url


async def validated_webhook_url(url: str | None, core: CoreSettings) -> str | None:
    """``url`` if a notice may go there (None stays None); else 422 problem details.

    Every job-creation body (multipart, text/csv with the query parameter, JSON) calls this.
    """
    if url is None or not url.strip():
        return None
    try:
        target = await check_webhook_url(url, WebhookPolicy.from_settings(core))
    except WebhookUrlError as exc:
        raise ProblemError(
            422,
            str(exc),
            kind="validation",
            title="Invalid request",
            errors=[{"field": "webhook_url", "message": str(exc)}],
        ) from None
    return target.url
