"""A whole run against the simulator serving the seed's examples, seen at a real OTLP receiver."""

from __future__ import annotations

import json

from exalate_collector import __version__
from exalate_collector.archive.sinks import LocalDirectorySink
from exalate_collector.config import parse_config
from exalate_collector.endpoints import (
    BLOB_ERRORS,
    CONNECTIONS,
    ENDPOINTS,
    SYNC_ERRORS,
    SYNC_REQUESTS,
    polls_per_relation,
)
from exalate_collector.runner import run
from exalate_collector.simulator import Behaviour
from exalate_collector.state.store import LocalStateStore
from exalate_collector.telemetry.contract import load_contract
from exalate_collector.telemetry.otel import OtelPipeline

from ..conftest import repaired_blob_errors
from ..contract_check import all_problems
from .conftest import config_for, free_port, node_config
from .helpers import expected_events, expected_points, received_events, received_points, values


def test_seed_run_is_exported_exactly(simulator, receiver, pipeline):
    config = config_for(node_config(simulator, ["AllContent"]))
    result = run(config, 10, pipeline)

    assert result.export is not None and result.export.ok
    assert received_points(receiver) == expected_points(result.telemetry)
    assert received_events(receiver) == expected_events(result.telemetry)
    for endpoint in ENDPOINTS:
        up = values(receiver, "exalate.endpoint.up", {"exalate.endpoint": endpoint})
        assert up == [0 if endpoint == BLOB_ERRORS else 1]
    assert values(receiver, "exalate.queue.size", {"exalate.endpoint": SYNC_REQUESTS}) == [1]
    assert values(receiver, "exalate.sync.errors", {"exalate.error.reason": "NO_ISSUE_TO_CONNECT_TO"}) == [1]
    assert values(receiver, "exalate.poll.errors", {"error.type": "invalid_json"}) == [1]
    (sync_error,) = [e for e in receiver.events() if e.event_name == "exalate.sync.error"]
    assert sync_error.attributes["exalate.issue.key"] == "AC-113"
    assert sync_error.attributes["exalate.sync_event.id"] == 49
    assert sync_error.severity_text == "ERROR"


def test_one_request_per_signal_gzip_and_the_resource(simulator, receiver, pipeline):
    run(config_for(node_config(simulator, ["AllContent", "GROOVY"])), 10, pipeline)
    got = receiver.received
    assert (len(got.metric_requests), len(got.log_requests)) == (1, 1)
    assert set(got.content_encodings) == {"gzip"}
    for resource in receiver.resources():
        assert resource["service.name"] == "exalate-collector"
        assert resource["service.version"] == __version__
        assert resource["service.instance.id"] == pipeline.instance_id != ""


def test_the_node_sees_only_authenticated_gets(simulator, receiver, pipeline):
    run(config_for(node_config(simulator, ["AllContent", "GROOVY", "Gone"])), 10, pipeline)
    assert len(simulator.seen) == polls_per_relation(["AllContent", "GROOVY", "Gone"])
    assert {(r.method, r.authenticated) for r in simulator.seen} == {("GET", True)}


def test_emitted_instruments_and_events_equal_the_declared_set(simulator, receiver, pipeline, tmp_path):
    """Two runs that between them produce every declared metric and event, each for a real cause."""
    simulator.set("GROOVY", BLOB_ERRORS, Behaviour(body=repaired_blob_errors()))
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    broken_archive = LocalDirectorySink(not_a_directory)  # archive_write_failed, for real
    state = LocalStateStore(tmp_path / "state")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "other.json").write_text("{not json")  # state_corrupt, for real
    nodes = [
        node_config(simulator, ["AllContent", "GROOVY", "Gone"]),
        node_config(simulator, ["GROOVY"], name="other"),
        node_config(
            simulator, relations="auto", name="whole", collect=["relations", "queues", "errors", "connections"]
        ),
    ]
    config = parse_config({"nodes": nodes})
    receiver.rejected = 1  # the backend rejects a point of each request: exalate.export.failure, then .dropped
    run(config, 10, pipeline, broken_archive, state)
    receiver.rejected = 0
    simulator.set("GROOVY", BLOB_ERRORS, Behaviour(body=b"[]"))  # the errors are resolved
    simulator.set("GROOVY", SYNC_ERRORS, Behaviour(body=b"[]"))
    simulator.set("", CONNECTIONS, Behaviour(status=503, body=b""))  # discovery_failed: the kept list is used
    # Run 2 also sends to a Zabbix server that is not there: zabbix_send_failed, for real. (Not in run 1:
    # a failed send keeps the run's new errors new, and run 2 must see them resolved.)
    zabbix = {"server": "127.0.0.1", "port": free_port(), "timeout_s": 2}
    run(parse_config({"nodes": nodes, "zabbix": zabbix}), 10, pipeline, broken_archive, state)
    contract = load_contract()
    kinds = {"gauge": "gauge", "counter": "sum", "histogram": "histogram"}
    declared = {(m.name, kinds[m.instrument], m.unit) for m in contract.metrics.values()}
    emitted = {(p.name, p.kind, p.unit) for p in receiver.points()}
    assert emitted == declared
    assert {e.event_name for e in receiver.events()} == set(contract.events)
    problems = all_problems(
        ((p.name, p.attributes) for p in receiver.points()), ((e.event_name, e.attributes) for e in receiver.events())
    )
    assert problems == []
    (counter,) = {(p.monotonic, p.temporality) for p in receiver.points() if p.name == "exalate.poll.errors"}
    assert counter == (True, 2)  # monotonic, cumulative by default


def test_queue_sizes_follow_the_node(simulator, receiver, pipeline):
    items = json.dumps([{"syncEventId": i} for i in range(250)]).encode()
    simulator.set("AllContent", SYNC_REQUESTS, Behaviour(body=items))
    run(config_for(node_config(simulator, ["AllContent"])), 10, pipeline)
    assert values(receiver, "exalate.queue.size", {"exalate.endpoint": SYNC_REQUESTS}) == [250]


def test_relation_context_path_and_special_characters(receiver, pipeline):
    from exalate_collector.simulator import NodeSimulator

    from .conftest import SECRET

    with NodeSimulator(["Sync A/B"], context_path="", secret=SECRET) as root_node:
        run(config_for(node_config(root_node, ["Sync A/B"])), 10, pipeline)
        assert {r.path for r in root_node.seen} == {f"/rest/issuehub/2.4/relations/Sync%20A%2FB/{e}" for e in ENDPOINTS}
    assert values(receiver, "exalate.relation.up", {"exalate.relation": "Sync A/B"}) == [1]


def test_the_compression_variable_is_respected(simulator, receiver, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none")  # gzip is only the default
    pipeline = OtelPipeline.from_environment()
    try:
        run(config_for(node_config(simulator, ["AllContent"])), 10, pipeline)
    finally:
        pipeline.shutdown()
    assert set(receiver.received.content_encodings) == {"identity"}
    assert values(receiver, "exalate.queue.size", {"exalate.endpoint": SYNC_REQUESTS}) == [1]
