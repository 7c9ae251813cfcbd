"""Plan a job from a pointer: chunks across all its files, in file order then row order.

A CSV file (gzip or not) is cut into byte ranges by ``workers.chunking.plan_chunks``, as an
upload is; a Parquet file into runs of whole row groups of about ``chunk_rows`` rows, read
from its footer alone. Chunk indexes run across the files, so parts and the result keep
the input's order. Every file must have the columns of the first (CSV files in the same
order; Parquet files the same names, read in the first file's order); a file that
differs, or cannot be read, fails the job with its name and the reason.
"""

from __future__ import annotations

import pyarrow as pa

from jobs.pointer import SourceFile
from jobs.sync_blobs import SyncBlobStore
from workers.chunking import (
    Chunk,
    InputLimits,
    Plan,
    UnreadableFileError,
    plan_chunks,
    plan_from_header,
)
from workers.source_read import open_parquet, source_blocks


def plan_sources(blobs: SyncBlobStore, sources: list[SourceFile], limits: InputLimits) -> Plan:
    """The chunks of every file, numbered across files (raises ``UnreadableFileError``)."""
    plan: Plan | None = None
    schema: pa.Schema | None = None
    for number, source in enumerate(sources):
        try:
            if source.format == "parquet":
                part, file_schema = _plan_parquet(blobs, source, limits)
                schema = _same_types(schema, file_schema, source)
            else:
                part = _plan_csv(blobs, source, limits)
        except (UnreadableFileError, ValueError, OSError, pa.ArrowException) as exc:
            raise UnreadableFileError(f"{source.name}: {exc}") from exc
        if plan is None:
            plan = Plan(
                columns=part.columns,
                feature_positions=part.feature_positions,
                data_start=0,
                rows_total=0,
            )
        _check_columns(plan, part, source)
        for chunk in part.chunks:
            plan.chunks.append(
                Chunk(len(plan.chunks), chunk.start, chunk.end, chunk.rows, source=number)
            )
        plan.rows_total += part.rows_total
    if plan is None:
        raise UnreadableFileError("the input has no files")
    return plan


def typed_output(sources: list[SourceFile]) -> bool:
    """Whether a Parquet result keeps the input's column types (every file is Parquet);
    otherwise input columns are written as the text a CSV would hold."""
    return all(source.format == "parquet" for source in sources)


def _plan_csv(blobs: SyncBlobStore, source: SourceFile, limits: InputLimits) -> Plan:
    blocks = source_blocks(blobs, source)
    try:
        return plan_chunks(blocks, limits=limits)
    finally:
        blocks.close()


def _plan_parquet(
    blobs: SyncBlobStore, source: SourceFile, limits: InputLimits
) -> tuple[Plan, pa.Schema]:
    parquet = open_parquet(blobs, source)
    schema = parquet.schema_arrow
    plan = plan_from_header(list(schema.names), data_start=0, limits=limits)
    metadata = parquet.metadata
    first, rows = 0, 0
    for group in range(metadata.num_row_groups):
        rows += metadata.row_group(group).num_rows
        if rows >= limits.chunk_rows:
            plan.chunks.append(Chunk(len(plan.chunks), first, group + 1, rows))
            plan.rows_total += rows
            first, rows = group + 1, 0
    if rows:
        plan.chunks.append(Chunk(len(plan.chunks), first, metadata.num_row_groups, rows))
        plan.rows_total += rows
    return plan, schema


def _check_columns(plan: Plan, part: Plan, source: SourceFile) -> None:
    same = (
        part.columns == plan.columns
        if source.format == "csv"
        else sorted(part.columns) == sorted(plan.columns)
    )
    if not same:
        raise UnreadableFileError(
            f"{source.name}: its columns ({', '.join(part.columns[:12])}) differ from the "
            f"first file's ({', '.join(plan.columns[:12])}); every file of a job needs the same"
        )


def _same_types(first: pa.Schema | None, schema: pa.Schema, source: SourceFile) -> pa.Schema:
    if first is None:
        return schema
    for field in first:
        index = schema.get_field_index(field.name)
        if index >= 0 and schema.field(index).type != field.type:
            raise UnreadableFileError(
                f"{source.name}: column {field.name} is {schema.field(index).type}, "
                f"{field.type} in the first Parquet file; every file needs the same types"
            )
    return first
