"""The audit trail in S3 (moto server over HTTP): Object Lock in compliance mode, KMS, verify."""

from __future__ import annotations

import json
import uuid
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from audit.store import S3AuditStore
from audit.verify import verify_store
from audit.writer import AuditTrail, AuditWriter

pytestmark = pytest.mark.slow
KEY = b"s3-test-key"
REGION = "us-east-1"


@pytest.fixture
def locked_bucket(moto_server: str) -> tuple[Any, str]:
    """A versioned bucket with Object Lock (compliance, 1 day) and default KMS encryption."""
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name=REGION)
    kms = boto3.client("kms", endpoint_url=moto_server, region_name=REGION)
    bucket = f"audit-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_id,
                    }
                }
            ]
        },
    )
    return s3, bucket


def record(price: int) -> dict[str, Any]:
    return {"kind": "predict", "rows": [{"price": price}]}


def store_for(moto_server: str, bucket: str) -> S3AuditStore:
    return S3AuditStore(bucket, "audit", key=KEY, endpoint_url=moto_server)


async def write_batches(moto_server: str, bucket: str, batches: int = 3) -> str:
    trail = AuditTrail(store_for(moto_server, bucket), stream="gateway-s3-1")
    writer = AuditWriter(trail)
    for b in range(batches):
        for i in range(4):
            writer.submit(partial(record, b * 10 + i))
        assert await writer.flush() == 4
    await writer.stop()
    return trail.stream


async def test_batches_become_locked_encrypted_objects_that_verify(
    moto_server: str, locked_bucket: tuple[Any, str]
) -> None:
    s3, bucket = locked_bucket
    stream = await write_batches(moto_server, bucket)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [
        f"audit/{stream}/{seq:012d}.{suffix}"
        for seq in (0, 4, 8)
        for suffix in ("head.json", "jsonl")
    ]
    first = f"audit/{stream}/000000000000.jsonl"
    # HEAD, not GetObjectRetention: moto 5.2 answers that one 500 for a bucket-default lock.
    head = s3.head_object(Bucket=bucket, Key=first)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > head["LastModified"]
    assert head["ServerSideEncryption"] == "aws:kms"
    store = store_for(moto_server, bucket)
    report = await verify_store(store, key=KEY)
    await store.aclose()
    assert report.ok, report.lines()
    assert report.records == 12
    assert report.streams[0].state == "closed"


async def test_a_locked_record_version_cannot_be_deleted(
    moto_server: str, locked_bucket: tuple[Any, str]
) -> None:
    s3, bucket = locked_bucket
    stream = await write_batches(moto_server, bucket, batches=1)
    key = f"audit/{stream}/000000000000.jsonl"
    version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


async def test_a_delete_marker_and_an_overwritten_record_are_reported(
    moto_server: str, locked_bucket: tuple[Any, str]
) -> None:
    s3, bucket = locked_bucket
    stream = await write_batches(moto_server, bucket)
    middle = f"audit/{stream}/000000000004.jsonl"
    lines = s3.get_object(Bucket=bucket, Key=middle)["Body"].read().splitlines(keepends=True)
    record = json.loads(lines[1])
    record["rows"][0]["price"] = 0
    lines[1] = (json.dumps(record) + "\n").encode()
    s3.put_object(Bucket=bucket, Key=middle, Body=b"".join(lines))  # a new version on top
    s3.delete_object(Bucket=bucket, Key=f"audit/{stream}/000000000008.jsonl")  # a marker only
    store = store_for(moto_server, bucket)
    report = await verify_store(store, key=KEY)
    await store.aclose()
    assert not report.ok
    assert report.removed == [f"audit/{stream}/000000000008.jsonl"]
    assert any("seq 5" in p and "altered" in p for p in report.streams[0].problems), report.lines()


async def test_payloads_are_locked_objects_beside_the_stream_that_verify(
    moto_server: str, locked_bucket: tuple[Any, str]
) -> None:
    s3, bucket = locked_bucket
    trail = AuditTrail(store_for(moto_server, bucket), stream="worker-s3-1")
    digests = await trail.put_payloads({"input": b"a,b\n", "output": b"a,b,1\n"})
    trail.seal([{"kind": "job_chunk", "job_id": "j", "chunk": 0, "payloads": digests}])
    assert await trail.write() == 1
    await trail.close()
    key = f"audit/worker-s3-1/payloads/{digests['input']}"
    assert s3.head_object(Bucket=bucket, Key=key)["ObjectLockMode"] == "COMPLIANCE"
    s3.put_object(Bucket=bucket, Key=key, Body=b"a,c\n")  # a new version on top
    store = store_for(moto_server, bucket)
    report = await verify_store(store, key=KEY)
    await store.aclose()
    assert report.records == 1  # the payloads are not taken for segments
    (problem,) = report.streams[0].problems
    assert "input" in problem
    assert "modified or swapped" in problem
