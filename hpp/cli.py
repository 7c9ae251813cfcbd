"""The ``hpp`` command: one entry point per service and per ML step.

Each command imports its package lazily, so ``hpp --help`` stays fast and a command
never pays for another's imports.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from core.settings import AppSettings


class UnknownCategoryMode(StrEnum):
    """``hpp score --unknown-categories`` (the job's ``unknown_categories`` parameter)."""

    warn = "warn"
    error = "error"


app = typer.Typer(
    help="House Price Predictor: train, serve, score and operate.",
    no_args_is_help=True,
    add_completion=False,
)

DEFAULT_DATA = Path("data/house_data.csv")
DEFAULT_CONFIG = Path("ml/config.yaml")


@app.command("validate-data")
def validate_data(path: Annotated[Path, typer.Argument(help="CSV to check.")]) -> None:
    """Check a training CSV: columns, types, ranges, nulls, duplicates, categories."""
    from hpp.ml_steps import run_validate_data

    raise typer.Exit(run_validate_data(path))


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Training CSV.")] = DEFAULT_DATA,
    config: Annotated[Path, typer.Option(help="Training config (YAML).")] = DEFAULT_CONFIG,
    with_feedback: Annotated[
        bool, typer.Option(help="Add the accepted sale prices from POST /v1/feedback (Redis).")
    ] = False,
) -> None:
    """Validate, train the candidates, apply the quality gates, register in MLflow."""
    from hpp.ml_steps import run_train

    raise typer.Exit(
        run_train(
            data=data, config=config, settings=AppSettings.from_env(), with_feedback=with_feedback
        )
    )


@app.command("derive-data")
def derive_data(
    out: Annotated[Path, typer.Option(help="Where to write the CSV.")] = DEFAULT_DATA,
) -> None:
    """Rebuild data/house_data.csv from the Ames data (needs the 'data' extra)."""
    from ml.ames import derive_to_csv

    derive_to_csv(out)


@app.command()
def gateway() -> None:
    """Serve the HTTP gateway under uvicorn."""
    from gateway.server import run_gateway

    run_gateway(AppSettings.from_env())


@app.command()
def worker() -> None:
    """Run a Celery worker that scores batch jobs."""
    from workers.runner import run_worker

    run_worker(AppSettings.from_env())


@app.command()
def trainer() -> None:
    """Run the loop's Celery worker: the training queue (retrains, promotion checks) only."""
    from workers.runner import run_worker

    run_worker(AppSettings.from_env(), training=True)


@app.command()
def notifier() -> None:
    """Run the notices' Celery worker: job completion webhooks and SNS messages."""
    from workers.runner import run_notifier

    run_notifier(AppSettings.from_env())


@app.command()
def retrain(
    data: Annotated[Path | None, typer.Option(help="Shipped training CSV.")] = None,
    config: Annotated[Path | None, typer.Option(help="Training config (YAML).")] = None,
    check: Annotated[bool, typer.Option(help="Then run the promotion/rollback check once.")] = True,
) -> None:
    """Run the loop once: train on data incl. feedback, gates, challenger, promotion check."""
    from hpp.loop import run_retrain

    raise typer.Exit(run_retrain(AppSettings.from_env(), data=data, config=config, check=check))


@app.command()
def ui() -> None:
    """Serve the NiceGUI web app."""
    from webui.main import run_ui

    run_ui(AppSettings.from_env())


@app.command()
def up() -> None:
    """Bring up the whole system locally: Redis, model, worker, gateway and UI."""
    from hpp.up import run_up

    raise typer.Exit(run_up(AppSettings.from_env()))


@app.command()
def score(
    file: Annotated[Path, typer.Argument(help="CSV of houses to score.")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Where to write.")] = None,
    gateway_url: Annotated[str | None, typer.Option(help="Gateway base URL.")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="HPP_API_KEY", help="API key (or HPP_API_KEY).")
    ] = None,
    unknown_categories: Annotated[
        UnknownCategoryMode | None,
        typer.Option(
            help="Rows whose location or condition is like no name the model knows: 'warn' "
            "prices them as unknown with a warning, 'error' (strict) rejects them. "
            "Default: the gateway's HPP_UNKNOWN_CATEGORIES."
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Follow the job and download its result, or return once it is queued "
            "(printing its id and links as JSON).",
        ),
    ] = True,
    webhook_url: Annotated[
        str | None,
        typer.Option(help="Notified (signed POST) when the job reaches a final state."),
    ] = None,
) -> None:
    """Submit a CSV to the gateway as a job, show progress, download the result."""
    from hpp.score import run_score

    raise typer.Exit(
        run_score(
            file,
            out=out,
            gateway_url=gateway_url,
            api_key=api_key,
            unknown_categories=None if unknown_categories is None else unknown_categories.value,
            settings=AppSettings.from_env(),
            wait=wait,
            webhook_url=webhook_url,
        )
    )


@app.command()
def compare(
    challenger: Annotated[str, typer.Option(help="Registered version to compare.")],
    job: Annotated[str | None, typer.Option(help="Re-score this job's input.")] = None,
    champion: Annotated[str | None, typer.Option(help="Baseline (default: alias).")] = None,
    config: Annotated[Path, typer.Option(help="Config with the limits.")] = DEFAULT_CONFIG,
    out: Annotated[Path | None, typer.Option(help="Report folder.")] = None,
) -> None:
    """Re-score a past job (or the hold-out) with a challenger and write a diff report."""
    from hpp.replay import run_compare

    raise typer.Exit(
        run_compare(
            challenger=challenger,
            job_id=job,
            champion=champion,
            config=config,
            out=out,
            settings=AppSettings.from_env(),
        )
    )


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Registered version to make champion.")],
    force: Annotated[bool, typer.Option(help="Promote even if the report breaks limits.")] = False,
    config: Annotated[Path, typer.Option(help="Config with the limits.")] = DEFAULT_CONFIG,
    report: Annotated[Path | None, typer.Option(help="Replay report (default: latest).")] = None,
) -> None:
    """Move the champion alias to VERSION unless its replay report breaks the limits."""
    from hpp.replay import run_promote

    raise typer.Exit(
        run_promote(
            version, force=force, config=config, report_path=report, settings=AppSettings.from_env()
        )
    )


@app.command()
def dashboard(
    put: Annotated[bool, typer.Option(help="Put it to CloudWatch instead of printing.")] = False,
) -> None:
    """Print the CloudWatch dashboard body, or put it to CloudWatch."""
    from observability.dashboards import run_dashboard_command

    settings = AppSettings.from_env()
    raise typer.Exit(
        run_dashboard_command(
            put=put, environment=settings.core.environment, settings=settings.observability
        )
    )


audit_app = typer.Typer(help="The audit trail: verify the hash chains, back-test from feedback.")
app.add_typer(audit_app, name="audit")
AuditUrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Audit store (default: HPP_AUDIT_URL or the state folder)."),
]


@audit_app.command("verify")
def audit_verify(url: AuditUrlOption = None) -> None:
    """Check every record's hash, the chains and their signed heads; exit 1 if tampered."""
    from hpp.audit import run_verify

    raise typer.Exit(run_verify(AppSettings.from_env(), url=url))


@audit_app.command("backtest")
def audit_backtest(
    sample: Annotated[
        int, typer.Option(min=1, help="Predictions with a known sale price to draw.")
    ] = 500,
    seed: Annotated[int | None, typer.Option(help="Seed of the random draw (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option(help="JSON report (default: .hpp/reports/).")] = None,
    url: AuditUrlOption = None,
) -> None:
    """Error, bias and coverage of a random sample of logged predictions with actual prices."""
    from hpp.audit import run_backtest

    raise typer.Exit(
        run_backtest(AppSettings.from_env(), sample=sample, seed=seed, out=out, url=url)
    )


if __name__ == "__main__":
    app()
