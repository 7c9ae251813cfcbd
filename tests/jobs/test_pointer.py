"""Where a pointer may point: the blob-store key it names, and the prefixes a key may read."""

from __future__ import annotations

import pytest

from jobs.pointer import allowed, store_key

S3 = "s3://hpp-jobs/hpp"
LOCAL = "file:///srv/hpp/blobs"


@pytest.mark.parametrize(
    ("pointer", "blob_url", "key"),
    [
        ("inputs/acme/", S3, "inputs/acme/"),
        ("s3://hpp-jobs/hpp/inputs/acme/x.parquet", S3, "inputs/acme/x.parquet"),
        ("file:///srv/hpp/blobs/inputs/acme/", LOCAL, "inputs/acme/"),
        ("s3://other-bucket/hpp/inputs/acme/", S3, None),
        ("s3://hpp-jobs/elsewhere/inputs/acme/", S3, None),
        ("file:///etc/passwd", LOCAL, None),
        ("file:///srv/hpp/blobs-other/x.csv", LOCAL, None),
        ("s3://hpp-jobs/hpp/inputs/acme/", LOCAL, None),
        ("https://example.com/x.csv", S3, None),
        ("inputs/acme/../bob/", S3, None),
        ("inputs//acme/", S3, None),
        ("inputs/acme/\x00x", S3, None),
        ("http://[::1", S3, None),
    ],
)
def test_store_key_reads_only_keys_inside_the_store(
    pointer: str, blob_url: str, key: str | None
) -> None:
    assert store_key(pointer, blob_url) == key


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("inputs/acme/2026/x.csv", True),
        ("inputs/acme/", True),
        ("inputs/acme", True),  # the folder itself, named without its slash
        ("inputs/acme2/x.csv", False),
        ("inputs/", False),
        ("jobs/abc/input.csv", False),
        ("jobs", False),
        ("other/x.csv", False),
    ],
)
def test_a_key_reads_only_its_folders_and_never_jobs(key: str, ok: bool) -> None:
    assert allowed(key, ["inputs/acme", "jobs/", "/"]) is ok
