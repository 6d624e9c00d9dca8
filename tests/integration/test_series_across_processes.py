"""Cron-style runs, a new process each, into the real OTLP receiver: the series a backend stores stay right.

Stable service.instance.id, one final 0 for what is gone, counters continued from the state (and a new
start without it), events timestamped when observed and named both ways.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from exalate_collector.endpoints import SYNC_ERRORS
from exalate_collector.simulator import Behaviour

from .conftest import SECRET, node_config
from .helpers import values
from .test_cli import cli

TWO_REASONS = json.dumps(
    [{"syncEventId": 1, "errorReason": "NO_ISSUE_TO_CONNECT_TO"}, {"syncEventId": 2, "errorReason": "SCRIPT_ERROR"}]
).encode()
ONE_REASON = json.dumps([{"syncEventId": 2, "errorReason": "SCRIPT_ERROR"}]).encode()


@pytest.fixture
def config_file(tmp_path: Path, simulator) -> Path:
    path = tmp_path / "exalate.yaml"
    node = node_config(simulator, ["AllContent", "GROOVY", "Gone"], auth={"secret": "${EXALATE_JWT_SECRET}"})
    path.write_text(json.dumps({"nodes": [node]}))
    return path


def collector_run(config: Path, receiver, tmp_path: Path, *extra: str, **env: str) -> None:
    done = cli(
        "run",
        "--config",
        str(config),
        "--no-archive",
        "--state-dir",
        str(tmp_path / "state"),
        *extra,
        env={"EXALATE_JWT_SECRET": SECRET, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **env},
    )
    assert done.returncode == 0, done.stderr


def instance_ids(receiver) -> set[str]:
    return {r["service.instance.id"] for r in receiver.resources()}


def gone_errors(receiver) -> list[tuple]:
    """(value, start, temporality) of the poll.errors series of one endpoint of the removed relation."""
    where = {"exalate.relation": "Gone", "exalate.endpoint": SYNC_ERRORS}
    return [
        (p.value, p.start_time_unix_nano, p.temporality)
        for p in receiver.points()
        if p.name == "exalate.poll.errors" and all(p.attributes.get(k) == v for k, v in where.items())
    ]


def test_three_cron_runs_write_one_continuous_set_of_series(config_file, simulator, receiver, tmp_path):
    simulator.set("GROOVY", SYNC_ERRORS, Behaviour(body=TWO_REASONS))
    seen: list[dict] = []
    for run_number in (1, 2, 3):
        if run_number == 2:
            simulator.set("GROOVY", SYNC_ERRORS, Behaviour(body=ONE_REASON))  # NO_ISSUE_TO_CONNECT_TO fixed
        before = time.time_ns()
        collector_run(config_file, receiver, tmp_path)
        after = time.time_ns()
        reasons = {
            p.attributes["exalate.error.reason"]: p.value
            for p in receiver.points()
            if p.name == "exalate.sync.errors" and p.attributes["exalate.relation"] == "GROOVY"
        }
        seen.append(
            {
                "ids": instance_ids(receiver),
                "reasons": reasons,
                "gone": gone_errors(receiver),
                "window": (before, after),
            }
        )
        events = receiver.events()
        assert events, "every run reports the removed relation"
        for event in events:
            assert event.attributes["event.name"] == event.event_name  # named both ways
            assert before <= event.time_unix_nano <= after  # when this run observed it, not 0
        receiver.clear()

    # 1. one service.instance.id for the deployment: host name and configuration path, in every process
    assert [s["ids"] for s in seen] == [{f"{socket.gethostname()}:{config_file.resolve()}"}] * 3
    # 2. the fixed reason gets one final 0 in the next run, then nothing
    assert [s["reasons"] for s in seen] == [
        {"NO_ISSUE_TO_CONNECT_TO": 1, "SCRIPT_ERROR": 1},
        {"NO_ISSUE_TO_CONNECT_TO": 0, "SCRIPT_ERROR": 1},
        {"SCRIPT_ERROR": 1},
    ]
    # 3. the counter goes on across processes, from one start time: increase() sees every failure
    (first,), (second,), (third,) = (s["gone"] for s in seen)
    assert [first[0], second[0], third[0]] == [1, 2, 3]
    assert first[1] == second[1] == third[1] < seen[0]["window"][1]
    assert {first[2], second[2], third[2]} == {2}  # cumulative


def test_delta_temporality_exports_each_runs_own_delta(config_file, simulator, receiver, tmp_path):
    for _ in range(2):
        collector_run(config_file, receiver, tmp_path, OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="delta")
        ((value, _start, temporality),) = gone_errors(receiver)
        assert (value, temporality) == (1, 1)
        receiver.clear()


def test_without_state_each_process_starts_anew(config_file, simulator, receiver, tmp_path):
    starts = []
    for _ in range(2):
        collector_run(config_file, receiver, tmp_path, "--no-state")
        ((value, start, _temporality),) = gone_errors(receiver)
        assert value == 1
        starts.append(start)
        receiver.clear()
    assert starts[0] < starts[1]  # a new start time: a counter reset, as documented


def test_the_instance_id_can_be_set_and_otel_resource_attributes_wins(config_file, simulator, receiver, tmp_path):
    collector_run(config_file, receiver, tmp_path, "--instance-id", "cron-a")
    assert instance_ids(receiver) == {"cron-a"}
    receiver.clear()
    collector_run(
        config_file,
        receiver,
        tmp_path,
        "--instance-id",
        "cron-a",
        OTEL_RESOURCE_ATTRIBUTES="service.instance.id=from-env,deployment.environment.name=prod",
    )
    assert instance_ids(receiver) == {"from-env"}
    assert {r["deployment.environment.name"] for r in receiver.resources()} == {"prod"}
    # each id is its own deployment: its own series state, so its counter starts at 1
    assert [value for value, _, _ in gone_errors(receiver)] == [1]
    assert values(receiver, "exalate.relation.up", {"exalate.relation": "Gone"}) == [0]


def test_a_metrics_only_endpoint_sends_no_events_and_succeeds(config_file, simulator, receiver, tmp_path):
    """Prometheus and VictoriaMetrics take no logs: with only the metrics endpoint set, none are sent."""
    done = cli(
        "run",
        "--config",
        str(config_file),
        "--no-archive",
        "--no-state",
        env={"EXALATE_JWT_SECRET": SECRET, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{receiver.endpoint}/v1/metrics"},
    )
    assert done.returncode == 0, done.stderr
    assert values(receiver, "exalate.relation.up", {"exalate.relation": "Gone"}) == [0]
    assert receiver.received.log_requests == []


def test_after_a_refused_export_the_next_run_still_ends_what_vanished(config_file, simulator, receiver, tmp_path):
    """The series state is saved after the export: a final 0 that was refused is sent again, and the
    counter total of the refused run arrives with the next one (cumulative: nothing lost)."""
    simulator.set("GROOVY", SYNC_ERRORS, Behaviour(body=TWO_REASONS))
    collector_run(config_file, receiver, tmp_path)
    simulator.set("GROOVY", SYNC_ERRORS, Behaviour(body=ONE_REASON))
    receiver.clear()
    receiver.status = 403
    refused = cli(
        "run",
        "--config",
        str(config_file),
        "--no-archive",
        "--state-dir",
        str(tmp_path / "state"),
        env={"EXALATE_JWT_SECRET": SECRET, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint},
    )
    assert refused.returncode == 1
    receiver.status = 200
    collector_run(config_file, receiver, tmp_path)
    reasons = {
        p.attributes["exalate.error.reason"]: p.value
        for p in receiver.points()
        if p.name == "exalate.sync.errors" and p.attributes["exalate.relation"] == "GROOVY"
    }
    assert reasons == {"NO_ISSUE_TO_CONNECT_TO": 0, "SCRIPT_ERROR": 1}
    assert [value for value, _, _ in gone_errors(receiver)] == [3]


def test_a_late_state_failure_sends_its_event_and_leaves_the_counters_alone(simulator, receiver, pipeline, tmp_path):
    """A node state that cannot be written is reported by a second, events-only export: the counters
    already went out with the run, and exporting them again (without the deployment's totals) would
    show the backend a counter reset."""
    from exalate_collector.errors import StateWriteFailed
    from exalate_collector.runner import run
    from exalate_collector.state.store import LocalStateStore

    from .conftest import config_for

    class NodeStateUnwritable(LocalStateStore):
        def save(self, node, state, token, deadline):
            raise StateWriteFailed("disk full")

    simulator.set("AllContent", SYNC_ERRORS, Behaviour(status=500))
    config = config_for(node_config(simulator, ["AllContent"]))
    run(config, 30.0, pipeline, state=LocalStateStore(tmp_path))  # the deployment's totals: one failure
    receiver.clear()
    result = run(config, 30.0, pipeline, state=NodeStateUnwritable(tmp_path))
    reported = {e.attributes.get("error.type") for e in receiver.events()}
    assert "state_write_failed" in reported
    assert result.export is not None and result.export.ok
    # one metrics export (the run's), carrying the continued total of 2, never a lone 1 after it
    assert values(receiver, "exalate.poll.errors", {"exalate.endpoint": SYNC_ERRORS}) == [2]
