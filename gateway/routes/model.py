"""The serving model: its card, and an admin reload that follows the registry alias now."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from gateway.deps import AdminDep, HolderDep, PredictorDep, get_caller
from gateway.experiment import Experiment
from gateway.openapi import problem_responses
from ml.alias_history import AliasEvent
from ml.card import ModelCard

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
    challenger_version: str | None = None


@router.get("", summary="The serving model's card")
async def model_card(predictor: PredictorDep) -> ModelCard:
    """Version, training date, data, metrics against the gates, categories, importances."""
    return predictor.card


@router.get("/history", summary="Every alias move: challengers, promotions, rollbacks")
async def model_history(request: Request) -> list[AliasEvent]:
    """The alias history (oldest first): what moved, when, why, by which rule or person.

    Versions the gates rejected are listed too (they move no alias). Read from the MLflow
    registry, where the aliases live.
    """
    from ml.registry import alias_history

    core = request.app.state.settings.core
    return await asyncio.to_thread(
        alias_history, tracking_uri=core.resolved_tracking_uri(), name=core.registered_model
    )


@router.post(
    "/reload",
    summary="Follow the registry alias now (admin key)",
    responses=problem_responses(403),
)
async def reload_model(request: Request, holder: HolderDep, caller: AdminDep) -> ReloadResult:
    """Resolve the aliases (champion, and challenger unless the mode is off) and swap in
    what moved; ``challenger_version`` is the version on trial, if any."""
    swapped = await holder.refresh()
    experiment: Experiment = request.app.state.experiment
    if experiment.mode != "off":
        swapped = await experiment.challenger.refresh() or swapped
    status = holder.status()
    return ReloadResult(
        swapped=swapped,
        model_version=status.version,
        last_error=status.last_error,
        challenger_version=experiment.challenger_version(),
    )
