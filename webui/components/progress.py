"""A job's live progress: bar, rows done, rows per second, ETA."""

from __future__ import annotations

from nicegui import ui

from jobs.models import Job
from webui.components.formatting import duration
from webui.components.marks import testid

STATUS_COLORS: dict[str, str] = {
    "queued": "grey-7",
    "running": "primary",
    "succeeded": "positive",
    "failed": "negative",
    "cancelled": "warning",
    "deleted": "grey-7",
}


def progress_text(job: Job) -> str:
    """``4,000 / 10,000 rows · 2,310 rows/s · ETA 3 s`` (only the parts the job knows)."""
    if job.status == "queued":
        return "Waiting for a worker…"
    if not job.rows_total:
        return "Reading the file…" if job.is_active else "No rows read"
    parts = [f"{job.rows_done:,} / {job.rows_total or 0:,} rows"]
    if job.rows_failed:
        parts.append(f"{job.rows_failed:,} rejected")
    if job.rows_per_second:
        parts.append(f"{job.rows_per_second:,.0f} rows/s")
    if job.is_active and job.eta_seconds is not None:
        parts.append(f"ETA {duration(job.eta_seconds)}")
    return " · ".join(parts)


class JobProgress:
    """Status badge, progress bar and counters for one job, updated from its events."""

    def __init__(self) -> None:
        with (
            ui.column()
            .classes("w-full gap-1")
            .mark("batch-progress-box")
            .props(testid("batch-progress-box")) as self.box
        ):
            with ui.row().classes("items-center gap-2 w-full"):
                self.badge = ui.badge("").mark("batch-status").props(testid("batch-status"))
                self.filename = ui.label("").classes("font-medium break-all")
            self.bar = (
                ui.linear_progress(value=0, show_value=False, size="18px")
                .props('instant-feedback aria-label="Job progress"')
                .mark("batch-progress")
                .props(testid("batch-progress"))
            )
            with ui.row().classes("w-full justify-between gap-2 text-sm"):
                self.counts = (
                    ui.label("").mark("batch-progress-label").props(testid("batch-progress-label"))
                )
                self.percent = (
                    ui.label("")
                    .classes("font-medium")
                    .mark("batch-progress-percent")
                    .props(testid("batch-progress-percent"))
                )

    def update(self, job: Job) -> None:
        """Show the job's latest state."""
        self.badge.set_text(job.status)
        self.badge.props(f"color={STATUS_COLORS.get(job.status, 'grey-7')}")
        self.filename.set_text(job.filename or job.id)
        progress = max(0.0, min(1.0, job.progress))
        self.bar.set_value(progress)
        self.bar.props(f"color={STATUS_COLORS.get(job.status, 'primary')}")
        self.counts.set_text(progress_text(job))
        self.percent.set_text(f"{progress:.1%}" if 0 < progress < 0.1 else f"{progress:.0%}")
