"""Single-row scoring of an XGBoost ensemble as a handful of numpy operations.

XGBoost's ``inplace_predict`` spends ~100 µs per call on setup (a proxy DMatrix, the
array interface, threads) before it walks a single tree, which dominates a one-row
request. Here every tree advances one level per step, all trees at once, so a 600-tree
depth-4 model costs a few vectorised gathers. Only plain numeric splits are supported;
``compile_booster`` returns None for anything else and the caller keeps the booster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TreeEnsemble:
    """All trees' nodes in flat arrays (children as flat indices); leaves point to themselves."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    depth: int
    base_margin: float
    # Derived in __post_init__ (per-slot copies of the node fields, see below).
    _child: np.ndarray = field(init=False, repr=False, compare=False)
    _feature: np.ndarray = field(init=False, repr=False, compare=False)
    _threshold: np.ndarray = field(init=False, repr=False, compare=False)
    _value: np.ndarray = field(init=False, repr=False, compare=False)
    _roots: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The walk runs on "slots": slot 2*i (+1) is node i going right (left), so one step
        # is ``slot = child[slot + go_left]``; node fields are repeated per slot, indices intp.
        child = np.empty(2 * len(self.left), dtype=np.intp)
        child[0::2] = 2 * self.right.astype(np.intp)
        child[1::2] = 2 * self.left.astype(np.intp)
        object.__setattr__(self, "_child", child)
        object.__setattr__(self, "_feature", np.repeat(self.feature.astype(np.intp), 2))
        object.__setattr__(self, "_threshold", np.repeat(self.threshold, 2))
        object.__setattr__(self, "_value", np.repeat(self.value, 2))
        object.__setattr__(self, "_roots", 2 * self.roots.astype(np.intp))

    def margin_one(self, row: np.ndarray) -> float:
        """The raw prediction (margin) for one encoded row, bit-equal to XGBoost's."""
        x = row.astype(np.float32, copy=False).ravel()
        slot, child, feature, threshold = self._roots, self._child, self._feature, self._threshold
        for _ in range(self.depth):
            slot = child.take(slot + (x.take(feature.take(slot)) < threshold.take(slot)))
        # XGBoost adds the trees' leaves to the base score one by one in float32.
        terms = np.empty(len(slot) + 1, dtype=np.float32)
        terms[0] = self.base_margin
        self._value.take(slot, out=terms[1:])
        return float(terms.cumsum(out=terms)[-1])

    def margin_many(self, rows: np.ndarray) -> np.ndarray:
        """``margin_one`` for each encoded row at once (a few rows: the gathers grow with
        rows x trees, so a large frame is XGBoost's own work), bit-equal as well."""
        x = rows.astype(np.float32, copy=False)
        at = np.arange(len(x))[:, None]
        slot = np.broadcast_to(self._roots, (len(x), len(self._roots)))
        child, feature, threshold = self._child, self._feature, self._threshold
        for _ in range(self.depth):
            slot = child.take(slot + (x[at, feature.take(slot)] < threshold.take(slot)))
        terms = np.empty((len(x), slot.shape[1] + 1), dtype=np.float32)
        terms[:, 0] = self.base_margin
        self._value.take(slot, out=terms[:, 1:])
        margins: np.ndarray = np.add.accumulate(terms, axis=1)[:, -1]
        return margins


def compile_booster(booster: Any) -> TreeEnsemble | None:
    """Arrays for a booster's trees, or None when the model uses unsupported features."""
    model = json.loads(booster.save_raw("json"))
    learner = model["learner"]
    gbm = learner["gradient_booster"]
    if gbm.get("name") != "gbtree" or learner["objective"]["name"] != "reg:squarederror":
        return None
    trees = gbm["model"]["trees"]
    if any(t.get("categories_nodes") for t in trees):
        return None
    width = max(len(t["left_children"]) for t in trees)
    shape = (len(trees), width)
    feature = np.zeros(shape, dtype=np.int32)
    threshold = np.zeros(shape, dtype=np.float32)
    left = np.tile(np.arange(width, dtype=np.int32), (len(trees), 1))
    right = left.copy()
    value = np.zeros(shape, dtype=np.float32)
    depth = 0
    for i, tree in enumerate(trees):
        depth = max(depth, _fill(tree, i, feature, threshold, left, right, value))
    offsets = (np.arange(len(trees), dtype=np.int32) * width)[:, None]
    base = _base_score(learner["learner_model_param"]["base_score"])
    return TreeEnsemble(
        feature=feature.ravel(),
        threshold=threshold.ravel(),
        left=(left + offsets).ravel(),
        right=(right + offsets).ravel(),
        value=value.ravel(),
        roots=offsets.ravel().copy(),
        depth=depth,
        base_margin=base,
    )


def _fill(
    tree: dict[str, Any],
    i: int,
    feature: np.ndarray,
    threshold: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    value: np.ndarray,
) -> int:
    lefts = np.asarray(tree["left_children"], dtype=np.int32)
    rights = np.asarray(tree["right_children"], dtype=np.int32)
    conditions = np.asarray(tree["split_conditions"], dtype=np.float32)
    n = len(lefts)
    split = lefts >= 0
    feature[i, :n] = np.where(split, np.asarray(tree["split_indices"], dtype=np.int32), 0)
    threshold[i, :n] = np.where(split, conditions, 0.0)
    left[i, :n] = np.where(split, lefts, np.arange(n))
    right[i, :n] = np.where(split, rights, np.arange(n))
    value[i, :n] = np.where(split, 0.0, conditions)  # a leaf's split_condition is its weight
    return _depth(lefts, rights)


def _depth(lefts: np.ndarray, rights: np.ndarray) -> int:
    depth, level = 0, [0]
    while level:
        children = [c for n in level for c in (lefts[n], rights[n]) if c >= 0]
        if not children:
            break
        depth, level = depth + 1, children
    return depth


def _base_score(raw: str) -> float:
    # XGBoost 3 writes it as "[1.2E1]", older versions as "1.2E1".
    return float(str(raw).strip("[]").split(",")[0])
