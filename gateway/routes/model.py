"""The serving model: its card, and an admin reload that follows the registry alias now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from gateway.deps import AdminDep, HolderDep, PredictorDep, get_caller
from gateway.openapi import problem_responses

router = APIRouter(
    prefix="/v1/model",
    tags=["model"],
    dependencies=[Depends(get_caller)],
    responses=problem_responses(401, 429, 503),
)


class ReloadResult(BaseModel):
    """What a reload found."""

    swapped: bool
    model_version: str | None
    last_error: str | None


@router.get("", summary="The serving model's card")
async def model_card(predictor: PredictorDep) -> dict[str, Any]:
    """Version, training date, data, metrics against the gates, categories, importances."""
    return {**predictor.card, "version": str(predictor.version)}


@router.post(
    "/reload",
    summary="Follow the registry alias now (admin key)",
    responses=problem_responses(403),
)
async def reload_model(holder: HolderDep, caller: AdminDep) -> ReloadResult:
    """Resolve the alias and, if it moved, load and swap in the new version."""
    swapped = await holder.refresh()
    status = holder.status()
    return ReloadResult(swapped=swapped, model_version=status.version, last_error=status.last_error)
