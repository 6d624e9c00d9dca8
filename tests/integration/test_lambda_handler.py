"""The collector's Lambda handler, with its configuration in SSM and its secret in Secrets Manager (moto server)."""

from __future__ import annotations

import json
import os
import uuid
from types import ModuleType

import boto3
import pytest
from exalate_collector.endpoints import ENDPOINTS, polls_per_relation
from exalate_collector.errors import ExportFailed

from ..conftest import ROOT
from .conftest import SECRET, load_function, node_config
from .helpers import values

EVENT = json.loads((ROOT / "events" / "scheduler.json").read_text())
RELATIONS = ["AllContent", "GROOVY"]
POLLS = polls_per_relation(RELATIONS)


class Context:
    function_name = "exalate-collector"
    aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:exalate-collector:live"

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_handler() -> ModuleType:
    return load_function("collector")


@pytest.fixture
def lambda_env(aws, receiver, simulator, monkeypatch):
    name = f"exalate/jwt-{uuid.uuid4().hex[:6]}"
    parameter = f"/exalate/config-{uuid.uuid4().hex[:6]}"
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=SECRET)
    config = {"nodes": [node_config(simulator, RELATIONS, auth={"secret": f"secretsmanager:{name}"})]}
    boto3.client("ssm").put_parameter(Name=parameter, Value=json.dumps(config), Type="String")
    monkeypatch.setenv("EXALATE_COLLECTOR_CONFIG", f"ssm:{parameter}")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "exalate-collector")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    monkeypatch.setenv("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/27/[$LATEST]abc")
    return {"secret": name, "parameter": parameter}


def test_scheduled_invocation_exports_with_lambda_resource(lambda_env, receiver, simulator):
    app = load_handler()
    answer = app.handler(EVENT, Context())
    assert answer["polls"] == POLLS and answer["failed"] == 2  # the seed's bloberrorresponses, twice
    assert values(receiver, "exalate.queue.size", {"exalate.relation": "GROOVY"}) == [1] * (len(ENDPOINTS) - 1)
    resource = receiver.resources()[0]
    assert resource["cloud.provider"] == "aws" and resource["cloud.platform"] == "aws_lambda"
    assert resource["faas.name"] == "exalate-collector" and resource["faas.max_memory"] == 256 * 1024 * 1024
    assert resource["cloud.region"] == "eu-west-1"
    # one series per deployment, not per execution environment: the unqualified ARN, no faas.instance
    assert resource["service.instance.id"] == "arn:aws:lambda:eu-west-1:123456789012:function:exalate-collector"
    assert "faas.instance" not in resource
    assert {(r.method, r.authenticated) for r in simulator.seen} == {("GET", True)}


def test_warm_invocations_reuse_the_secret(lambda_env, receiver, simulator):
    app = load_handler()
    app.handler(EVENT, Context())
    # The secret disappears from AWS: a warm invocation does not read it again and still authenticates.
    boto3.client("secretsmanager").delete_secret(SecretId=lambda_env["secret"], ForceDeleteWithoutRecovery=True)
    receiver.clear()
    answer = app.handler(EVENT, Context())
    assert answer["failed"] == 2
    assert values(receiver, "exalate.poll.errors", {"error.type": "unauthorized"}) == []


def test_missing_secret_is_reported_not_raised(lambda_env, receiver, monkeypatch, simulator):
    config = {"nodes": [node_config(simulator, ["AllContent"], auth={"secret": "secretsmanager:exalate/absent"})]}
    boto3.client("ssm").put_parameter(
        Name=lambda_env["parameter"], Value=json.dumps(config), Type="String", Overwrite=True
    )
    answer = load_handler().handler(EVENT, Context())
    assert answer["failed"] == len(ENDPOINTS)
    (event,) = receiver.events()  # once for the node, not once per endpoint
    assert event.attributes["error.type"] == "secret_unavailable"
    assert "node jira-test was not polled" in event.body and "secretsmanager:exalate/absent" in event.body
    assert simulator.seen == []  # nothing was sent without credentials


def test_a_400_fails_the_invocation_with_the_backends_own_message(lambda_env, receiver, simulator):
    receiver.status, receiver.message = 400, "flate: corrupt input before offset 5"
    with pytest.raises(ExportFailed, match="HTTP 400: flate: corrupt input before offset 5"):
        load_handler().handler(EVENT, Context())


def test_refused_export_fails_the_invocation_after_the_run(lambda_env, receiver, simulator):
    receiver.status = 401
    app = load_handler()
    with pytest.raises(ExportFailed, match="refused the export"):
        app.handler(EVENT, Context())
    assert len(simulator.seen) == POLLS  # everything was polled first


def test_deadline_comes_from_the_remaining_time(lambda_env, monkeypatch, simulator):
    from exalate_collector.lambda_entry import deadline_s
    from exalate_collector.settings import Settings

    assert deadline_s(Context(30_000), Settings()) == 25.0  # the whole run: polling, archive, state and export
    assert deadline_s(Context(2_000), Settings()) == 1.0


def test_otlp_headers_come_from_secrets_manager(lambda_env, receiver, monkeypatch, simulator):
    name = f"otlp-headers-{uuid.uuid4().hex[:6]}"
    arn = boto3.client("secretsmanager").create_secret(Name=name, SecretString="x-honeycomb-team=abc123")["ARN"]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS_SECRET", f"secretsmanager:{arn}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "")  # restored after the test, whatever the handler sets

    app = load_handler()
    assert os.environ["OTEL_EXPORTER_OTLP_HEADERS"] == "x-honeycomb-team=abc123"
    app.handler(EVENT, Context())
    assert receiver.received.headers_seen[-1].get("x-honeycomb-team") == "abc123"


def test_lambda_archives_through_the_queue_and_remembers_in_s3(lambda_env, receiver, simulator, monkeypatch):
    bucket = f"archive-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    queue = boto3.client("sqs").create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv("ARCHIVE_BUCKET", bucket)
    monkeypatch.setenv("ARCHIVE_QUEUE_URL", queue)
    app = load_handler()
    first = app.handler(EVENT, Context())
    assert first["archived"] == {"jira-test": "inline"}
    assert len([e for e in receiver.events() if e.event_name == "exalate.sync.error"]) == 2
    receiver.clear()
    app.handler(EVENT, Context())
    assert [e for e in receiver.events() if e.event_name == "exalate.sync.error"] == []  # remembered
    state = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key="state/jira-test.json")["Body"].read())
    assert set(state["relations"]) == {"AllContent", "GROOVY"}
    messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 2  # one per run for the one node


def test_a_rotated_secret_is_read_again_after_a_401(lambda_env, receiver, simulator):
    app = load_handler()
    app.handler(EVENT, Context())
    rotated = "a-rotated-secret-of-at-least-32-bytes!!"
    boto3.client("secretsmanager").put_secret_value(SecretId=lambda_env["secret"], SecretString=rotated)
    simulator.secret = rotated  # both sides rotate; the warm function still holds the old secret
    receiver.clear()
    assert app.handler(EVENT, Context())["failed"] == POLLS  # the old secret: 401 everywhere, reported
    assert {e.attributes["error.type"] for e in receiver.events()} == {"unauthorized"}
    assert app.handler(EVENT, Context())["failed"] == 2  # read again after the 401: back to normal


def test_a_bad_environment_variable_fails_the_init_naming_it(lambda_env, monkeypatch, simulator):
    from exalate_collector.errors import ConfigError

    monkeypatch.setenv("EXALATE_EXPORT_MARGIN_S", "12s")  # a typo: every invocation used to crash with a traceback
    with pytest.raises(ConfigError, match="EXALATE_EXPORT_MARGIN_S: '12s' is not a number of seconds from 0 to 900"):
        load_handler()
    assert simulator.seen == []


def test_cold_starts_continue_the_counters_of_the_function(lambda_env, receiver, simulator, monkeypatch):
    """Each load of the handler is a cold start (a new execution environment): one series for the function
    (its ARN), and the counter continues from the state in S3 instead of starting at 1 again."""
    bucket = f"state-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    monkeypatch.setenv("STATE_BUCKET", bucket)
    where = {"exalate.relation": "GROOVY", "error.type": "invalid_json"}  # the seed's broken bloberrorresponses
    for expected in (1, 2, 3):
        load_handler().handler(EVENT, Context())
        assert values(receiver, "exalate.poll.errors", where) == [expected]
        receiver.clear()
    key = "state/series/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Aexalate-collector.json"
    assert json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())["sums"]


def test_a_warm_function_stays_flat_over_ten_invocations_with_trickling_nodes(lambda_env, receiver, simulator):
    """A body trickled after Connection: close, or in an HTTP/1.0 answer, is cut at timeout_s; no thread,
    descriptor or task of an invocation outlives it, and every invocation's export goes out."""
    import threading

    from .test_hostile_nodes import hostile

    with hostile() as peer:
        trickling = node_config(peer, ["TrickleClose", "Trickle10"], name="trickling", timeout_s=0.5, concurrency=4)
        config = {
            "nodes": [
                node_config(simulator, RELATIONS, auth={"secret": f"secretsmanager:{lambda_env['secret']}"}),
                trickling,
            ]
        }
        boto3.client("ssm").put_parameter(
            Name=lambda_env["parameter"], Value=json.dumps(config), Type="String", Overwrite=True
        )
        app = load_handler()
        counts = []
        for _ in range(10):
            receiver.clear()
            answer = app.handler(EVENT, Context())
            assert answer["polls"] == POLLS + polls_per_relation(["TrickleClose", "Trickle10"])
            assert values(receiver, "exalate.poll.errors", {"exalate.node": "trickling", "error.type": "timeout"})
            counts.append((threading.active_count(), len(os.listdir("/proc/self/fd"))))
    threads, fds = zip(*counts, strict=True)
    assert max(threads) - min(threads) <= 2, counts
    assert max(fds) - min(fds) <= 2, counts


def test_a_run_that_polled_nothing_is_an_error_line_not_a_failed_invocation(lambda_env, receiver, capsys):
    """Every node down: the run's output (each failure) was delivered, so the invocation does not fail
    (the Errors alarm means "the collector failed"); one ERROR line says nothing was polled."""
    from .conftest import free_port

    dead = {"name": "jira-dead", "base_url": f"http://127.0.0.1:{free_port()}/jira", "relations": RELATIONS}
    dead["auth"] = {"secret": f"secretsmanager:{lambda_env['secret']}"}
    boto3.client("ssm").put_parameter(
        Name=lambda_env["parameter"], Value=json.dumps({"nodes": [dead]}), Type="String", Overwrite=True
    )
    app = load_handler()
    answer = app.handler(EVENT, Context())
    assert (answer["polls"], answer["failed"], answer["succeeded"]) == (POLLS, POLLS, 0)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (nothing,) = [line for line in lines if "no poll succeeded" in line["message"]]
    assert nothing["level"] == "ERROR" and nothing["exalate.polls.succeeded"] == 0
    assert nothing["exalate.polls.failed"] == POLLS and nothing["run_id"] == answer["run_id"]
    assert values(receiver, "exalate.endpoint.up", {"exalate.node": "jira-dead"}) == [0] * POLLS  # what to alert on
