"""Jobs: this browser's batch jobs with status and progress; cancel, delete, download."""

from __future__ import annotations

from nicegui import ui

from jobs.models import Job
from webui.api import GatewayError, GatewayUnavailableError
from webui.components.formatting import duration, timestamp
from webui.components.marks import testid
from webui.components.progress import STATUS_COLORS, progress_text
from webui.deps import UIDeps
from webui.layout import Frame, frame
from webui.routes import result_url

PATH = "/jobs"
REFRESH_SECONDS = 2.0


async def page(deps: UIDeps) -> None:
    """Build the jobs page."""
    with frame("Batch jobs", path=PATH, deps=deps) as shell:
        JobsView(shell)


class JobsView:
    """A list of job cards, refreshed while any job is still running."""

    def __init__(self, shell: Frame) -> None:
        self._shell = shell
        self._api = shell.api
        self._jobs: list[Job] | None = None
        with ui.row().classes("w-full items-center justify-between"):
            self.summary = (
                ui.label("Loading…")
                .classes("text-gray-700")
                .mark("jobs-summary")
                .props(testid("jobs-summary"))
            )
            ui.button("Refresh", icon="refresh", on_click=self.refresh).props("flat no-caps").mark(
                "jobs-refresh"
            ).props(testid("jobs-refresh"))
        self.list = ui.column().classes("w-full gap-3").mark("jobs-list").props(testid("jobs-list"))
        shell.banner.on_recover(self.refresh)
        ui.timer(0.01, self.refresh, once=True)
        ui.timer(REFRESH_SECONDS, self._auto_refresh)

    async def refresh(self) -> None:
        """Fetch the jobs and redraw the list."""
        try:
            jobs = await self._api.list_jobs()
        except (GatewayError, GatewayUnavailableError) as exc:
            self._shell.banner.report(exc)
            return
        self._jobs = jobs
        active = sum(job.is_active for job in jobs)
        self.summary.set_text(
            f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}"
            + (f", {active} running" if active else "")
        )
        self.list.clear()
        with self.list:
            if not jobs:
                with ui.row().classes("items-center gap-2 text-gray-600"):
                    ui.label("No jobs yet.")
                    ui.link("Score a CSV", "/batch")
            for job in jobs:
                self._job_card(job)

    async def _auto_refresh(self) -> None:
        if self._jobs is not None and any(job.is_active for job in self._jobs):
            await self.refresh()

    def _job_card(self, job: Job) -> None:
        with ui.card().classes("w-full gap-2").mark(f"job-{job.id}").props(testid(f"job-{job.id}")):
            with ui.row().classes("w-full items-center gap-2"):
                ui.badge(job.status, color=STATUS_COLORS.get(job.status)).mark("job-status").props(
                    testid("job-status")
                )
                ui.link(job.filename or job.id, f"/batch?job={job.id}").classes(
                    "font-medium break-all"
                )
            ui.linear_progress(value=job.progress, show_value=False, size="10px").props(
                f'color={STATUS_COLORS.get(job.status, "primary")} aria-label="Progress"'
            )
            with ui.element("div").classes(
                "grid grid-cols-2 sm:grid-cols-4 gap-x-4 gap-y-1 text-sm w-full"
            ):
                _fact("Rows", progress_text(job))
                _fact("Created", timestamp(job.created_at))
                _fact("Duration", duration(job.duration_seconds))
                _fact("Model version", job.model_version or "–")
            if job.error:
                ui.label(job.error).classes("text-red-800 text-sm")
            with ui.row().classes("gap-2"):
                if job.is_active:
                    ui.button(
                        "Cancel", icon="cancel", on_click=lambda j=job: self._cancel(j)
                    ).props("outline no-caps color=negative").mark("job-cancel").props(
                        testid("job-cancel")
                    )
                ui.button("Delete", icon="delete", on_click=lambda j=job: self._delete(j)).props(
                    "flat no-caps color=negative"
                ).mark("job-delete").props(testid("job-delete"))
                if job.status == "succeeded":
                    ui.button(
                        "Download",
                        icon="download",
                        on_click=lambda j=job: ui.download.from_url(result_url(j.id)),
                    ).props("no-caps").mark("job-download").props(testid("job-download"))

    async def _cancel(self, job: Job) -> None:
        try:
            await self._api.cancel_job(job.id)
        except GatewayError as exc:
            if exc.status == 409:  # it ended meanwhile: show how
                await self.refresh()
                return
            self._shell.banner.report(exc)
            return
        except GatewayUnavailableError as exc:
            self._shell.banner.report(exc)
            return
        ui.notify(f"Cancelled {job.filename or job.id}")
        await self.refresh()

    async def _delete(self, job: Job) -> None:
        try:
            await self._api.delete_job(job.id)
        except (GatewayError, GatewayUnavailableError) as exc:
            self._shell.banner.report(exc)
            return
        ui.notify(f"Deleted {job.filename or job.id}")
        await self.refresh()


def _fact(name: str, value: str) -> None:
    with ui.column().classes("gap-0"):
        ui.label(name).classes("text-xs text-gray-500")
        ui.label(value)
