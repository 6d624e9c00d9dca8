"""The exalate-collector command, run as a user runs it (a subprocess), against real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from exalate_collector.endpoints import ENDPOINTS, polls_per_relation

from ..conftest import ROOT
from .conftest import OTEL_VARS, node_config


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the command as a user does, in a fresh working directory (its default archive lands there)."""
    base = {k: v for k, v in os.environ.items() if k not in OTEL_VARS and not k.startswith(("AWS_", "ARCHIVE_"))}
    return subprocess.run(
        [sys.executable, "-m", "exalate_collector.cli", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=timeout,
        check=False,
        cwd=cwd or tempfile.mkdtemp(prefix="exalate-cli-"),
    )


@pytest.fixture
def config_file(tmp_path: Path, simulator) -> Path:
    path = tmp_path / "config.yaml"
    node = node_config(simulator, ["AllContent", "Gone"], auth={"secret": "${EXALATE_JWT_SECRET}"})
    path.write_text(json.dumps({"nodes": [node]}))
    return path


def test_run_without_a_backend_prints_the_summary(config_file, simulator, tmp_path: Path):
    from .conftest import SECRET

    done = cli(
        "run", "--config", str(config_file), "--archive-dir", str(tmp_path / "a"), env={"EXALATE_JWT_SECRET": SECRET}
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["node", "relation", "endpoint", "items", "oldest", "status"]
    assert "jira-test  AllContent  syncevents/syncrequests          1      0m00s   ok" in done.stdout
    assert "connection_not_found (HTTP 400)" in done.stdout
    # every endpoint of Gone, and the seed's invalid bloberrorresponses of AllContent
    assert f"{polls_per_relation(['AllContent', 'Gone'])} polls, {len(ENDPOINTS) + 1} failed" in done.stdout
    assert "nothing was exported" in done.stdout
    assert "error.type=connection_not_found" in done.stderr  # the log lines
    assert f"archived node jira-test: {tmp_path / 'a' / 'exalate'}" in done.stdout
    assert len(list((tmp_path / "a").rglob("*.jsonl.gz"))) == 1


def test_an_archive_that_cannot_be_written_exits_1_after_exporting(config_file, simulator, receiver, tmp_path):
    from .conftest import SECRET

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    done = cli(
        "run",
        "--config",
        str(config_file),
        "--archive-dir",
        str(blocker),
        env={"EXALATE_JWT_SECRET": SECRET, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint},
    )
    assert done.returncode == 1
    assert "some answers could not be archived" in done.stderr
    assert [e.attributes["error.type"] for e in receiver.events() if e.event_name == "exalate.archive.failure"] == [
        "archive_write_failed"
    ]


def test_run_with_a_refusing_backend_exits_1(config_file, simulator, receiver):
    from .conftest import SECRET

    receiver.status = 403
    done = cli(
        "run",
        "--config",
        str(config_file),
        env={"EXALATE_JWT_SECRET": SECRET, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint},
    )
    assert done.returncode == 1
    assert "refused the export" in done.stderr
    assert len(simulator.seen) == polls_per_relation(["AllContent", "Gone"])


def test_invalid_configuration_exits_2_before_any_request(tmp_path: Path, simulator):
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({"nodes": [node_config(simulator, ["AllContent"], timeout_s=-1, concurency=3)]}))
    done = cli("run", "--config", str(path))
    assert done.returncode == 2
    assert "nodes[0] (jira-test): timeout_s: must be a number" in done.stderr
    assert "nodes[0] (jira-test): concurency: unknown key" in done.stderr
    assert simulator.seen == []


@pytest.mark.parametrize(
    ("change", "env", "message"),
    [
        ({"base_url": "http://[::1"}, {}, "nodes[0] (jira-test): base_url: not a valid URL"),
        ({"base_url": "http://admin:URLPASSWORD@127.0.0.1/jira"}, {}, "base_url: must not carry credentials"),
        ({"relations": [".."]}, {}, "nodes[0] (jira-test): relations: '.' and '..' are not relation names"),
        ({}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1"}, "OTEL_EXPORTER_OTLP_ENDPOINT: not a valid URL"),
        ({}, {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "otlp.example.com"}, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: must be"),
    ],
)
def test_a_malformed_url_or_relation_exits_2_naming_the_key(tmp_path: Path, simulator, change, env, message):
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({"nodes": [node_config(simulator, **change)]}))
    done = cli("run", "--config", str(path), env=env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "URLPASSWORD" not in done.stderr + done.stdout
    assert simulator.seen == []


def test_grpc_protocol_is_refused_clearly(config_file):
    done = cli(
        "run",
        "--config",
        str(config_file),
        env={
            "EXALATE_JWT_SECRET": "x" * 32,
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        },
    )
    assert done.returncode == 2
    assert "OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported" in done.stderr


def test_demo_shows_what_it_produced(tmp_path: Path):
    done = cli("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.split("=== run 2")
    assert "jira-demo  RemovedPartner  syncevents/syncrequests" in first
    assert "exalate.sync.error " in first and "NO_ISSUE_TO_CONNECT_TO" in first
    # the blob errors show: the simulator serves the API document's broken example repaired, and says so
    assert "exalate.blob.error " in first and "CHECKSUM_MISMATCH" in first
    assert "bloberrorresponses example misses a comma, so the simulator" in first
    assert "invalid_json" not in done.stdout
    # per relation polled: its sync error and its blob error; RemovedPartner: every endpoint
    relations = ["AllContent", "GROOVY"] * 2  # jira-demo's, and those jira-auto discovered
    assert f"in 1 request(s) and {2 * len(relations) + len(ENDPOINTS)} events in 1 request(s)" in first
    assert "relations of jira-auto from the node's connection list: AllContent, GROOVY\n" in first
    assert "verdict: 4 relations healthy, 1 removed on the other side; 4 sync errors, 4 blob errors\n" in first
    # run 2: ages grew, the fixed error is resolved, standing errors are not repeated, an empty queue has no age
    assert "jira-demo  AllContent      syncevents/syncrequests          1      5m00s   ok" in second
    assert "jira-demo  GROOVY          syncrequests/errorresponses      0      -       ok" in second
    assert "exalate.sync.error.resolved" in second and "resolved after 5m00s" in second
    assert "exalate.sync.error " not in second
    # a failed endpoint is counted, and its errors are not read as none (nor reported resolved)
    failed = "jira-demo  AllContent      syncrequests/bloberrorresponses  -      -       server_error (HTTP 500)"
    assert failed in second
    assert (
        "verdict: 5 relations healthy, 1 removed on the other side; 3 sync errors, 3 blob errors"
        " (1 of 5 relations unread); 1 other failed poll (server_error x1)\n"
    ) in second
    assert "exalate.blob.error.resolved" not in second
    assert "methods the node saw: GET" in second
    # the discovered connection is polled at the second run, without a configuration change
    assert "relations of jira-auto from the node's connection list: AllContent, GROOVY, NewPartner" in second
    assert "jira-auto  NewPartner      syncevents/syncrequests          1      0m00s   ok" in second
    assert "requests to jira-auto other than GET: 1 (/jira/rest/issuehub/4.0/authenticate: the login)" in second
    # each failure once: a row of the table, not also an event line or a log line among them
    assert done.stdout.count("GET syncevents/syncrequests of relation RemovedPartner") == 0
    assert "poll failed" not in done.stdout + done.stderr
    log = (tmp_path / "exalate-demo.log").read_text(encoding="utf-8")
    assert log.count("relation=RemovedPartner endpoint=syncevents/syncrequests error.type=connection_not_found") == 2
    archived = sorted(tmp_path.glob("exalate-archive/exalate/dt=*/hour=*/node=jira-demo/*.jsonl.gz"))
    assert len(archived) == 2
    assert f"archived node jira-demo: {archived[0].relative_to(tmp_path)}" in done.stdout
    assert "read one record back: gzip -dc" in done.stdout
    assert not (tmp_path / "exalate-state").exists()  # temporary state: the next demo tells the same story


def _story(stdout: str) -> list[str]:
    """The demo's output without what differs by nature between two demos: ports, run ids, dates, byte counts."""
    import re

    varying = re.compile(
        r"127\.0\.0\.1:\d+|\d{8}T\d{6}Z-[0-9a-f]{8}|dt=[\d-]+/hour=\d+|\d+ bytes|/tmp/\S+|/\S+/exalate-demo.log"
    )
    return [varying.sub("*", line) for line in stdout.splitlines()]


def test_two_demos_tell_the_same_story(tmp_path: Path):
    first, second = cli("demo", cwd=tmp_path), cli("demo", cwd=tmp_path)
    assert first.returncode == second.returncode == 0
    assert _story(first.stdout) == _story(second.stdout)
    assert first.stdout.count("verdict: ") == 2


def test_demo_with_a_backend_runs_twice_too(tmp_path: Path, receiver):
    done = cli("demo", env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"exporting to your backend: {receiver.endpoint}" in done.stdout
    assert done.stdout.count("verdict: ") == 2 and "=== run 2" in done.stdout
    assert len(receiver.received.metric_requests) == 2


def test_docs_command_prints_the_committed_reference():
    done = cli("docs")
    assert done.returncode == 0
    assert done.stdout == (ROOT / "docs" / "telemetry.md").read_text(encoding="utf-8")
