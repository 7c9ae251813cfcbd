"""Batch: drop a CSV, watch it score live, inspect and download the result."""

from __future__ import annotations

import asyncio
import contextlib

from nicegui import background_tasks, ui
from nicegui.events import UploadEventArguments

from jobs.models import Job, JobSummary, SummaryRow
from ml.contract import FEATURE_COLUMNS
from webui.api import GatewayError, GatewayUnavailableError
from webui.components.charts import histogram_options
from webui.components.formatting import byte_size
from webui.components.marks import testid
from webui.components.progress import JobProgress
from webui.components.results import sample_csv
from webui.components.tables import table_column
from webui.components.upload_box import upload_box
from webui.deps import UIDeps
from webui.layout import Frame, frame
from webui.routes import result_url

PATH = "/batch"
RETRY_SECONDS = 2.0


async def page(deps: UIDeps, job: str | None = None) -> None:
    """Build the batch page (``?job=<id>`` follows an existing job)."""
    with frame("Score a CSV", path=PATH, deps=deps) as shell:
        view = BatchView(shell)
        if job:
            view.follow(job)


class BatchView:
    """Upload, live progress, then the result's preview, histogram, rejections, download."""

    def __init__(self, shell: Frame) -> None:
        self._shell = shell
        self._api = shell.api
        self._task: asyncio.Task | None = None
        self._job_id: str | None = None
        limit = shell.deps.settings.gateway.max_upload_bytes
        with ui.card().classes("w-full"):
            ui.label(
                "Upload a CSV with the columns " + ", ".join(FEATURE_COLUMNS) + ". "
                "Extra columns are kept; each bad row gets a reason instead of a price."
            ).classes("text-gray-700")
            self.upload = upload_box(
                limit=limit, on_upload=self._uploaded, on_rejected=self._rejected
            )
            with ui.row().classes("items-center gap-2"):
                ui.button("Download a sample CSV", icon="download", on_click=self._sample).props(
                    "flat no-caps"
                ).mark("sample-download").props(testid("sample-download"))
        self.file_error = (
            ui.label("")
            .classes("w-full p-3 rounded bg-red-50 text-red-900")
            .mark("file-error")
            .props(testid("file-error"))
        )
        self.file_error.set_visibility(False)
        with ui.card().classes("w-full") as self.progress_card:
            self.progress = JobProgress()
            with ui.row().classes("gap-2"):
                self.cancel_button = (
                    ui.button("Cancel job", icon="cancel", color="negative", on_click=self._cancel)
                    .props("outline no-caps")
                    .mark("batch-cancel")
                    .props(testid("batch-cancel"))
                )
        self.progress_card.set_visibility(False)
        self.result_box = (
            ui.column().classes("w-full gap-4").mark("batch-result").props(testid("batch-result"))
        )
        shell.banner.on_recover(self._resume)

    def follow(self, job_id: str) -> None:
        """Track a job's progress from its event stream until it ends."""
        if self._task is not None:
            self._task.cancel()
        self._job_id = job_id
        self.result_box.clear()
        self._task = background_tasks.create(self._follow(job_id), name=f"follow {job_id}")
        client = ui.context.client
        client.on_delete(self._stop)

    def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _uploaded(self, event: UploadEventArguments) -> None:
        self._show_file_error(None)
        name = event.file.name or "upload.csv"
        try:
            job = await self._api.submit_job(name, event.file.iterate())
        except GatewayError as exc:
            if exc.status is not None and exc.status < 500:
                self._show_file_error(_problem_text(exc))
            else:
                self._shell.banner.report(exc)
            return
        except GatewayUnavailableError as exc:
            self._shell.banner.report(exc)
            return
        finally:
            self.upload.reset()
        self._shell.banner.clear()
        self._show_progress(job)
        self.follow(job.id)

    def _rejected(self) -> None:
        limit = byte_size(self._shell.deps.settings.gateway.max_upload_bytes)
        self._show_file_error(
            f"That file was refused: only one CSV file up to {limit} is accepted."
        )

    async def _sample(self) -> None:
        categories: dict[str, list[str]] = {}
        # Without the card, the sample still follows the contract's own example.
        with contextlib.suppress(GatewayError, GatewayUnavailableError):
            categories = (await self._api.model_card()).categories
        ui.download.content(sample_csv(categories), "houses-sample.csv", "text/csv")

    async def _cancel(self) -> None:
        if self._job_id is None:
            return
        try:
            job = await self._api.cancel_job(self._job_id)
        except GatewayError as exc:
            if exc.status == 409:  # it ended meanwhile: show how it ended
                await self._resume()
                return
            self._shell.banner.report(exc)
            return
        except GatewayUnavailableError as exc:
            self._shell.banner.report(exc)
            return
        self._stop()
        self._show_progress(job)
        self.result_box.clear()
        with self.result_box:
            _cancelled_note(job)

    async def _resume(self) -> None:
        if self._job_id is not None and (self._task is None or self._task.done()):
            self.follow(self._job_id)

    async def _follow(self, job_id: str) -> None:
        while True:
            try:
                job = await self._api.get_job(job_id)
                self._show_progress(job)
                if job.is_active:
                    async for job in self._api.job_events(job_id):
                        self._show_progress(job)
                        if not job.is_active:
                            break
                    job = await self._api.get_job(job_id)
                    self._show_progress(job)
            except GatewayUnavailableError as exc:
                self._shell.banner.report(exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            except GatewayError as exc:
                self._shell.banner.report(exc)
                return
            if not job.is_active:
                await self._finished(job)
                return

    def _show_progress(self, job: Job) -> None:
        self.progress_card.set_visibility(True)
        self.progress.update(job)
        self.cancel_button.set_visibility(job.is_active)

    async def _finished(self, job: Job) -> None:
        self.result_box.clear()
        if job.status == "failed":
            self._show_file_error(f"The job failed: {job.error or 'no reason given'}")
            return
        if job.status == "cancelled":
            with self.result_box:
                _cancelled_note(job)
            return
        if job.status != "succeeded":
            return
        try:  # the gateway's summary: the result itself is only ever streamed to a download
            summary = await self._api.job_summary(job.id)
        except GatewayError as exc:
            if exc.status != 404:
                self._shell.banner.report(exc)
                return
            with self.result_box:
                _no_summary(job)
            return
        except GatewayUnavailableError as exc:
            self._shell.banner.report(exc)
            return
        with self.result_box:
            _result_view(job, summary)

    def _show_file_error(self, text: str | None) -> None:
        self.file_error.set_text(text or "")
        self.file_error.set_visibility(bool(text))


def _result_view(job: Job, summary: JobSummary) -> None:
    with ui.card().classes("w-full"):
        with ui.row().classes("w-full items-center justify-between gap-2"):
            ui.label(
                f"{summary.priced:,} of {summary.rows:,} rows priced "
                f"by model version {job.model_version or '?'}"
            ).classes("text-lg font-medium").mark("batch-summary").props(testid("batch-summary"))
            _download_button(job)
        _rejections(summary)
        _rewrites(summary)
    if summary.price_histogram:
        with ui.card().classes("w-full"):
            ui.label("Predicted prices").classes("font-medium")
            ui.echart(histogram_options(summary.price_histogram)).classes("w-full h-64").mark(
                "batch-histogram"
            ).props(testid("batch-histogram"))
    with ui.card().classes("w-full"):
        ui.label(f"First {len(summary.preview)} rows").classes("font-medium")
        _rows_table(summary, summary.preview, numbered=False).mark("batch-preview").props(
            testid("batch-preview")
        )
        ui.label("On this screen: the main columns; the download has them all.").classes(
            "text-xs text-gray-600 xs"
        )
        if summary.columns_omitted:
            ui.label(
                f"{summary.columns_omitted:,} more input columns are in the downloaded file."
            ).classes("text-sm text-gray-600")


# On a phone the preview keeps these; the download has every column.
PHONE_COLUMNS = frozenset({"sqft", "location", "predicted_price", "error"})


def _no_summary(job: Job) -> None:
    """A job scored before summaries existed (or whose summary expired): the file remains."""
    with ui.card().classes("w-full"), ui.row().classes("w-full items-center justify-between"):
        ui.label(
            f"{job.rows_done - job.rows_failed:,} of {job.rows_done:,} rows priced. This job has "
            "no summary to show here (an older version scored it); the scored CSV has it all."
        ).classes("text-gray-700").mark("batch-no-summary").props(testid("batch-no-summary"))
        _download_button(job)


def _download_button(job: Job) -> None:
    ui.button(
        "Download scored CSV",
        icon="download",
        on_click=lambda: ui.download.from_url(result_url(job.id)),
    ).props("no-caps").mark("batch-download").props(testid("batch-download"))


def _rows_table(summary: JobSummary, rows: list[SummaryRow], *, numbered: bool) -> ui.table:
    """Result rows as a table; ``numbered`` adds each row's number in the file."""
    columns = [table_column("row", "Row", align="right")] if numbered else []
    columns += [
        {**table_column(c, on_phone=c in PHONE_COLUMNS), "field": f"c{i}"}
        for i, c in enumerate(summary.columns)
    ]
    records = [{"row": r.row, **{f"c{i}": v for i, v in enumerate(r.values)}} for r in rows]
    return (
        ui.table(columns=columns, rows=records, row_key="row")
        .props("dense flat wrap-cells")
        .classes("w-full overflow-x-auto")
    )


def _cancelled_note(job: Job) -> None:
    with (
        ui.row()
        .classes("items-center gap-2 text-gray-700")
        .mark("batch-cancelled")
        .props(testid("batch-cancelled"))
    ):
        ui.icon("block", size="sm")
        ui.label(f"Cancelled after {job.rows_done:,} rows: no result is kept. It stays listed in")
        ui.link("Jobs", "/jobs")


def _rejections(summary: JobSummary) -> None:
    if not summary.rejected:
        ui.label("No rows were rejected.").classes("text-green-800").mark("batch-rejected").props(
            testid("batch-rejected")
        )
        return
    ui.label(f"{summary.rejected:,} rows rejected. Most common reasons:").classes(
        "text-amber-900"
    ).mark("batch-rejected").props(testid("batch-rejected"))
    with ui.column().classes("gap-0 text-sm").mark("batch-reasons").props(testid("batch-reasons")):
        for item in summary.reasons:
            ui.label(f"{item.count:,} × {item.reason}")
    if summary.rejected_preview:
        shown = len(summary.rejected_preview)
        with ui.expansion(f"Show the first {shown} rejected rows").classes("w-full text-sm"):
            _rows_table(summary, summary.rejected_preview, numbered=True).mark(
                "batch-rejected-rows"
            ).props(testid("batch-rejected-rows"))


def _rewrites(summary: JobSummary) -> None:
    """The category spellings read as the model's names (``North_Ames -> North Ames``)."""
    if not summary.rewrites:
        return
    total = sum(r.rows for r in summary.rewrites)
    ui.label(
        f"Read {len(summary.rewrites):,} spelling{'s' if len(summary.rewrites) != 1 else ''} "
        f"as the model's names ({total:,} cells):"
    ).classes("text-gray-800")
    with (
        ui.column().classes("gap-0 text-sm").mark("batch-rewrites").props(testid("batch-rewrites"))
    ):
        for r in summary.rewrites:
            ui.label(
                f"{r.column}: {r.sent} -> {r.canonical}: {r.rows:,} row{'s' if r.rows != 1 else ''}"
            )


def _problem_text(exc: GatewayError) -> str:
    problem = exc.problem
    lines = [problem.title + (f": {problem.detail}" if problem.detail else "")]
    lines += [f"{e.field}: {e.message}" if e.field else e.message for e in problem.errors[:10]]
    return "The file was not accepted. " + " ".join(lines)
