"""Concurrency, keep-alive, the deadline: the polling engine against a real HTTP server."""

from __future__ import annotations

import json

from exalate_collector.endpoints import ENDPOINTS, polls_per_relation
from exalate_collector.runner import collect
from exalate_collector.simulator import Behaviour, NodeSimulator

from .conftest import SECRET, config_for, node_config
from .test_cli import cli


def test_at_most_concurrency_in_flight_over_reused_connections():
    with NodeSimulator([f"R{i}" for i in range(10)], secret=SECRET, latency_s=0.05) as node:
        result = collect(config_for(node_config(node, [f"R{i}" for i in range(10)], concurrency=3)), 30)
        assert len(result.exchanges) == polls_per_relation(f"R{i}" for i in range(10))
        assert node.max_in_flight == 3
        assert len(node.connections) <= 3  # pooled keep-alive: every request over at most 3 connections


def test_a_node_that_never_answers_is_cut_at_the_deadline_and_the_other_is_complete(simulator):
    with NodeSimulator(["AllContent"], secret=SECRET) as hung:
        for endpoint in ENDPOINTS:
            hung.set("AllContent", endpoint, Behaviour(hang=True))
        config = config_for(
            node_config(hung, ["AllContent"], name="hung", timeout_s=60),
            node_config(simulator, ["AllContent", "GROOVY"], name="healthy"),
        )
        result = collect(config, deadline_s=3.0)  # generous: a loaded CI machine must still finish the healthy node
    outcome = {}
    for ex in result.exchanges:
        outcome.setdefault(ex.node, set()).add(ex.failure.error_type if ex.failure else "ok")
    assert outcome["hung"] == {"deadline_exceeded"}
    assert outcome["healthy"] == {"ok", "invalid_json"}
    assert len(result.exchanges) == polls_per_relation(["AllContent", "AllContent", "GROOVY"])


def test_requests_queued_behind_a_slow_node_are_reported_as_not_sent():
    with NodeSimulator(["AllContent"], secret=SECRET, latency_s=0.5) as slow:
        # answers of 0.5 s one after the other cannot fit in 2 s: the last ones are never sent
        result = collect(config_for(node_config(slow, ["AllContent"], concurrency=1)), deadline_s=2.0)
    kinds = [(ex.failure.error_type if ex.failure else "ok", ex.sent) for ex in result.exchanges]
    assert kinds[0] == ("ok", True)
    assert ("deadline_exceeded", False) in kinds  # still queued when the deadline came: never sent


def test_the_cli_process_exits_at_its_deadline_even_with_hung_requests(tmp_path):
    with NodeSimulator(["AllContent"], secret=SECRET) as hung:
        hung.set("AllContent", ENDPOINTS[0], Behaviour(hang=True))
        path = tmp_path / "c.json"
        path.write_text(json.dumps({"nodes": [node_config(hung, ["AllContent"], timeout_s=120)]}))
        done = cli("run", "--config", str(path), "--deadline", "3", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "deadline_exceeded" in done.stdout


def test_timeout_covers_the_whole_body_not_each_read():
    """A node that trickles its answer in pieces, each well within timeout_s, still times out as a whole."""
    with NodeSimulator(["AllContent"], secret=SECRET) as node:
        node.set("AllContent", ENDPOINTS[0], Behaviour(trickle_s=0.3))  # 10 pieces: about 3 s in all
        result = collect(config_for(node_config(node, ["AllContent"], timeout_s=1.0)), deadline_s=30)
    first = result.exchanges[0]
    assert first.failure is not None and first.failure.error_type == "timeout"
    assert "body not complete" in first.failure.detail
    assert all(ex.ok for ex in result.exchanges[1:5])


def test_a_host_name_is_resolved_and_an_unknown_one_is_named():
    """base_url by name (the system resolver, on a short-lived thread) beside one that cannot resolve."""
    import threading

    with NodeSimulator(["AllContent"], secret=SECRET) as node:
        by_name = node_config(
            node, ["AllContent"], name="by-name", base_url=node.base_url.replace("127.0.0.1", "localhost")
        )
        unknown = node_config(
            node,
            ["AllContent"],
            name="unknown",
            base_url="http://exalate-node.invalid:8080/jira",
            allow_insecure_http=True,
        )
        result = collect(config_for(by_name, unknown), deadline_s=60)
    outcomes = {(ex.node, ex.failure.error_type if ex.failure else "ok") for ex in result.exchanges}
    assert outcomes == {("by-name", "ok"), ("by-name", "invalid_json"), ("unknown", "connection_failed")}
    details = {ex.failure.detail for ex in result.exchanges if ex.node == "unknown" and ex.failure}
    assert details == {"connection to exalate-node.invalid:8080 failed: the host name could not be resolved"}
    assert not [t for t in threading.enumerate() if t.name == "exalate-dns"]
