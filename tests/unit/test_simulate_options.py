"""``simulate``'s options: what each turns into on the simulator (its answers are tested over loopback in
tests/integration/test_simulate.py)."""

from __future__ import annotations

import pytest
from exalate_collector import cli


def simulation(*argv: str) -> cli.Simulation:
    return cli._simulation(cli._parser().parse_args(["simulate", *argv]))


def test_the_defaults_serve_two_relations_with_a_jwt_and_the_repaired_example():
    got = simulation()
    assert got.relations == ("AllContent", "GROOVY") and got.statuses == {}
    node = got.simulator()
    assert (node.context_path, node.secret, node.login, node.static_token, node.basic) == (
        "/jira",
        cli.DEMO_SECRET,
        None,
        None,
        None,
    )
    assert node.examples == "repaired" and node.latency_s == 0.0


def test_connections_are_listed_with_their_status_and_served():
    got = simulation("--connections", "AllContent, Legacy:DEACTIVATED,odd:name")
    assert got.relations == ("AllContent", "Legacy", "odd:name")  # a colon without a status is part of the name
    assert got.statuses == {"Legacy": "DEACTIVATED"}
    node = got.simulator()
    assert node.statuses == {"Legacy": "DEACTIVATED"} and set(node.relations) == set(got.relations)
    # with --relations too: those are served and listed (ACTIVE), the connections beside them
    assert simulation("--relations", "A", "--connections", "B:DEACTIVATED").relations == ("A", "B")


def test_login_token_basic_latency_context_path_and_the_broken_example_reach_the_simulator():
    node = simulation("--login", ":personal-access-token", "--context-path", "").simulator()
    assert node.login == ("", "personal-access-token") and node.login_only and node.context_path == ""
    assert simulation("--token", "t0k").simulator().static_token == "t0k"
    assert simulation("--basic", "monitoring:pw").simulator().basic == ("monitoring", "pw")
    assert simulation("--latency", "0.25").simulator().latency_s == 0.25
    assert simulation("--context-path", "jira/").context_path == "/jira"
    assert simulation("--broken-blob-errors").simulator().examples == "seed"
    assert simulation("--secret", "s" * 32).simulator().secret == "s" * 32


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--login", "monitor"], "argument --login: must be USER:PASSWORD with a password"),
        (["--basic", "monitor:"], "argument --basic: must be USER:PASSWORD with a password"),
        (["--relations", " , "], "argument --relations: ' , ' names no relation"),
        (["--login", "a:b", "--token", "t"], "argument --token: not allowed with argument --login"),
    ],
)
def test_bad_simulate_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        cli._parser().parse_args(["simulate", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_repaired_example_is_the_seed_with_its_one_missing_comma_restored():
    from exalate_collector.endpoints import BLOB_ERRORS, ENDPOINTS
    from exalate_collector.errors import InvalidJson
    from exalate_collector.parse import interpret
    from exalate_collector.simulator import repaired_body, seed_body

    from ..conftest import repaired_blob_errors

    broken, repaired = seed_body(BLOB_ERRORS), repaired_body(BLOB_ERRORS)
    assert repaired == repaired_blob_errors()  # the tests' own repair, made from the seed bytes
    at = next(i for i, (a, b) in enumerate(zip(broken, repaired, strict=False)) if a != b)
    assert repaired[at : at + 1] == b"," and repaired[:at] + repaired[at + 1 :] == broken  # one comma, nothing else
    with pytest.raises(InvalidJson):
        interpret(BLOB_ERRORS, 200, "application/json", broken)
    assert interpret(BLOB_ERRORS, 200, "application/json", repaired).items == 1
    assert all(repaired_body(e) == seed_body(e) for e in ENDPOINTS if e != BLOB_ERRORS)
