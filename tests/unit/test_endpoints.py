"""The endpoint table is the one declaration: parsers, fixtures, routes, contract and docs follow it."""

from __future__ import annotations

from exalate_collector.answer_parsers import PARSERS
from exalate_collector.endpoints import BLOB_ERRORS, TABLE, polls_per_relation, relation_path
from exalate_collector.errors import InvalidJson
from exalate_collector.parse import interpret
from exalate_collector.simulator.answers import seed_body
from exalate_collector.simulator.handler import ROUTES
from exalate_collector.telemetry.contract import load_contract
from exalate_collector.telemetry.docs import render


def test_every_row_is_declared_once_with_a_parser_and_a_fixture():
    assert len({e.name for e in TABLE}) == len(TABLE)
    assert len({(e.api, e.path) for e in TABLE}) == len(TABLE)
    for spec in TABLE:
        assert spec.answer in PARSERS
        assert seed_body(spec.name), spec.fixture


def test_the_simulator_routes_every_row_and_only_those():
    assert [spec for _, spec in ROUTES] == list(TABLE)
    for route, spec in ROUTES:
        found = route.match(spec.url_path("Sync A/B"))
        assert found is not None
        if spec.per_relation:
            assert found.group("relation") == "Sync%20A%2FB"


def test_the_contract_and_the_docs_list_every_row():
    contract = load_contract()
    assert set(contract.attributes["exalate.endpoint"].values) == {e.name for e in TABLE}
    docs = render()
    for spec in TABLE:
        assert f"| `{spec.name}` | `GET {spec.template}{spec.query_string}` |" in docs
        for metric in (spec.metric, spec.reason_metric):
            assert metric is None or metric in contract.metrics
        for event in (spec.error_event, spec.resolved_event):
            assert event is None or event in contract.events


def test_paths_encode_the_relation_and_counts_come_from_the_table():
    assert relation_path("Sync A/B", "syncevents/syncrequests") == (
        "/rest/issuehub/2.4/relations/Sync%20A%2FB/syncevents/syncrequests"
    )
    per_relation = [e for e in TABLE if e.per_relation]
    assert polls_per_relation(["a", "b", "c"]) == 3 * len(per_relation)


def test_each_row_parses_its_own_fixture_or_says_why_not():
    for spec in TABLE:
        try:
            reading = interpret(spec.name, 200, "application/json", seed_body(spec.name))
        except InvalidJson:
            assert spec.name == BLOB_ERRORS  # the API document's example lacks a comma
        else:
            # the API document's examples hold one item each; the monitoring guide's: total 20, numErrors 0
            assert reading.items == {"total": 20, "error_count": 0}.get(spec.answer, 1)
