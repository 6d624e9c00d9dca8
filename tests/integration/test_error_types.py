"""Every error.type, produced by a real failure on loopback, seen at the OTLP receiver.

Each scenario breaks one thing; the test checks that the failure is reported as a metric point, an
event and a log line, and that everything else in the same run was still polled and exported.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from exalate_collector import errors, poll
from exalate_collector.endpoints import BLOB_ERRORS, ENDPOINTS, SYNC_REQUESTS, polls_per_relation
from exalate_collector.runner import run
from exalate_collector.simulator import Behaviour, NodeSimulator, seed_body

from .conftest import config_for, free_port, node_config
from .helpers import values

TOO_LARGE_LIMIT = 5000


@dataclass
class Scenario:
    relation: str = "AllContent"
    endpoint: str = SYNC_REQUESTS
    behaviour: Behaviour | None = None
    node: dict[str, Any] = field(default_factory=dict)
    deadline_s: float = 10.0
    whole_node: bool = False  # the failure hits every endpoint of the node
    status: int | None = None
    severity: str = "WARN"


SCENARIOS: dict[str, Scenario] = {
    "connection_not_found": Scenario(relation="Gone", status=400),
    "unauthorized": Scenario(
        node={"auth": {"secret": "a-wrong-secret-of-at-least-32-bytes!"}}, whole_node=True, status=401, severity="ERROR"
    ),
    "forbidden": Scenario(
        node={"auth": {"type": "basic", "username": "u", "password": "p"}},
        whole_node=True,
        status=403,
        severity="ERROR",
    ),
    "secret_unavailable": Scenario(
        node={"auth": {"secret": "${EXALATE_TEST_UNSET_SECRET}"}}, whole_node=True, severity="ERROR"
    ),
    # a node without the 4.0 login (the simulator answers 405 to a POST it does not serve)
    "login_failed": Scenario(
        node={"auth": {"type": "login", "username": "", "password": "pat"}},
        whole_node=True,
        status=405,
        severity="ERROR",
    ),
    "redirect": Scenario(
        behaviour=Behaviour(
            status=302,
            body=b"",
            content_type="text/html",
            headers={"Location": "https://sso.example.com/login?next=/jira"},
        ),
        status=302,
    ),
    "server_error": Scenario(behaviour=Behaviour(status=500, body=b'{"message":"NullPointerException"}'), status=500),
    "http_error": Scenario(behaviour=Behaviour(status=418, body=b"teapot", content_type="text/plain"), status=418),
    "timeout": Scenario(behaviour=Behaviour(latency_s=2.0), node={"timeout_s": 0.3}),
    "deadline_exceeded": Scenario(behaviour=Behaviour(hang=True), deadline_s=3.0),
    "connection_failed": Scenario(behaviour=Behaviour(drop=True)),
    "tls_error": Scenario(node={"base_url": "https"}, whole_node=True),
    # Content-Length and Transfer-Encoding in one answer: the classic request-smuggling ambiguity
    "invalid_response": Scenario(behaviour=Behaviour(headers={"Transfer-Encoding": "chunked"})),
    "too_large": Scenario(node={"max_body_bytes": TOO_LARGE_LIMIT}, status=200),  # syncrequests is 9170 bytes
    "unexpected_content_type": Scenario(
        behaviour=Behaviour(content_type="text/html", body=b"<html>Log in</html>"), status=200
    ),
    "invalid_json": Scenario(endpoint=BLOB_ERRORS, status=200),
    "unexpected_shape": Scenario(behaviour=Behaviour(body=b'{"items": []}'), status=200),
    "internal_error": Scenario(),
}


def test_every_error_type_has_a_scenario():
    assert set(SCENARIOS) == {cls.error_type for cls in errors.poll_failure_types()}


@pytest.mark.parametrize("error_type", sorted(SCENARIOS))
def test_error_type_end_to_end(error_type, receiver, pipeline, monkeypatch, caplog):
    scenario = SCENARIOS[error_type]
    sim = NodeSimulator(
        ["AllContent"],
        static_token="T" if error_type == "forbidden" else None,
        secret=None if error_type == "forbidden" else "integration-secret-of-at-least-32-bytes",
    )
    with sim, NodeSimulator(["AllContent"], secret="integration-secret-of-at-least-32-bytes") as healthy_sim:
        if scenario.behaviour is not None:
            sim.set(scenario.relation, scenario.endpoint, scenario.behaviour)
        node = node_config(sim, [scenario.relation], name="broken", **scenario.node)
        if node["base_url"] == "https":
            node["base_url"] = sim.base_url.replace("http://", "https://")
        healthy = node_config(healthy_sim, ["AllContent"], name="healthy")
        if error_type == "internal_error":
            real = poll.interpret

            def broken(endpoint, *args, **kwargs):
                if endpoint == SYNC_REQUESTS and _polling_node() == "broken":
                    raise RuntimeError("a bug in the collector")
                return real(endpoint, *args, **kwargs)

            monkeypatch.setattr(poll, "interpret", broken)
        config = config_for(node, healthy)
        with caplog.at_level(logging.WARNING):
            result = run(config, scenario.deadline_s, pipeline)

    assert result.export is not None and result.export.ok
    where = {"exalate.node": "broken", "exalate.relation": scenario.relation, "exalate.endpoint": scenario.endpoint}
    # the metric points
    assert values(receiver, "exalate.endpoint.up", where) == [0]
    assert values(receiver, "exalate.poll.errors", {**where, "error.type": error_type}) == [1]
    # the event
    node_wide = error_type == "secret_unavailable"  # nothing sent: one event for the node
    events = [
        e
        for e in receiver.events()
        if e.event_name == "exalate.poll.failure"
        and e.attributes.get("exalate.endpoint") == (None if node_wide else scenario.endpoint)
        and e.attributes["exalate.node"] == "broken"
    ]
    assert len(events) == 1
    (event,) = events
    assert event.attributes["error.type"] == error_type
    assert event.severity_text == scenario.severity
    assert event.attributes.get("http.response.status_code") == scenario.status
    if node_wide:
        assert len([e for e in receiver.events() if e.attributes.get("exalate.node") == "broken"]) == 1
    else:
        assert event.attributes["url.full"].endswith(f"/{scenario.endpoint}")
    # the log line
    assert any(
        getattr(r, "error.type", None) == error_type and getattr(r, "exalate.node", None) == "broken"
        for r in caplog.records
    )
    # and nothing else was lost: every other endpoint of the broken node, and the healthy node, answered
    failed = {(ex.node, ex.relation, ex.endpoint) for ex in result.exchanges if not ex.ok}
    expected = {("healthy", "AllContent", BLOB_ERRORS)}  # the seed's own invalid JSON
    if scenario.whole_node:
        expected |= {("broken", scenario.relation, e) for e in ENDPOINTS}
    elif error_type == "connection_not_found":
        expected |= {("broken", "Gone", e) for e in ENDPOINTS}
    else:
        expected |= {("broken", "AllContent", scenario.endpoint), ("broken", "AllContent", BLOB_ERRORS)}
    if error_type == "too_large":  # every example answer over the limit, whichever rows the table has
        expected |= {("broken", "AllContent", e) for e in ENDPOINTS if len(seed_body(e)) > TOO_LARGE_LIMIT}
    assert failed == expected
    assert sum(values(receiver, "exalate.endpoint.up", {"exalate.node": "healthy"})) == len(ENDPOINTS) - 1


def test_an_unreachable_node_does_not_stop_the_others(simulator, receiver, pipeline):
    dead = {
        "name": "dead",
        "base_url": f"http://127.0.0.1:{free_port()}/jira",
        "relations": ["AllContent"],
        "auth": {"secret": "x" * 32},
    }
    result = run(config_for(dead, node_config(simulator, ["AllContent", "GROOVY"])), 10, pipeline)
    by_node = {}
    for ex in result.exchanges:
        by_node.setdefault(ex.node, []).append(ex.failure.error_type if ex.failure else "ok")
    assert set(by_node["dead"]) == {"connection_failed"}
    assert by_node["jira-test"].count("ok") == polls_per_relation(["AllContent", "GROOVY"]) - 2  # seed blob errors
    assert values(receiver, "exalate.poll.errors", {"exalate.node": "dead"}) == [1] * len(ENDPOINTS)


def _polling_node() -> str | None:
    """The node whose request is being handled here: poll.py names each request's task after it."""
    task = asyncio.current_task()
    return task.get_name().removeprefix("poll-") if task is not None else None
