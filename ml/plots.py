"""Evaluation plots logged with every training run."""

from __future__ import annotations

from pathlib import Path

from ml.train import TrainingResult


def save_plots(result: TrainingResult, folder: Path) -> list[Path]:
    """Predicted vs actual, residuals, and feature importance as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    actual, predicted = result.test_actual, result.test_predicted
    paths = []

    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(actual, predicted, s=8, alpha=0.5)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="black", linewidth=1)
    ax.set(
        xlabel="actual price ($)",
        ylabel="predicted price ($)",
        title="Hold-out: predicted vs actual",
    )
    paths.append(_save(fig, folder / "predicted_vs_actual.png"))

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(predicted, actual - predicted, s=8, alpha=0.5)
    ax.axhline(0, color="black", linewidth=1)
    ax.set(xlabel="predicted price ($)", ylabel="residual ($)", title="Hold-out residuals")
    paths.append(_save(fig, folder / "residuals.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    items = sorted(result.importances.items(), key=lambda kv: kv[1])
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set(xlabel="share of permutation importance", title="Feature importance")
    paths.append(_save(fig, folder / "feature_importance.png"))
    return paths


def _save(fig: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()  # type: ignore[attr-defined]
    fig.savefig(path, dpi=100)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return path
