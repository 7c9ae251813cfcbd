"""A job's chunk plan: kept in the blob store, and the chunk messages made from it.

The plan (``workers.chunking.Plan``, about 70 bytes a chunk) is written once by the plan
step to ``jobs/{id}/plan.json`` (``jobs.keys.plan_key``); the job's Redis hash keeps only
constant-size facts (columns, feature positions, totals, and ``plan_blob``, where the plan
is). Each chunk message carries everything its step needs (its range, its first row, and
in a pointer job its file), so a chunk step reads no plan: only the hash's constant fields
and the counters. The plan is read again only where a message is made again (a plan step
delivered twice, the watchdog resending a lost chunk) and once by finalize.

A job planned before plans moved here keeps its plan inside the hash (``JobRecord.plan``)
and still finishes: ``load_plan`` reads it there, and a chunk message sent then (without
its first row) is completed from it (``complete_task``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jobs.blobs import BlobNotFoundError
from jobs.file_list import load_sources
from jobs.keys import plan_key
from jobs.models import JobRecord
from jobs.pointer import SourceFile
from jobs.store import JobStore
from jobs.sync_blobs import SyncBlobStore
from workers.chunking import Plan
from workers.source_plan import typed_output


@dataclass(frozen=True)
class ChunkTask:
    """A chunk to score: which job, which index, which range, and what else its step needs.

    ``start`` and ``end`` are bytes of a CSV or row groups of a Parquet file; ``source`` is
    the file's number in a pointer job, ``file`` that file (``SourceFile`` as a dict; None
    for an upload) and ``typed`` whether a Parquet result keeps the input's types.
    ``first_row`` numbers the chunk's first row in the whole input (1 = the first data row);
    None in a message sent before messages carried it (``complete_task`` fills it in).
    """

    job_id: str
    index: int
    start: int
    end: int
    source: int = 0
    first_row: int | None = None
    file: dict[str, Any] | None = None
    typed: bool = False

    def args(self) -> list[Any]:
        """The chunk task's message arguments (``workers.tasks.score_chunk``)."""
        return [
            self.job_id,
            self.index,
            self.start,
            self.end,
            self.source,
            self.first_row,
            self.file,
            self.typed,
        ]


def save_plan(jobs: JobStore, blobs: SyncBlobStore, job_id: str, plan: Plan) -> bool:
    """Store the plan as a blob, then mark the job planned with its constant-size facts;
    False if the job was deleted meanwhile (the orphan sweep then removes the blob with
    the rest of the job's folder).

    The blob is written first: a plan step killed between the two writes is delivered
    again, finds no mark, and plans again (writing the same blob).
    """
    key = plan_key(job_id)
    blobs.put_bytes(key, json.dumps(plan.to_json()).encode())
    return jobs.save_plan(
        job_id,
        plan_blob=key,
        columns=plan.columns,
        feature_positions=plan.feature_positions,
        rows_total=plan.rows_total,
        chunks_total=len(plan.chunks),
    )


def load_plan(blobs: SyncBlobStore, record: JobRecord) -> Plan | None:
    """The job's plan (one blob read), or None before it is planned (or if it is gone)."""
    if record.plan:  # planned before plans moved to the blob store
        return Plan.from_json(json.loads(record.plan))
    if not record.plan_blob:
        return None
    try:
        return Plan.from_json(json.loads(blobs.read_bytes(record.plan_blob)))
    except BlobNotFoundError:
        return None


def chunk_tasks(
    record: JobRecord,
    plan: Plan,
    sources: list[SourceFile],
    *,
    skip: set[int] | None = None,
) -> list[ChunkTask]:
    """The messages of the plan's chunks, but those in ``skip`` (already counted);
    ``sources`` is the job's file list (``jobs.file_list.load_sources``; [] for an upload)."""
    typed = bool(sources) and typed_output(sources)
    tasks, first_row = [], 1
    for chunk in plan.chunks:
        if not skip or chunk.index not in skip:
            file = sources[chunk.source].model_dump() if sources else None
            task = ChunkTask(
                record.id, chunk.index, chunk.start, chunk.end, chunk.source, first_row, file, typed
            )
            tasks.append(task)
        first_row += chunk.rows
    return tasks


def complete_task(jobs: JobStore, blobs: SyncBlobStore, task: ChunkTask) -> ChunkTask:
    """A chunk message sent before messages carried their first row and file, completed
    from the job's record and plan (read in full: only messages in flight at an upgrade)."""
    record = jobs.get(task.job_id)
    plan = load_plan(blobs, record) if record is not None else None
    if record is None or plan is None:
        raise RuntimeError(f"job {task.job_id} has no plan to complete chunk {task.index} from")
    for made in chunk_tasks(record, plan, load_sources(blobs, record)):
        if made.index == task.index:
            return made
    raise RuntimeError(f"job {task.job_id} has no chunk {task.index}")
