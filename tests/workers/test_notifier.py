"""Completion notices end to end: gateway, worker and ``hpp notifier`` processes, a webhook
receiver that fails twice, and the environment's SNS topic on the moto server (an SQS queue
subscribed to it reads what was published); and a notice owed by a process that died
before it queued it, sent once by a notifier started afterwards."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import redis

from hpp.redis_server import EmbeddedRedis
from jobs.models import RUNNING, JobRecord
from jobs.notices import DELIVERY_HEADER, JobNotice
from jobs.outbox import NoticeOutbox, NoticePolicy
from jobs.queue import NOTICES_QUEUE
from jobs.store import JobStore
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import start_gateway, stop_gateway
from tests.support.houses import houses_csv
from tests.support.jobs import wait_final
from tests.support.keys import ALICE
from tests.support.webhook_receiver import webhook_receiver
from tests.support.worker_process import WorkerProcess, spawn_worker

pytestmark = pytest.mark.slow
SECRET = "alice-notice-secret"
GRACE = 1.0


@dataclasses.dataclass
class Topic:
    """An SNS topic with an SQS queue subscribed to it (raw delivery off: SNS envelopes)."""

    arn: str
    queue_url: str
    sqs: Any

    def messages(self, count: int, *, timeout: float = 60.0) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            got += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        return got


@pytest.fixture
def topic(moto_server: str) -> Topic:
    name = f"hpp-notices-{uuid.uuid4().hex[:8]}"
    sns = boto3.client("sns", endpoint_url=moto_server)
    sqs = boto3.client("sqs", endpoint_url=moto_server)
    arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    return Topic(arn=arn, queue_url=queue_url, sqs=sqs)


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis()
    server.start()
    yield server
    server.stop()


def test_a_finished_job_is_signed_to_its_webhook_retried_and_published_to_sns(
    batch_env: BatchEnv,
    own_redis: EmbeddedRedis,
    moto_server: str,
    topic: Topic,
    tmp_path: Path,
) -> None:
    env = _notifier_env(
        batch_env,
        own_redis,
        moto_server,
        topic,
        HPP_WEBHOOK_BACKOFF_SECONDS="0.3",
        HPP_PUBLIC_URL="https://api.example.com",
    )
    processes: list[WorkerProcess] = []
    with webhook_receiver(SECRET.encode(), fail_first=2) as receiver:
        try:
            processes.append(spawn_worker(env, tmp_path / "worker.log"))
            processes.append(spawn_worker(env, tmp_path / "notifier.log", command="notifier"))
            gateway = start_gateway(env, tmp_path / "gateway.log")
            try:
                with httpx.Client(base_url=gateway.url, timeout=60) as http:
                    created = http.post(
                        "/v1/jobs",
                        files={"file": ("h.csv", houses_csv(20), "text/csv")},
                        data={"webhook_url": receiver.url},
                        headers=ALICE,
                    )
                    assert created.status_code == 202, created.text
                    job = wait_final(http, created.json()["id"])
                deliveries = receiver.wait_for(3)
                published = topic.messages(1)
            finally:
                stop_gateway(gateway)
        finally:
            for process in processes:
                process.stop()
    notifier_log = processes[1].log()

    assert job["status"] == "succeeded"
    # Failed twice (500), delivered on the third attempt; every attempt signed and verified.
    assert [d.answered for d in deliveries] == [500, 500, 200]
    assert all(d.verified for d in deliveries)
    assert len({d.headers[DELIVERY_HEADER.lower()] for d in deliveries}) == 1
    notice = JobNotice.model_validate_json(deliveries[-1].body)
    assert (notice.job_id, notice.status, notice.rows_done) == (job["id"], "succeeded", 20)
    assert notice.result_url == f"https://api.example.com/v1/jobs/{job['id']}/result"
    # Every attempt logged, in order.
    attempts = [
        json.loads(line)
        for line in notifier_log.splitlines()
        if line.startswith("{") and "job_notice_attempt" in line
    ]
    webhook = [a["outcome"] for a in attempts if a["channel"] == "webhook"]
    assert webhook == ["retrying", "retrying", "delivered"]
    assert [a["attempt"] for a in attempts if a["channel"] == "webhook"] == [1, 2, 3]
    # The same event on the environment's SNS topic, read from the subscribed queue.
    [envelope] = published
    assert envelope["TopicArn"] == topic.arn
    on_sns = JobNotice.model_validate_json(envelope["Message"])
    assert on_sns.model_dump() == notice.model_dump()
    assert [a["outcome"] for a in attempts if a["channel"] == "sns"] == ["delivered"]


def test_a_notice_owed_by_a_process_that_died_is_sent_once_by_the_notifier(
    batch_env: BatchEnv,
    own_redis: EmbeddedRedis,
    moto_server: str,
    topic: Topic,
    tmp_path: Path,
) -> None:
    env = _notifier_env(
        batch_env, own_redis, moto_server, topic, HPP_NOTICE_GRACE_SECONDS=str(GRACE)
    )
    client = redis.Redis.from_url(own_redis.url, decode_responses=True)
    store = JobStore(client, ttl_seconds=3600, notices=NoticePolicy(GRACE, sns=True))
    outbox = NoticeOutbox(client)
    with webhook_receiver(SECRET.encode()) as receiver:
        job_id = "died-before-queueing-its-notice"
        store.put(
            JobRecord(
                id=job_id, owner="alice", status=RUNNING, rows_done=5, webhook_url=receiver.url
            )
        )
        # The final state through the store's one atomic step; then the process "dies":
        # no notice task is ever queued.
        assert store.succeed(job_id, rows_total=5)
        assert client.llen(NOTICES_QUEUE) == 0
        assert len(outbox.owed()) == 2
        notifier = spawn_worker(env, tmp_path / "notifier.log", command="notifier")
        try:
            [delivery] = receiver.wait_for(1)
            published = topic.messages(1)
            settled = wait_until(lambda: outbox.owed() == {})
            time.sleep(3 * GRACE)  # three more drains: none may send it again
            later = topic.messages(1, timeout=2)
        finally:
            notifier.stop()
    client.close()
    lines = [json.loads(line) for line in notifier.log().splitlines() if line.startswith("{")]

    assert settled
    assert len(receiver.deliveries) == 1
    assert later == []
    assert delivery.verified
    assert delivery.headers[DELIVERY_HEADER.lower()] == f"{job_id}:succeeded"
    notice = JobNotice.model_validate_json(delivery.body)
    assert (notice.job_id, notice.status, notice.rows_done) == (job_id, "succeeded", 5)
    [envelope] = published
    assert JobNotice.model_validate_json(envelope["Message"]) == notice
    requeued = sorted(line["channel"] for line in lines if line["event"] == "job_notice_requeued")
    assert requeued == ["sns", "webhook"]
    attempts = [
        (line["channel"], line["outcome"])
        for line in lines
        if line["event"] == "job_notice_attempt"
    ]
    assert sorted(attempts) == [("sns", "delivered"), ("webhook", "delivered")]


def wait_until(check: Callable[[], bool], *, timeout: float = 60.0) -> bool:
    """Whether ``check`` came true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _notifier_env(
    batch_env: BatchEnv, redis: EmbeddedRedis, moto_server: str, topic: Topic, **more: str
) -> BatchEnv:
    """The test's own Redis, webhooks to this machine signed with alice's secret, SNS on moto."""
    return dataclasses.replace(
        batch_env,
        redis_url=redis.url,
        extra={
            "HPP_WEBHOOK_ALLOWED_HOSTS": '["127.0.0.1"]',
            "HPP_WEBHOOK_SECRETS": json.dumps({"alice": SECRET}),
            "HPP_UNSAFE_WEBHOOKS_TO_LOOPBACK_FOR_TESTS": "true",
            "HPP_NOTICES_TOPIC_ARN": topic.arn,
            "HPP_AWS_ENDPOINT_URL": moto_server,
            **more,
        },
    )
