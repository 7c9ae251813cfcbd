"""The job models: a record survives Redis's strings, and the Job reads as the API wrote it."""

from __future__ import annotations

import json

from jobs.models import RUNNING, SUCCEEDED, Job, JobRecord, iso_time


def _record(**fields: object) -> JobRecord:
    values: dict[str, object] = {"id": "j1", "owner": "alice", "created_at": 99.0}
    return JobRecord.model_validate({**values, **fields})


def test_a_record_round_trips_through_redis_strings() -> None:
    record = _record(
        status=RUNNING,
        started_at=100.25,
        rows_total=1000,
        columns=["sqft", "a,b"],
        feature_positions={"sqft": 0},
        plan='{"chunks": []}',
        drift={"max_psi": 0.3},
        comparables=2,
    )

    stored = record.to_redis()

    assert all(isinstance(value, str) for value in stored.values())
    assert (stored["started_at"], stored["rows_total"]) == ("100.25", "1000")
    assert "finished_at" not in stored  # unset: absent, as a fresh job's hash has it
    assert JobRecord.from_redis(stored) == record


def test_empty_hash_values_read_as_missing() -> None:
    stored = {"id": "j1", "owner": "o", "status": "queued", "started_at": "", "error": ""}

    record = JobRecord.from_redis(stored)

    assert (record.started_at, record.error, record.rows_done) == (None, "", 0)


def test_the_job_reports_progress_rate_and_eta() -> None:
    record = _record(status=RUNNING, rows_total=1000, rows_done=250, started_at=100.0)

    job = record.to_job(now=110.0)

    assert (job.progress, job.rows_per_second, job.eta_seconds) == (0.25, 25.0, 30.0)
    assert job.is_active
    assert (job.duration_seconds or 0) > 0


def test_job_times_are_written_in_utc_with_a_z_as_before() -> None:
    for created in (99.0, 1764595148.123456, 1764595148.5):
        body = json.loads(_record(created_at=created).to_job(now=0).model_dump_json())

        assert body["created_at"] == iso_time(created)


def test_a_succeeded_job_is_complete_and_the_web_app_reads_it_back() -> None:
    record = _record(status=SUCCEEDED, rows_total=10, rows_done=10, started_at=1.0, finished_at=3.0)
    sent = record.to_job(now=50.0, links={"self": "/v1/jobs/j1"}).model_dump(mode="json")

    read = Job.model_validate({**sent, "added_by_a_newer_gateway": 1})

    assert read.progress == 1.0
    assert not read.is_active
    assert read.duration_seconds == 2.0
    assert read.links["self"] == "/v1/jobs/j1"
