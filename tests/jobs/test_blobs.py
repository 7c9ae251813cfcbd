"""The blob store, on a local folder and on S3 (a moto server over HTTP)."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiobotocore.session import get_session

from jobs.blobs import (
    S3_PART_BYTES,
    BlobNotFoundError,
    BlobStore,
    BlobTooLargeError,
    FileBlobStore,
    open_blob_store,
)
from jobs.sync_blobs import SyncBlobStore
from tests.support.counting_blobs import CountingBlobStore


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _read(store: BlobStore, key: str) -> bytes:
    return b"".join([block async for block in store.iter_bytes(key, block=1000)])


@pytest.fixture(params=["file", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    """The same tests on both back ends."""
    if request.param == "file":
        blobs = open_blob_store((tmp_path / "blobs").as_uri())
    else:
        endpoint = request.getfixturevalue("moto_server")
        bucket = f"jobs-{secrets.token_hex(4)}"
        async with get_session().create_client("s3", endpoint_url=endpoint) as s3:
            await s3.create_bucket(Bucket=bucket)
        blobs = open_blob_store(f"s3://{bucket}/hpp", endpoint_url=endpoint)
    yield blobs
    await blobs.aclose()


async def test_stream_roundtrip_and_ranges(store: BlobStore) -> None:
    size = await store.put_stream("jobs/a/input.csv", _chunks(b"hello ", b"world"))

    assert size == 11
    assert await store.size("jobs/a/input.csv") == 11
    assert await store.get_range("jobs/a/input.csv", 6, 11) == b"world"
    assert await _read(store, "jobs/a/input.csv") == b"hello world"


async def test_limit_discards_the_partial_object(store: BlobStore) -> None:
    with pytest.raises(BlobTooLargeError):
        await store.put_stream("jobs/b/input.csv", _chunks(b"x" * 10, b"y" * 10), limit=15)

    assert await store.size("jobs/b/input.csv") is None


async def test_large_stream_goes_up_in_parts(store: BlobStore) -> None:
    block = b"z" * (1 << 20)
    parts = [block] * (S3_PART_BYTES // len(block) * 2 + 1)

    size = await store.put_stream("jobs/c/input.csv", _chunks(*parts))

    assert size == len(block) * len(parts)
    assert await store.get_range("jobs/c/input.csv", size - 3, size) == b"zzz"


async def test_compose_joins_parts_in_order_after_a_head(store: BlobStore) -> None:
    for index, text in enumerate([b"1\n", b"2\n", b"3\n"]):
        await store.put_bytes(f"jobs/d/parts/{index:06d}.csv", text)

    size = await store.compose(
        "jobs/d/result.csv", b"h\n", [f"jobs/d/parts/{i:06d}.csv" for i in range(3)]
    )

    assert size == 8
    assert await _read(store, "jobs/d/result.csv") == b"h\n1\n2\n3\n"


async def test_delete_prefix_and_list_children(store: BlobStore) -> None:
    await store.put_bytes("jobs/e/input.csv", b"a")
    await store.put_bytes("jobs/e/parts/000000.csv", b"b")
    await store.put_bytes("jobs/f/input.csv", b"c")

    assert {"e", "f"} <= set(await store.list_children("jobs/"))
    await store.delete_prefix("jobs/e/")

    assert await store.size("jobs/e/input.csv") is None
    assert await store.size("jobs/e/parts/000000.csv") is None
    assert await store.size("jobs/f/input.csv") == 1


async def test_list_objects_walks_a_prefix_with_sizes_and_reads_from_an_offset(
    store: BlobStore,
) -> None:
    await store.put_bytes("inputs/a/2.csv", b"bb")
    await store.put_bytes("inputs/a/deep/1.parquet", b"c")
    await store.put_bytes("inputs/ab/3.csv", b"ddd")

    assert await store.list_objects("inputs/a/") == [
        ("inputs/a/2.csv", 2),
        ("inputs/a/deep/1.parquet", 1),
    ]
    assert await store.list_objects("inputs/a/2.csv") == [("inputs/a/2.csv", 2)]
    assert [k for k, _ in await store.list_objects("inputs/a")] == [
        "inputs/a/2.csv",
        "inputs/a/deep/1.parquet",
        "inputs/ab/3.csv",
    ]  # a prefix, as S3 reads one
    assert await store.list_objects("inputs/none/") == []
    assert b"".join([b async for b in store.iter_bytes("inputs/ab/3.csv", start=1)]) == b"dd"


async def test_missing_object_raises_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFoundError):
        await store.get_range("jobs/none/input.csv", 0, 10)


def test_sync_store_drives_the_store_from_plain_code(tmp_path: Path) -> None:
    blobs = SyncBlobStore.open(tmp_path.as_uri())
    blobs.put_bytes("jobs/a/parts/000000.csv", b"abc" * 1000)
    blobs.put_bytes("jobs/a/parts/000001.csv", b"def")

    assert b"".join(blobs.iter_bytes("jobs/a/parts/000000.csv", block=100)) == b"abc" * 1000
    assert blobs.get_range("jobs/a/parts/000001.csv", 1, 3) == b"ef"
    assert blobs.size("jobs/a/parts/000001.csv") == 3
    assert blobs.list_children("jobs/") == ["a"]
    parts = ["jobs/a/parts/000000.csv", "jobs/a/parts/000001.csv"]
    assert blobs.compose("jobs/a/result.csv", b"h\n", parts) == 2 + 3000 + 3
    assert blobs.read_bytes("jobs/a/result.csv").endswith(b"abcdef")
    blobs.delete_prefix("jobs/a/parts/")
    assert blobs.size("jobs/a/parts/000000.csv") is None
    with pytest.raises(BlobNotFoundError):
        blobs.read_bytes("jobs/a/parts/000000.csv")
    blobs.close()


def test_file_keys_cannot_escape_the_folder(tmp_path: Path) -> None:
    blobs = SyncBlobStore.open(tmp_path.as_uri())

    with pytest.raises(ValueError, match="escapes"):
        blobs.put_bytes("../outside", b"x")
    blobs.close()


async def test_file_blobs_are_private_to_their_owner(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # a permissive umask: the store must not rely on it
    try:
        store = FileBlobStore(tmp_path / "blobs")
        await store.put_stream("jobs/a/input.csv", _chunks(b"x,y\n"))
        await store.put_bytes("jobs/a/parts/0.csv", b"1\n")
        await store.compose("jobs/a/result.csv", b"h\n", ["jobs/a/parts/0.csv"])
    finally:
        os.umask(previous)
    root = tmp_path / "blobs"
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert {f.relative_to(root).as_posix() for f in files} == {
        "jobs/a/input.csv",
        "jobs/a/parts/0.csv",
        "jobs/a/result.csv",
    }
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in folders} == {"0o700"}
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {"0o600"}


def test_read_many_reads_in_order_a_bounded_number_at_a_time(tmp_path: Path) -> None:
    store = CountingBlobStore(tmp_path)
    blobs = SyncBlobStore(store)
    keys = [f"jobs/a/parts/{i:06d}.json" for i in range(50)]
    for i, key in enumerate(keys):
        blobs.put_bytes(key, str(i).encode() * (i + 1))

    bodies = list(blobs.read_many(keys, concurrency=4))

    assert bodies == [str(i).encode() * (i + 1) for i in range(50)]
    assert sorted(store.reads) == keys  # each once
    assert store.peak == 4
    with pytest.raises(BlobNotFoundError):
        list(blobs.read_many([*keys[:3], "jobs/a/parts/none.json"], concurrency=4))
    blobs.close()
