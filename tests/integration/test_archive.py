"""The archive end to end through moto's server: collector -> SQS (claim check on S3) -> archiver -> S3."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import uuid
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from exalate_collector.archive.envelope import claim_message, parse_message
from exalate_collector.archive.records import body_of, decode_jsonl_gz
from exalate_collector.archive.sinks import LocalDirectorySink, QueueSink
from exalate_collector.aws import LazyClient
from exalate_collector.config import parse_config
from exalate_collector.endpoints import ENDPOINTS, SYNC_REQUESTS, SYNC_RESPONSES, polls_per_relation
from exalate_collector.errors import RunFailed
from exalate_collector.lambda_entry import raise_if_incomplete
from exalate_collector.runner import run
from exalate_collector.simulator import Behaviour, seed_body

from ..conftest import ROOT
from .conftest import config_for, load_function, node_config
from .helpers import values


@pytest.fixture
def stack(aws, monkeypatch) -> dict[str, Any]:
    """What the SAM template creates: a bucket, a queue and its dead-letter queue (maxReceiveCount 2)."""
    suffix = uuid.uuid4().hex[:8]
    bucket = f"exalate-archive-{suffix}"
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    dlq = sqs.create_queue(QueueName=f"archive-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=f"archive-{suffix}",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})},
    )["QueueUrl"]
    monkeypatch.setenv("ARCHIVE_BUCKET", bucket)
    monkeypatch.setenv("ARCHIVE_QUEUE_URL", queue)
    monkeypatch.setenv("ARCHIVE_PREFIX", "exalate/")
    return {"bucket": bucket, "queue": queue, "dlq": dlq, "s3": s3, "sqs": sqs}


def archiver() -> ModuleType:
    return load_function("archiver")


class Context:
    function_name = "exalate-archiver"
    aws_request_id = "req"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def receive(stack: dict[str, Any], queue: str | None = None) -> list[dict[str, Any]]:
    answer = stack["sqs"].receive_message(
        QueueUrl=queue or stack["queue"], MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
    )
    return answer.get("Messages", [])


def lambda_event(messages: list[dict[str, Any]], stack: dict[str, Any]) -> dict[str, Any]:
    """The event Lambda's SQS poller would build from these messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:q",
                "awsRegion": "eu-west-1",
            }
            for m in messages
        ]
    }


def deliver(stack: dict[str, Any], app: ModuleType, messages: list[dict[str, Any]]) -> list[str]:
    """Invoke the archiver like Lambda does; delete what succeeded; make failures visible again."""
    answer = app.handler(lambda_event(messages, stack), Context())
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    for m in messages:
        if m["MessageId"] in failed:
            stack["sqs"].change_message_visibility(
                QueueUrl=stack["queue"], ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            stack["sqs"].delete_message(QueueUrl=stack["queue"], ReceiptHandle=m["ReceiptHandle"])
    return sorted(failed)


def archive_objects(stack: dict[str, Any], prefix: str = "exalate/") -> list[str]:
    answer = stack["s3"].list_objects_v2(Bucket=stack["bucket"], Prefix=prefix)
    return [o["Key"] for o in answer.get("Contents", [])]


def incompressible_items(size: int) -> bytes:
    """Queued replicas whose payloads do not compress (as base64 of real content barely does)."""
    item = json.loads(seed_body(SYNC_REQUESTS))[0]
    count = size // 9000 + 1
    items = [
        {
            **item,
            "syncEventId": i,
            "replica": {**item["replica"], "encodedPayload": base64.b64encode(os.urandom(6750)).decode()},
        }
        for i in range(count)
    ]
    body = json.dumps(items).encode()
    assert len(body) >= size
    return body


def queue_sink(stack: dict[str, Any]) -> QueueSink:
    return QueueSink(LazyClient("sqs"), stack["queue"], LazyClient("s3"), stack["bucket"])


def test_small_run_end_to_end(stack, simulator, receiver, pipeline):
    result = run(config_for(node_config(simulator, ["AllContent", "GROOVY"])), 10, pipeline, queue_sink(stack))
    assert result.archive is not None and result.archive.delivered == {"jira-test": "inline"}
    messages = receive(stack)
    assert len(messages) == 1 and parse_message(messages[0]["Body"]).kind == "inline"

    assert deliver(stack, archiver(), messages) == []
    (key,) = archive_objects(stack)
    assert (
        key == f"exalate/dt={result.started_at:%Y-%m-%d}/hour={result.started_at:%H}/node=jira-test/"
        f"{result.run_id}.jsonl.gz"
    )
    obj = stack["s3"].get_object(Bucket=stack["bucket"], Key=key)
    assert obj["Metadata"]["run-id"] == result.run_id
    assert obj["Metadata"]["record-count"] == str(polls_per_relation(["AllContent", "GROOVY"]))
    assert obj["ServerSideEncryption"] == "AES256"
    records = decode_jsonl_gz(obj["Body"].read())
    assert [(r["relation"], r["endpoint"]) for r in records] == [
        (rel, e) for rel in ("AllContent", "GROOVY") for e in ENDPOINTS
    ]
    for record in records:
        assert body_of(record) == seed_body(record["endpoint"])  # exactly what the simulator served
        assert "jwt" not in record["url"]
    assert receive(stack) == []


def test_a_20_mb_answer_comes_out_byte_for_byte_through_the_claim_check(stack, simulator, receiver, pipeline):
    big = incompressible_items(20_000_000)
    simulator.set("AllContent", SYNC_REQUESTS, Behaviour(body=big))
    result = run(config_for(node_config(simulator, ["AllContent"], timeout_s=60)), 60, pipeline, queue_sink(stack))
    assert result.archive is not None and result.archive.delivered["jira-test"].startswith("claim check s3://")
    (message,) = receive(stack)
    envelope = parse_message(message["Body"])
    assert envelope.kind == "claim_check" and envelope.key.startswith("staging/")

    assert deliver(stack, archiver(), [message]) == []
    (key,) = archive_objects(stack)
    records = decode_jsonl_gz(stack["s3"].get_object(Bucket=stack["bucket"], Key=key)["Body"].read())
    served = body_of(records[0])
    assert hashlib.sha256(served).hexdigest() == hashlib.sha256(big).hexdigest() == records[0]["body_sha256"]
    assert archive_objects(stack, "staging/") == []  # deleted once the archive object existed
    assert values(receiver, "exalate.queue.size", {"exalate.endpoint": SYNC_REQUESTS}) == [len(json.loads(big))]


def test_the_same_message_twice_makes_one_object(stack):
    app = archiver()
    inline = json.loads((ROOT / "events" / "sqs-inline.json").read_text())
    assert app.handler(inline, Context()) == {"batchItemFailures": []}
    (key,) = archive_objects(stack)
    first = stack["s3"].head_object(Bucket=stack["bucket"], Key=key)
    assert app.handler(inline, Context()) == {"batchItemFailures": []}  # redelivered: 412, same content: done
    assert archive_objects(stack) == [key]
    assert stack["s3"].head_object(Bucket=stack["bucket"], Key=key)["ETag"] == first["ETag"]


def test_the_claim_check_sample_event(stack, monkeypatch):
    event = json.loads((ROOT / "events" / "sqs-claim-check.json").read_text())
    envelope = parse_message(event["Records"][0]["body"])
    monkeypatch.setenv("ARCHIVE_BUCKET", envelope.bucket)
    stack["s3"].create_bucket(Bucket=envelope.bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    stack["s3"].put_object(
        Bucket=envelope.bucket, Key=envelope.key, Body=(ROOT / "events" / "staging-object.jsonl.gz").read_bytes()
    )
    assert archiver().handler(event, Context()) == {"batchItemFailures": []}
    keys = stack["s3"].list_objects_v2(Bucket=envelope.bucket)["Contents"]
    assert [k["Key"] for k in keys] == [
        "exalate/dt=2026-11-27/hour=18/node=jira-prod/20261127T184500Z-0a1b2c3d.jsonl.gz"
    ]


def test_an_archiver_failure_then_a_retry_loses_nothing(stack, simulator, monkeypatch):
    run(config_for(node_config(simulator, ["AllContent"])), 10, None, queue_sink(stack))
    messages = receive(stack)
    monkeypatch.setenv("ARCHIVE_BUCKET", "exalate-bucket-that-does-not-exist")
    assert deliver(stack, archiver(), messages) == [messages[0]["MessageId"]]
    assert archive_objects(stack) == []

    monkeypatch.setenv("ARCHIVE_BUCKET", stack["bucket"])
    retried = receive(stack)
    assert [m["MessageId"] for m in retried] == [messages[0]["MessageId"]]
    assert deliver(stack, archiver(), retried) == []
    assert len(archive_objects(stack)) == 1


def test_a_corrupted_staging_object_is_never_archived_and_ends_in_the_dlq(stack, simulator):
    big = incompressible_items(2_000_000)
    simulator.set("AllContent", SYNC_REQUESTS, Behaviour(body=big))
    run(config_for(node_config(simulator, ["AllContent"])), 30, None, queue_sink(stack))
    (message,) = receive(stack)
    envelope = parse_message(message["Body"])
    stack["s3"].put_object(Bucket=stack["bucket"], Key=envelope.key, Body=b"tampered")
    app = archiver()
    assert deliver(stack, app, [message]) == [message["MessageId"]]
    assert archive_objects(stack) == []
    assert archive_objects(stack, "staging/") == [envelope.key]  # kept for the retry and the investigation
    (again,) = receive(stack)
    assert deliver(stack, app, [again]) == [message["MessageId"]]
    assert receive(stack) == []  # maxReceiveCount 2 reached: moved to the dead-letter queue
    assert [m["MessageId"] for m in receive(stack, stack["dlq"])] == [message["MessageId"]]


def test_an_existing_object_with_other_content_is_never_replaced(stack):
    app = archiver()
    event = json.loads((ROOT / "events" / "sqs-inline.json").read_text())
    envelope = parse_message(event["Records"][0]["body"])
    key = f"exalate/dt=2026-11-27/hour=18/node=jira-prod/{envelope.run_id}.jsonl.gz"
    stack["s3"].put_object(Bucket=stack["bucket"], Key=key, Body=b"something else")
    failures = app.handler(event, Context())["batchItemFailures"]
    assert failures == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert stack["s3"].get_object(Bucket=stack["bucket"], Key=key)["Body"].read() == b"something else"


def test_a_non_utf8_body_is_archived_as_base64(stack, simulator):
    raw = b"\x89PNG\r\n\x1a\n\xff\xfe binary error page"
    simulator.set("AllContent", SYNC_REQUESTS, Behaviour(status=500, body=raw, content_type="image/png"))
    run(config_for(node_config(simulator, ["AllContent"])), 10, None, queue_sink(stack))
    assert deliver(stack, archiver(), receive(stack)) == []
    (key,) = archive_objects(stack)
    record = decode_jsonl_gz(stack["s3"].get_object(Bucket=stack["bucket"], Key=key)["Body"].read())[0]
    assert record["body_base64"] is True and body_of(record) == raw and record["error_type"] == "server_error"


def test_a_failed_handoff_is_reported_and_fails_the_run(stack, simulator, receiver, pipeline):
    sink = QueueSink(LazyClient("sqs"), stack["queue"] + "-missing", LazyClient("s3"), stack["bucket"])
    result = run(config_for(node_config(simulator, ["AllContent"])), 10, pipeline, sink)
    assert result.archive is not None and [f.error_type for _, f in result.archive.failures] == ["handoff_failed"]
    assert values(receiver, "exalate.archive.failures", {"error.type": "handoff_failed"}) == [1]
    (event,) = [e for e in receiver.events() if e.event_name == "exalate.archive.failure"]
    assert event.severity_text == "ERROR" and event.attributes["exalate.node"] == "jira-test"
    with pytest.raises(RunFailed, match=r"jira-test \(handoff_failed\) could not be archived"):
        raise_if_incomplete(result)


def test_local_directory_mode(tmp_path, simulator):
    result = run(config_for(node_config(simulator, ["AllContent"])), 10, None, LocalDirectorySink(tmp_path))
    (path,) = [p for p in tmp_path.rglob("*.jsonl.gz")]
    assert str(path) == result.archive.delivered["jira-test"]
    assert path.relative_to(tmp_path).parts[:3] == (
        "exalate",
        f"dt={result.started_at:%Y-%m-%d}",
        f"hour={result.started_at:%H}",
    )
    records = decode_jsonl_gz(path.read_bytes())
    assert [body_of(r) for r in records] == [seed_body(e) for e in ENDPOINTS]


def test_direct_s3_mode_outside_aws(stack, simulator, tmp_path):
    from exalate_collector.archive.sinks import sink_for
    from exalate_collector.settings import Settings

    sink = sink_for(Settings.from_environment(os.environ), in_lambda=False)
    result = run(config_for(node_config(simulator, ["AllContent"])), 10, None, sink)
    assert result.archive.delivered["jira-test"].startswith(f"s3://{stack['bucket']}/exalate/dt=")
    assert len(archive_objects(stack)) == 1


def test_a_claim_check_outside_the_staging_prefix_is_refused_and_left_alone(stack):
    key = "exalate/dt=2026-11-27/hour=18/node=jira-prod/other.jsonl.gz"
    payload = (ROOT / "events" / "staging-object.jsonl.gz").read_bytes()
    stack["s3"].put_object(Bucket=stack["bucket"], Key=key, Body=payload)
    body = claim_message("r1", "jira-prod", datetime(2026, 11, 27, 18, tzinfo=UTC), 6, stack["bucket"], key, payload)
    event = {
        "Records": [{**json.loads((ROOT / "events" / "sqs-claim-check.json").read_text())["Records"][0], "body": body}]
    }
    failures = archiver().handler(event, Context())["batchItemFailures"]
    assert failures == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert archive_objects(stack) == [key]  # neither archived again nor deleted


def emf_failures(out: str) -> list[str]:
    """The ErrorType of every ArchiveFailures data point the archiver printed (CloudWatch EMF)."""
    found = []
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        if [m["Name"] for m in directive["Metrics"]] == ["ArchiveFailures"]:
            assert directive["Namespace"] == "ExalateCollector" and blob["ArchiveFailures"] in (1, [1], 1.0, [1.0])
            found.append(blob.get("ErrorType", "(total)"))
    return found


def claim_checked_run(stack: dict[str, Any], simulator) -> tuple[dict[str, Any], Any]:
    simulator.set("AllContent", SYNC_REQUESTS, Behaviour(body=incompressible_items(2_000_000)))
    run(config_for(node_config(simulator, ["AllContent"])), 30, None, queue_sink(stack))
    (message,) = receive(stack)
    return message, parse_message(message["Body"])


def test_a_redelivered_claim_check_whose_archive_exists_succeeds(stack, simulator, capsys):
    message, _ = claim_checked_run(stack, simulator)
    app = archiver()
    assert app.handler(lambda_event([message], stack), Context()) == {"batchItemFailures": []}
    assert archive_objects(stack, "staging/") == []  # cleaned up after the first delivery
    (key,) = archive_objects(stack)
    first = stack["s3"].head_object(Bucket=stack["bucket"], Key=key)["ETag"]
    # SQS delivers the same message again (at-least-once): the staging object is gone, the archive is there
    assert app.handler(lambda_event([message], stack), Context()) == {"batchItemFailures": []}
    assert archive_objects(stack) == [key]
    assert stack["s3"].head_object(Bucket=stack["bucket"], Key=key)["ETag"] == first
    assert emf_failures(capsys.readouterr().out) == []


def test_every_failed_message_is_logged_and_counted_by_error_type(stack, simulator, capsys, caplog):
    message, envelope = claim_checked_run(stack, simulator)
    tampered = dict(message)
    stack["s3"].put_object(Bucket=stack["bucket"], Key=envelope.key, Body=b"tampered")
    inline = json.loads((ROOT / "events" / "sqs-inline.json").read_text())["Records"][0]
    inline_head = json.loads(inline["body"])
    malformed = {**inline, "messageId": "m-bad", "body": json.dumps({**inline_head, "run_id": "../x"})}
    gone = claim_message(
        envelope.run_id[:-8] + "ffffffff",  # another run of the same second
        "jira-test",
        envelope.started_at,
        6,
        stack["bucket"],
        "staging/never-written.jsonl.gz",
        b"xyz",
    )
    event = lambda_event([tampered], stack)
    event["Records"] += [malformed, {**inline, "messageId": "m-gone", "body": gone}]
    app = archiver()
    logging.getLogger().addHandler(caplog.handler)  # the handler's cold start configured logging anew
    with caplog.at_level("ERROR"):
        failed = {f["itemIdentifier"] for f in app.handler(event, Context())["batchItemFailures"]}
    assert failed == {message["MessageId"], "m-bad", "m-gone"}
    counted = sorted(emf_failures(capsys.readouterr().out))
    assert counted == ["(total)"] * 3 + ["archive_read_failed", "checksum_mismatch", "malformed_message"]
    logged = {(getattr(r, "message_id", None), getattr(r, "error.type", None)) for r in caplog.records}
    assert {
        (message["MessageId"], "checksum_mismatch"),
        ("m-bad", "malformed_message"),
        ("m-gone", "archive_read_failed"),
    } <= logged
    reasons = " ".join(r.getMessage() for r in caplog.records)
    assert "run_id is not of the form" in reasons and "NoSuchKey" in reasons
    assert archive_objects(stack) == []  # nothing was archived from any of them


def test_answers_over_the_memory_budget_are_parsed_and_archived_from_files(stack, simulator, receiver, pipeline):
    """A 1 MB budget and four 3 MB answers: all go to temporary files, and come out the same."""
    bodies = {rel: incompressible_items(3_000_000) for rel in ("AllContent", "GROOVY")}
    for relation, body in bodies.items():
        simulator.set(relation, SYNC_REQUESTS, Behaviour(body=body))
        simulator.set(relation, SYNC_RESPONSES, Behaviour(body=body))
    node = node_config(simulator, ["AllContent", "GROOVY"], timeout_s=60)
    config = parse_config({"nodes": [node], "limits": {"memory_budget_mb": 1}})
    result = run(config, 60, pipeline, queue_sink(stack))
    assert result.spilled == 4
    assert all(ex.body == b"" and ex.body_file is None for ex in result.exchanges)  # released, files closed
    count = len(json.loads(bodies["AllContent"]))
    assert values(receiver, "exalate.queue.size", {"exalate.endpoint": SYNC_REQUESTS}) == [count, count]
    assert result.archive is not None and result.archive.delivered["jira-test"].startswith("claim check s3://")
    (message,) = receive(stack)
    assert deliver(stack, archiver(), [message]) == []
    (key,) = archive_objects(stack)
    records = decode_jsonl_gz(stack["s3"].get_object(Bucket=stack["bucket"], Key=key)["Body"].read())
    for record in records:
        if record["endpoint"] in (SYNC_REQUESTS, SYNC_RESPONSES):
            assert body_of(record) == bodies[record["relation"]]
        else:
            assert body_of(record) == seed_body(record["endpoint"])
