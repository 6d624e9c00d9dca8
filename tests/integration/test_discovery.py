"""The 4.0 API against the simulator: discovery, the node's totals, cmonitor, connections, and login."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from exalate_collector import login
from exalate_collector.client import NodeClient
from exalate_collector.config import parse_config
from exalate_collector.endpoints import (
    CONNECTIONS,
    LOGIN_PATH,
    RELATION_ENDPOINTS,
    SYNC_ERRORS,
    TABLE,
    node_rows,
    polls_per_relation,
)
from exalate_collector.errors import LoginFailed
from exalate_collector.runner import run
from exalate_collector.simulator import Behaviour, NodeSimulator
from exalate_collector.state.store import LocalStateStore

from ..contract_check import all_problems
from .conftest import SECRET, config_for, node_config
from .helpers import expected_events, expected_points, received_events, received_points, values

USER, PASSWORD = "monitor", "a-password-of-the-monitoring-user"
EVERYTHING = ["relations", "queues", "errors", "connections"]
NODE_POLLS = len(node_rows(EVERYTHING))


@pytest.fixture(autouse=True)
def _no_cached_login():
    login.forget_tokens()
    yield
    login.forget_tokens()


@pytest.fixture
def node():
    with NodeSimulator(["AllContent", "GROOVY", "Retired"], secret=SECRET, login=(USER, PASSWORD)) as sim:
        sim.set_status("Retired", "DEACTIVATED")
        for row in RELATION_ENDPOINTS:  # a deactivated connection with empty queues
            sim.set("Retired", row.name, Behaviour(body=b"[]"))
        yield sim


def auto(sim: NodeSimulator, **changes):
    auth = {"type": "login", "username": USER, "password": PASSWORD}
    return config_for(node_config(sim, relations="auto", collect=EVERYTHING, auth=auth, **changes))


def polled_relations(result) -> set[str]:
    return {ex.relation for ex in result.exchanges if ex.relation}


def test_auto_discovers_polls_and_exports_the_whole_node(node, receiver, pipeline, tmp_path):
    store = LocalStateStore(tmp_path)
    first = run(auto(node), 10, pipeline, state=store)

    assert first.export is not None and first.export.ok
    assert polled_relations(first) == {"AllContent", "GROOVY"}  # Retired is DEACTIVATED: not polled
    assert len(first.exchanges) == NODE_POLLS + polls_per_relation(["AllContent", "GROOVY"])
    assert received_points(receiver) == expected_points(first.telemetry)
    assert received_events(receiver) == expected_events(first.telemetry)
    assert (
        all_problems(
            ((p.name, p.attributes) for p in first.telemetry.points),
            ((e.name, e.attributes) for e in first.telemetry.events),
        )
        == []
    )
    # the 4.0 totals are the 2.4 queues of the node added up by direction (Retired's are empty)
    for direction in ("outgoing", "incoming"):
        rows = [e.name for e in RELATION_ENDPOINTS if e.direction == direction]
        polled = sum(sum(values(receiver, "exalate.queue.size", {"exalate.endpoint": name})) for name in rows)
        assert values(receiver, "exalate.queue.total", {"exalate.queue.direction": direction}) == [polled]
        assert polled > 0
    # cmonitor: the items of the error endpoints (the seed's bloberrorresponses is invalid JSON: none)
    assert values(receiver, "exalate.node.errors") == [sum(values(receiver, "exalate.sync.errors"))] == [2]
    status = {
        p.attributes["exalate.relation"]: p.attributes["exalate.connection.status"]
        for p in receiver.points()
        if p.name == "exalate.connection.status"
    }
    assert status == {"AllContent": "ACTIVE", "GROOVY": "ACTIVE", "Retired": "DEACTIVATED"}
    assert values(receiver, "exalate.connections") == [3]
    assert values(receiver, "exalate.endpoint.up", {"exalate.endpoint": CONNECTIONS}) == [1]

    # between the runs a connection is created, one deactivated, one deleted; the configuration is the same
    node.add_connection("NewPartner")
    node.set_status("GROOVY", "DEACTIVATED")
    node.remove_connection("Retired")
    receiver.clear()
    second = run(auto(node), 10, pipeline, state=store)
    assert polled_relations(second) == {"AllContent", "NewPartner"}
    status = {
        p.attributes["exalate.relation"]: p.attributes["exalate.connection.status"]
        for p in receiver.points()
        if p.name == "exalate.connection.status" and p.value == 1
    }
    assert status == {"AllContent": "ACTIVE", "GROOVY": "DEACTIVATED", "NewPartner": "ACTIVE"}
    gone = {
        (p.attributes["exalate.relation"], p.attributes["exalate.connection.status"])
        for p in receiver.points()
        if p.name == "exalate.connection.status" and p.value == 0
    }
    assert gone == {("GROOVY", "ACTIVE"), ("Retired", "DEACTIVATED")}  # a final 0 for the series that ended
    assert values(receiver, "exalate.queue.size", {"exalate.relation": "NewPartner"}) != []
    assert set(values(receiver, "exalate.queue.size", {"exalate.relation": "GROOVY"})) == {0}  # its final 0s
    assert json.loads((tmp_path / "jira-test.json").read_text())["discovered"]["relations"] == [
        "AllContent",
        "NewPartner",
    ]

    # one login for both runs (the token is kept per process), and it is the only request that is not a GET
    assert [(r.method, r.path) for r in node.seen if r.method != "GET"] == [
        ("POST", "/jira/rest/issuehub/4.0/authenticate")
    ]
    assert all(r.authenticated for r in node.seen)


def test_a_failed_discovery_falls_back_to_the_list_kept_in_the_state(node, receiver, pipeline, tmp_path, caplog):
    store = LocalStateStore(tmp_path)
    run(auto(node), 10, pipeline, state=store)
    node.set("", CONNECTIONS, Behaviour(status=500, body=b"boom"))
    node.add_connection("Unseen")  # the node cannot tell: the run keeps to the last list
    receiver.clear()
    with caplog.at_level(logging.WARNING):
        second = run(auto(node), 10, pipeline, state=store)
    assert polled_relations(second) == {"AllContent", "GROOVY"}
    assert values(receiver, "exalate.discovery.failures", {"error.type": "discovery_failed"}) == [1]
    assert values(receiver, "exalate.poll.errors", {"exalate.endpoint": CONNECTIONS, "error.type": "server_error"}) == [
        1
    ]
    (event,) = [e for e in receiver.events() if e.event_name == "exalate.discovery.failure"]
    assert "server_error" in event.body and "polled the 2 relation(s) of the list kept in the state" in event.body
    assert "error.type=discovery_failed" in caplog.text
    # the list kept is not replaced by a failed discovery
    assert json.loads((tmp_path / "jira-test.json").read_text())["discovered"]["relations"] == ["AllContent", "GROOVY"]


@pytest.mark.parametrize("tampered", ["..", ".", "x" * 300, "bad\nline"])
def test_a_tampered_kept_list_is_state_corrupt_and_never_polled(node, receiver, pipeline, tmp_path, tampered):
    """The kept list is read back from a file or an object anyone with write access may change: a name
    the connection list itself would refuse ('..' would climb out of /relations/) is never requested."""
    store = LocalStateStore(tmp_path)
    run(auto(node), 10, pipeline, state=store)
    saved = json.loads((tmp_path / "jira-test.json").read_text())
    saved["discovered"]["relations"] = ["AllContent", tampered]
    (tmp_path / "jira-test.json").write_text(json.dumps(saved))
    node.set("", CONNECTIONS, Behaviour(status=500, body=b"boom"))
    node.seen.clear()
    receiver.clear()
    second = run(auto(node), 10, pipeline, state=store)
    assert tampered not in polled_relations(second)
    assert all("/2.4/relations/" in r.path and "/../" not in r.path for r in node.seen if "/2.4/" in r.path)
    kinds = {e.attributes.get("error.type") for e in receiver.events() if e.event_name == "exalate.state.failure"}
    assert "state_corrupt" in kinds


def test_without_a_kept_list_a_failed_discovery_polls_nothing_and_says_so(node, receiver, pipeline):
    node.set("", CONNECTIONS, Behaviour(body=b'{"connections": []}'))  # a shape the collector does not know
    result = run(auto(node), 10, pipeline)
    assert polled_relations(result) == set()
    (listing,) = [ex for ex in result.exchanges if ex.endpoint == CONNECTIONS]
    assert listing.failure is not None and listing.failure.error_type == "unexpected_shape"
    assert listing.failure.detail == "$.results: expected a list of connections, got nothing"
    (event,) = [e for e in receiver.events() if e.event_name == "exalate.discovery.failure"]
    assert "no list is kept in the state, so no relation was polled" in event.body


def test_discover_filters_by_name_and_status(node, receiver, pipeline):
    node.connections_wrapped = True  # {"results": [...]}: the other shape seen in public scripts
    result = run(auto(node, discover={"status": [], "name": "GROOVY|Retired"}), 10, pipeline)
    assert polled_relations(result) == {"GROOVY", "Retired"}


def test_an_expired_login_token_is_obtained_again_once_after_a_401(node, receiver, pipeline):
    config = auto(node)
    run(config, 10, pipeline)
    node.secret = "the-node-restarted-with-another-key-of-32-bytes"  # every token it issued is now refused
    receiver.clear()
    second = run(config, 10, pipeline)
    assert second.failures == 2  # the seed's invalid bloberrorresponses, nothing else
    posts = [r for r in node.seen if r.method == "POST"]
    assert len(posts) == 2  # the first login, and one more after the 401s


def test_a_total_beyond_int64_is_a_failure_of_its_endpoint_and_the_export_still_delivers(node, receiver, pipeline):
    node.set("", "4.0/syncevents", Behaviour(body=b'{"limit":0,"total":9223372036854775808,"results":[]}'))
    node.set("", "4.0/cmonitor", Behaviour(body=b'{"numErrors":1e300}'))
    result = run(auto(node), 10, pipeline)
    failed = {ex.endpoint: ex.failure.error_type for ex in result.exchanges if ex.failure and not ex.relation}
    assert failed == {"4.0/syncevents": "unexpected_shape", "4.0/cmonitor": "unexpected_shape"}
    assert result.export is not None and result.export.ok
    assert received_points(receiver) == expected_points(result.telemetry)
    assert values(receiver, "exalate.queue.total", {"exalate.queue.direction": "incoming"}) != []


def test_a_token_that_looks_expired_to_us_is_one_login_per_run_not_one_per_request(node, receiver, pipeline):
    node.clock_offset_s, node.login_lifetime_s = -900.0, 300.0  # the node's clock is 15 min behind ours
    config = auto(node)
    for runs in (1, 2):
        result = run(config, 10, pipeline)
        assert result.failures == 2  # the seed's invalid bloberrorresponses: the node took the token
        assert len([r for r in node.seen if r.method == "POST"]) == runs  # its exp has passed by our clock


def test_a_node_that_refuses_every_fresh_token_gets_at_most_two_logins_a_run(node, receiver, pipeline):
    node.login_lifetime_s = -60.0  # every token it issues has expired by its own clock: every GET is a 401
    result = run(auto(node), 10, pipeline)
    assert {ex.failure.error_type for ex in result.exchanges if ex.failure} == {"unauthorized"}
    assert len([r for r in node.seen if r.method == "POST"]) == 2  # the login, and one more after the 401


def test_a_refused_login_is_reported_on_every_poll_with_one_post(node, receiver, pipeline):
    config = config_for(
        node_config(
            node,
            ["AllContent"],
            collect=["relations", "queues"],
            auth={"type": "login", "username": USER, "password": "wrong"},
        )
    )
    result = run(config, 10, pipeline)
    assert {ex.failure.error_type for ex in result.exchanges if ex.failure} == {"login_failed"}
    assert result.failures == len(result.exchanges) == polls_per_relation(["AllContent"]) + 2
    assert [r.method for r in node.seen] == ["POST"]  # no GET without a token, and no POST storm
    assert values(receiver, "exalate.poll.errors", {"error.type": "login_failed"})


def test_the_token_and_the_password_go_nowhere(node, receiver, pipeline, tmp_path, caplog):
    from exalate_collector.archive.sinks import LocalDirectorySink

    node.token_in_body = True  # the other place public scripts look for it
    with caplog.at_level(logging.DEBUG):
        result = run(auto(node), 10, pipeline, archive=LocalDirectorySink(tmp_path / "archive"))
    assert result.failures == 2
    token = login._TOKENS[(node.base_url, USER)][0]
    archived = b"".join(p.read_bytes() for p in (tmp_path / "archive").rglob("*.gz"))
    import gzip

    archived_text = gzip.decompress(archived).decode()
    exported = json.dumps([e.body for e in receiver.events()] + [repr(p.attributes) for p in receiver.points()])
    for secret in (token, PASSWORD):
        assert secret not in caplog.text and secret not in archived_text and secret not in exported


def test_the_client_posts_nothing_but_the_login(node):
    async def attempts() -> None:
        client = NodeClient(parse_config({"nodes": [node_config(node, ["A"])]}).nodes[0], asyncio.Semaphore(1))
        until = time.monotonic() + 5
        try:
            for path in ("/jira/rest/issuehub/4.0/connections", "/jira/rest/issuehub/2.4/relations/A/syncevents"):
                with pytest.raises(ValueError, match="sends only GET and the configured login POST"):
                    await client.send("POST", path, {}, {}, until, body=b"{}")
            with pytest.raises(ValueError, match="refused DELETE"):
                await client.send("DELETE", "/jira" + LOGIN_PATH, {}, {}, until)
            with pytest.raises(ValueError, match="refused POST"):  # not even the login path with a query
                await client.send("POST", "/jira" + LOGIN_PATH, {"a": "b"}, {}, until, body=b"{}")
        finally:
            await client.close()

    asyncio.run(attempts())
    assert node.seen == []


def test_a_node_without_login_never_sees_a_post(node, receiver, pipeline):
    node.secret = SECRET
    run(config_for(node_config(node, ["AllContent"], collect=EVERYTHING)), 10, pipeline)
    assert {r.method for r in node.seen} == {"GET"}


def test_a_node_polled_only_for_its_4_0_figures_needs_no_relation(node, receiver, pipeline, tmp_path):
    raw = node_config(
        node,
        collect=["queues", "errors", "connections"],
        auth={"type": "login", "username": USER, "password": PASSWORD},
    )
    del raw["relations"]
    result = run(config_for(raw), 10, pipeline, state=LocalStateStore(tmp_path))
    assert sorted(ex.endpoint for ex in result.exchanges) == sorted(e.name for e in node_rows(EVERYTHING))
    assert result.failures == 0 and result.export is not None and result.export.ok
    assert received_points(receiver) == expected_points(result.telemetry)
    assert values(receiver, "exalate.connections") == [3]


def test_every_row_of_the_table_is_served_and_understood(node, receiver, pipeline):
    result = run(auto(node), 10, pipeline)
    assert {ex.endpoint for ex in result.exchanges} == {e.name for e in TABLE}
    assert {ex.endpoint for ex in result.exchanges if not ex.ok} == {"syncrequests/bloberrorresponses"}
    assert SYNC_ERRORS in {ex.endpoint for ex in result.exchanges if ex.ok}


def test_login_failed_is_a_poll_failure_of_authentication():
    assert LoginFailed("x").authentication and LoginFailed.error_type == "login_failed"
