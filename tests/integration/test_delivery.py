"""Only a 2xx that rejected nothing is delivered: backends that redirect, partly reject or answer 400, for real.

Each case runs the command twice, as cron does, with a state directory: the first run against the
misbehaving backend exits 1 and says what the backend said; the second, against a working one, re-sends
the events the first could not deliver and carries the first run's export counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from exalate_collector.devtools.otlp_receiver import OtlpReceiver

from .conftest import SECRET, node_config
from .helpers import values
from .test_cli import cli


@pytest.fixture
def config_file(tmp_path: Path, simulator) -> Path:
    path = tmp_path / "config.yaml"
    node = node_config(simulator, ["AllContent"], auth={"secret": "${EXALATE_JWT_SECRET}"})
    path.write_text(json.dumps({"nodes": [node]}))
    return path


def run_cli(config_file: Path, tmp_path: Path, **env: str):
    return cli(
        "run",
        "--config",
        str(config_file),
        "--state-dir",
        str(tmp_path / "state"),
        "--archive-dir",
        str(tmp_path / "archive"),
        env={"EXALATE_JWT_SECRET": SECRET, **env},
    )


def error_events(receiver: OtlpReceiver) -> list[object]:
    return sorted(
        str(e.attributes.get("exalate.sync_event.id"))
        for e in receiver.events()
        if e.event_name == "exalate.sync.error"
    )


@pytest.fixture
def elsewhere():
    """Where a redirect points: it must receive nothing (a redirect is never followed)."""
    with OtlpReceiver() as other:
        yield other


CASES = {
    "redirect": (
        {"status": 307},
        "HTTP 307 redirecting to http://127.0.0.1:",
        "export_redirected",
        "failed",
    ),
    "partial_success": (
        {"rejected": 30, "rejected_records": 1},
        "rejected 30 of",
        "export_rejected",
        "partly_rejected",
    ),
    "400 with the collector's message": (
        {"status": 400, "message": "flate: corrupt input before offset 5"},
        "HTTP 400: flate: corrupt input before offset 5",
        "export_refused",
        "failed",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_undelivered_export_exits_1_says_why_and_its_events_are_sent_next_run(
    case, config_file, tmp_path, simulator, elsewhere
):
    behaviour, said, error_type, outcome = CASES[case]
    with OtlpReceiver() as healthy:
        endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": healthy.endpoint}
        # what the seed's errors give with a backend that takes everything, on a fresh state
        assert run_cli(config_file, tmp_path / "reference", **endpoint).returncode == 0
        expected = error_events(healthy)
    assert expected  # the seed has sync errors: their events are what must not be lost

    with OtlpReceiver() as backend:
        for key, value in behaviour.items():
            setattr(backend, key, value)
        if case == "redirect":
            backend.location = f"{elsewhere.endpoint}/v1/metrics"
        first = run_cli(config_file, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=backend.endpoint)
        assert first.returncode == 1, first.stderr
        assert said in first.stderr  # the backend's own words, on the command's last line
        assert "refused the export" in first.stderr.splitlines()[-1] and said in first.stderr.splitlines()[-1]
        if case == "redirect":
            assert f"redirecting to {elsewhere.endpoint}" in first.stderr and "/v1/metrics" not in said
        assert elsewhere.received.metric_requests == [] and elsewhere.received.log_requests == []

        backend.status, backend.rejected, backend.rejected_records, backend.message = 200, 0, 0, None
        backend.clear()
        second = run_cli(config_file, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=backend.endpoint)
        assert second.returncode == 0, second.stderr
        assert error_events(backend) == expected  # not delivered by run 1: new again in run 2
        # run 1's requests, counted by their outcome, arrive with run 2's export
        failed = values(backend, "exalate.export.requests", {"exalate.signal": "metrics", "error.type": error_type})
        assert failed and failed[0] >= 1
        assert values(backend, "exalate.export.requests", {"exalate.export.outcome": outcome})
        dropped = values(backend, "exalate.export.dropped", {"exalate.signal": "metrics", "error.type": error_type})
        assert dropped and dropped[0] >= (30 if case == "partial_success" else 1)


def test_a_refused_metrics_export_is_an_event_through_a_working_logs_endpoint(config_file, tmp_path, simulator):
    with OtlpReceiver(status=400) as metrics, OtlpReceiver() as logs:
        metrics.message = "flate: corrupt input before offset 5"
        env = {
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{metrics.endpoint}/v1/metrics",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": f"{logs.endpoint}/v1/logs",
        }
        first = run_cli(config_file, tmp_path, **env)
        assert first.returncode == 1 and "HTTP 400: flate: corrupt input before offset 5" in first.stderr
        (event,) = [e for e in logs.events() if e.event_name == "exalate.export.failure"]
        assert event.attributes["error.type"] == "export_refused"
        assert event.attributes["http.response.status_code"] == 400
        assert "flate: corrupt input before offset 5" in event.body
        assert error_events(logs)  # the events were delivered: committed, not sent again
        logs.clear()
        metrics.status = 200
        assert run_cli(config_file, tmp_path, **env).returncode == 0
        assert error_events(logs) == []
