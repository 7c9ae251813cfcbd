"""Which version answers a live request, and which one is scored in its shadow.

The gateway holds the champion and, when the registry's ``challenger`` alias names another
version, that one too (two ``ModelHolder``s, each following its alias). Per request:

- ``off`` (or no challenger): the champion answers; nothing else happens.
- ``shadow``: the champion answers; the challenger prices the same house *after* the
  response, in the prediction log's flush (``gateway.prediction_log``), so the response
  and its latency never depend on it.
- ``ab``: a sticky share of callers (``ab_challenger_weight``) is answered by the
  challenger, the rest by the champion; the version that did not answer is scored in
  shadow, so A/B traffic also yields paired errors. Stickiness is a hash of the caller
  (API key and end user) salted with the challenger's version: one user always sees the
  same version during a trial, and each new trial draws its own sample of users.

The response names the version that answered (``model_version``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from gateway.deps import request_owner, serving_predictor
from gateway.model_holder import ModelHolder
from ml.predict import Predictor
from observability.metrics import record_arm

Arm = Literal["champion", "challenger"]
Mode = Literal["off", "shadow", "ab"]
CHAMPION: Arm = "champion"
CHALLENGER: Arm = "challenger"
_SCALE = float(1 << 64)


@dataclass(frozen=True, slots=True)
class Assignment:
    """The version that answers, its arm, and the version to score in its shadow (if any)."""

    answer: Predictor
    arm: Arm
    shadow: Predictor | None = None


class Experiment:
    """The champion/challenger split of live traffic, read per request."""

    def __init__(
        self, champion: ModelHolder, challenger: ModelHolder, *, mode: Mode, weight: float
    ) -> None:
        self.champion = champion
        self.challenger = challenger
        self.mode = mode
        self.weight = weight

    def assign(self, request: Request) -> Assignment:
        """Choose for this request (503 problem without a champion); counts the arm."""
        champion = serving_predictor(request)
        challenger = self.challenger.current
        if self.mode == "off" or challenger is None or challenger.version == champion.version:
            assignment = Assignment(champion, CHAMPION)
        elif self.mode == "ab" and in_challenger_arm(
            request_owner(request), str(challenger.version), self.weight
        ):
            request.state.model_version = challenger.version  # for the request log line
            assignment = Assignment(challenger, CHALLENGER, shadow=champion)
        else:
            assignment = Assignment(champion, CHAMPION, shadow=challenger)
        return assignment

    def challenger_version(self) -> str | None:
        """The version on trial, when it differs from the champion and the mode uses it."""
        challenger, champion = self.challenger.current, self.champion.current
        if self.mode == "off" or challenger is None:
            return None
        if champion is not None and challenger.version == champion.version:
            return None
        return str(challenger.version)


def in_challenger_arm(owner: str, challenger_version: str, weight: float) -> bool:
    """Whether ``owner`` (``key`` or ``key/end-user``) falls in the challenger's share."""
    if weight <= 0.0:
        return False
    digest = hashlib.blake2b(f"{challenger_version}|{owner}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE < weight


def reusing_loader(
    load: Callable[[str], Predictor], *holders: Callable[[], Predictor | None]
) -> Callable[[str], Predictor]:
    """A loader that takes a version another holder already serves (a promotion swaps the
    challenger's object in as champion instead of loading it again)."""

    def loader(uri: str) -> Predictor:
        wanted = uri.rsplit("/", 1)[-1]
        for current in holders:
            predictor = current()
            if predictor is not None and str(predictor.version) == wanted:
                return predictor
        return load(uri)

    return loader


def count_arm(assignment: Assignment, count: int = 1) -> None:
    """Count the houses an arm answered (Prometheus ``arm_predictions_total``)."""
    record_arm(arm=assignment.arm, model_version=str(assignment.answer.version), count=count)
