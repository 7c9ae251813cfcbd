"""Batch job routes (placeholder until the batch-jobs work lands)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open what the job routes need (Redis, blob store) for the app's lifetime."""
    yield
