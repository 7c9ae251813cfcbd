"""A pointer job's file list: a blob in the job's folder, never a field of its Redis hash.

The gateway lists the files a pointer names at submission (``jobs.pointer.list_sources``,
up to ``HPP_MAX_INPUT_FILES``) and writes the list to ``jobs/{id}/sources.json``
(``jobs.keys.sources_key``) before the job's record exists; the record keeps only the
count (``input_files``) and where the list is (``sources_blob``). Every read of a job (the
API, the job list, the event stream, the web app's polls) loads its whole hash: a list kept
there made each of them move ~1.2 MB at 10,000 files. The list is read only where chunk
messages are made (the plan step, the watchdog resending a lost chunk).

It goes with the job's folder (deletion, retention, the orphan sweep). A job created
before the list moved here keeps it in its hash (``JobRecord.sources``) and still plans.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import TypeAdapter

from jobs.blobs import BlobStore
from jobs.keys import sources_key
from jobs.models import JobRecord
from jobs.pointer import SourceFile
from jobs.sync_blobs import SyncBlobStore

_FILES = TypeAdapter(list[SourceFile])


async def save_sources(blobs: BlobStore, job_id: str, sources: Sequence[SourceFile]) -> str:
    """Write a job's file list to its folder; returns the blob's key (``sources_blob``)."""
    key = sources_key(job_id)
    await blobs.put_bytes(key, _FILES.dump_json(list(sources)))
    return key


def load_sources(blobs: SyncBlobStore, record: JobRecord) -> list[SourceFile]:
    """A job's input files in order ([] for an upload); raises ``BlobNotFoundError`` if the
    list is gone (the job was deleted meanwhile)."""
    if record.sources:  # created before the list moved to the blob store
        return [SourceFile.model_validate(source) for source in record.sources]
    if not record.sources_blob:
        return []
    return _FILES.validate_json(blobs.read_bytes(record.sources_blob))
