"""One time budget owns the run: a backend that accepts and never answers (the OTLP receiver, S3, SQS)
costs at most its phase, the run reports what was not delivered, and the rest is still done.

The hanging peers are sockets that accept and never answer (tests/integration/hostile.py, its own
process). Assertions are on outcomes; the only clock readings compare the run's wall time with its
deadline plus the issue's 2 s plus a generous margin for a loaded machine, far below what the same
run cost before (each OTLP export alone waited 10 s, each AWS call 60 s and up to 5 attempts).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from exalate_collector.archive.sinks import S3DirectSink
from exalate_collector.aws import LazyClient
from exalate_collector.errors import RunFailed
from exalate_collector.runner import run
from exalate_collector.state.store import S3StateStore
from exalate_collector.telemetry.otel import OtelPipeline

from .conftest import OTEL_VARS, config_for, node_config
from .helpers import values
from .test_hostile_nodes import hostile
from .test_lambda_handler import EVENT, Context, load_handler

DEADLINE_S = 6.0
SLACK_S = 2.0 + 5.0  # the 2 s, and 5 s for a loaded CI machine


def test_a_hanging_otlp_backend_costs_the_export_its_share_and_nothing_more(simulator, monkeypatch):
    for var in OTEL_VARS:
        monkeypatch.delenv(var, raising=False)
    with hostile("Silent") as backend:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", backend.base_url.removesuffix("/jira"))
        pipeline = OtelPipeline.from_environment()
        try:
            started = time.monotonic()
            result = run(config_for(node_config(simulator, ["AllContent"])), DEADLINE_S, pipeline)
            took = time.monotonic() - started
        finally:
            pipeline.shutdown()
    assert result.export is not None and not result.export.metrics_ok and not result.export.logs_ok
    assert result.export_failed  # the CLI exits 1, the Lambda raises ExportFailed
    assert [ex.ok for ex in result.exchanges].count(True) == 5  # polling had its time
    assert took < DEADLINE_S + SLACK_S


@pytest.fixture
def hanging_aws(aws, monkeypatch):
    """Every AWS call goes to a socket that accepts and never answers."""
    with hostile("Silent") as peer:
        monkeypatch.setenv("AWS_ENDPOINT_URL", peer.base_url.removesuffix("/jira"))
        yield peer


def test_a_hanging_s3_leaves_the_export_its_time_and_fails_the_run(hanging_aws, simulator, receiver, pipeline):
    archive = S3DirectSink(LazyClient("s3"), "archive-bucket")
    state = S3StateStore(LazyClient("s3"), "archive-bucket")
    config = config_for(node_config(simulator, ["AllContent"], name="a"), node_config(simulator, ["GROOVY"], name="b"))
    started = time.monotonic()
    result = run(config, DEADLINE_S, pipeline, archive, state)
    took = time.monotonic() - started
    assert result.archive is not None and [node for node, _ in result.archive.failures] == ["a", "b"]
    assert result.archive_failed  # exit 1 / RunFailed
    # what could not be delivered is reported, through a backend that works
    assert result.export is not None and result.export.metrics_ok
    assert values(receiver, "exalate.archive.failures", {"exalate.node": "a"})[0] == 1
    state_events = {e.attributes["error.type"] for e in receiver.events() if e.event_name == "exalate.state.failure"}
    assert "state_read_failed" in state_events
    # Issue 19: a state that could not be read is not written (a fresh one would replace it): no write to fail
    assert result.state_report is not None and result.state_report.unreadable == {"a", "b"}
    assert took < DEADLINE_S + SLACK_S


def test_a_lambda_whose_aws_hangs_fails_before_its_own_timeout(hanging_aws, receiver, simulator, monkeypatch, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"nodes": [node_config(simulator, ["AllContent"])]}))
    monkeypatch.setenv("EXALATE_COLLECTOR_CONFIG", str(config))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "exalate-collector")
    monkeypatch.setenv("ARCHIVE_BUCKET", f"archive-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("ARCHIVE_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/handoff")
    app = load_handler()
    remaining_ms = 12_000  # the function's own timeout comes 12 s from now: the run's deadline in 7 s
    started = time.monotonic()
    with pytest.raises(RunFailed, match="could not be archived"):
        app.handler(EVENT, Context(remaining_ms))
    assert time.monotonic() - started < remaining_ms / 1000  # never reaches the function's own timeout
    assert set(values(receiver, "exalate.archive.failures")) == {1}  # reported (once per export)
