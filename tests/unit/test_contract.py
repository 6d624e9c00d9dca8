"""The contract is the one declaration: the docs, the constants and every emitted item agree with it."""

from __future__ import annotations

import json

from exalate_collector import errors
from exalate_collector.endpoints import BLOB_ERRORS, CONNECTIONS, SYNC_ERRORS, SYNC_REQUESTS, TABLE
from exalate_collector.model import Discovery
from exalate_collector.simulator import seed_body
from exalate_collector.state.model import StateReport, advance, observations
from exalate_collector.telemetry import points
from exalate_collector.telemetry.contract import load_contract
from exalate_collector.telemetry.delivery import RequestOutcome
from exalate_collector.telemetry.docs import render
from exalate_collector.telemetry.points import export_telemetry, run_telemetry, stamped
from exalate_collector.telemetry.verdicts import Verdict
from exalate_collector.zabbix.sender import ZabbixReport, report_telemetry

from ..conftest import ROOT, exchange_for, seed_exchanges
from ..contract_check import all_problems


def test_docs_are_generated_from_the_contract():
    assert (ROOT / "docs" / "telemetry.md").read_text(encoding="utf-8") == render(), "run `make docs`"


def test_the_contract_declares_exactly_the_names_the_code_uses():
    contract = load_contract()
    metric_constants = {
        v
        for k, v in vars(points).items()
        if isinstance(v, str) and v.startswith("exalate.") and not k.endswith("_EVENT")
    }
    event_constants = {v for k, v in vars(points).items() if k.endswith("_EVENT")}
    # the endpoint table names the metrics and events of its rows
    metric_constants |= {m for e in TABLE for m in (e.metric, e.reason_metric) if m}
    event_constants |= {n for e in TABLE for n in (e.error_event, e.resolved_event) if n}
    assert metric_constants == set(contract.metrics)
    assert event_constants == set(contract.events)
    assert set(contract.attributes["exalate.endpoint"].values) == {e.name for e in TABLE}


def test_instruments_units_and_every_attribute_is_declared():
    contract = load_contract()
    kinds = {m.name: (m.instrument, m.unit) for m in contract.metrics.values()}
    assert kinds["exalate.queue.size"] == ("gauge", "{item}")
    assert kinds["exalate.poll.duration"] == ("histogram", "s")
    assert kinds["exalate.poll.errors"] == ("counter", "{error}")
    used = {a for m in contract.metrics.values() for a in m.attributes + m.optional_attributes}
    used |= {a for e in contract.events.values() for a in e.attributes + e.optional_attributes}
    assert used == set(contract.attributes)


def test_everything_a_wide_scenario_emits_conforms():
    exchanges = seed_exchanges() + [
        exchange_for(
            BLOB_ERRORS,
            json.dumps(
                [
                    {
                        "blobId": 1,
                        "blobEventId": 2,
                        "syncEventId": 3,
                        "blobErrorReason": "X",
                        "sourceIssueKey": {"id": 4, "urn": "A-1"},
                        "errorMessage": "m",
                    }
                ]
            ).encode(),
        ),
        exchange_for(SYNC_ERRORS, b"[{}]"),
    ]
    for status, body in [
        (400, b"Connection `X` not found."),
        (401, b""),
        (403, b""),
        (302, b""),
        (500, b"x"),
        (418, b"teapot"),
    ]:
        exchanges.append(exchange_for(SYNC_REQUESTS, body, status=status, content_type="text/plain"))
    exchanges += [exchange_for(e.name, seed_body(e.name), relation="") for e in TABLE if not e.per_relation]
    exchanges.append(exchange_for(CONNECTIONS, b"{}", relation=""))  # unexpected_shape, without a relation
    discoveries = [Discovery("jira-prod", (), errors.DiscoveryFailed("no list"))]
    memory = StateReport()
    previous = {
        "schema": 1,
        "node": "jira-prod",
        "updated_at": 0,
        "relations": {
            "AllContent": {
                SYNC_ERRORS: {"1|X": {"t": 0.0, "reason": "X", "key": "AC-1"}},
                BLOB_ERRORS: {"9|Y": {"t": 0.0, "reason": "Y", "blob_id": 9}},
            }
        },
    }
    memory.advances["jira-prod"] = advance(previous, "jira-prod", ["AllContent"], observations(exchanges), 60.0, 30)
    memory.failures.append(("jira-prod", errors.StateCorrupt("not JSON")))
    telemetry = run_telemetry(exchanges, 0.5, [("jira-prod", errors.HandoffFailed("queue gone"))], memory, discoveries)
    zabbix_points, zabbix_events = report_telemetry(ZabbixReport(failure=errors.ZabbixSendFailed("refused")))
    telemetry = telemetry.extended(zabbix_points, stamped(zabbix_events, 0.0))
    refused = Verdict(False, errors.ExportRefused.error_type, "HTTP 400: flate: corrupt input", 400, 3)
    outcomes = [RequestOutcome("metrics", 3, refused), RequestOutcome("events", 2, Verdict(True, status_code=200))]
    exported = export_telemetry(outcomes, {"metrics": 1}, {}, observed_ns=1)
    telemetry = telemetry.extended(exported.points, exported.events)
    problems = all_problems(
        ((p.name, p.attributes) for p in telemetry.points), ((e.name, e.attributes) for e in telemetry.events)
    )
    assert problems == []
    assert {p.name for p in telemetry.points} == set(load_contract().metrics)
    assert {e.name for e in telemetry.events} == set(load_contract().events)


def test_severities_match_the_contract():
    spec = load_contract().events["exalate.poll.failure"]
    auth = exchange_for(SYNC_REQUESTS, b"", status=401)
    other = exchange_for(SYNC_REQUESTS, b"", status=500)
    severities = [e.severity for e in run_telemetry([auth, other], 0.1).events]
    assert severities == [spec.severity_authentication, spec.severity]
    assert errors.Unauthorized.authentication


def test_prometheus_style_names_are_what_prometheus_family_backends_store():
    """As VictoriaMetrics with -opentelemetry.usePrometheusNaming names them (checked on the real one in
    tests/integration/test_victoria_metrics.py)."""
    from exalate_collector.telemetry.contract import prometheus_name

    names = {m.name: prometheus_name(m) for m in load_contract().metrics.values()}
    assert names == {
        "exalate.queue.size": "exalate_queue_size",
        "exalate.sync.errors": "exalate_sync_errors",
        "exalate.blob.errors": "exalate_blob_errors",
        "exalate.queue.oldest_age": "exalate_queue_oldest_age_seconds",
        "exalate.queue.stuck": "exalate_queue_stuck",
        "exalate.endpoint.up": "exalate_endpoint_up_ratio",
        "exalate.relation.up": "exalate_relation_up_ratio",
        "exalate.poll.duration": "exalate_poll_duration_seconds",
        "exalate.poll.errors": "exalate_poll_errors_total",
        "exalate.archive.failures": "exalate_archive_failures_total",
        "exalate.queue.total": "exalate_queue_total",
        "exalate.node.errors": "exalate_node_errors",
        "exalate.connections": "exalate_connections",
        "exalate.connection.status": "exalate_connection_status_ratio",
        "exalate.discovery.failures": "exalate_discovery_failures_total",
        "exalate.collector.run.duration": "exalate_collector_run_duration_seconds",
        "exalate.zabbix.values": "exalate_zabbix_values",
        "exalate.zabbix.failures": "exalate_zabbix_failures_total",
        "exalate.export.requests": "exalate_export_requests_total",
        "exalate.export.dropped": "exalate_export_dropped_total",
    }


def test_the_name_constants_are_generated_from_the_contract():
    from exalate_collector.telemetry.contract import names_module

    names = ROOT / "layers" / "lib" / "exalate_collector" / "telemetry" / "names.py"
    assert names.read_text() == names_module(load_contract()), "run `make docs`"
