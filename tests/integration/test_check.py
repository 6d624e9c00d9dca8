"""``exalate-collector check`` as a user runs it (a subprocess), against simulated nodes on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from exalate_collector.endpoints import ENDPOINTS, SYNC_REQUESTS, polls_per_relation
from exalate_collector.simulator import NodeSimulator

from .conftest import SECRET, free_port, node_config
from .test_cli import cli

WRONG = "a-wrong-secret-of-at-least-32-bytes-long"
PASSWORD, WRONG_PASSWORD = "check-password-SEKRIT", "check-wrong-password-SEKRIT"


@pytest.fixture
def simulator() -> Iterator[NodeSimulator]:
    """A sound node: the API document's broken blob-errors example served repaired."""
    with NodeSimulator(["AllContent", "GROOVY"], secret=SECRET, examples="repaired") as node:
        yield node


def write(tmp_path: Path, *nodes: dict) -> Path:
    path = tmp_path / "exalate.json"
    path.write_text(json.dumps({"nodes": list(nodes)}))
    return path


def rows_of(stdout: str, node: str) -> dict[str, str]:
    """step -> the rest of its row, for one node's rows of the table."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith(node + " "):
            step, _, rest = line[len(node) :].strip().partition("  ")
            found[step] = re.sub(r"  +", "  ", rest.strip())  # result and fix, two spaces apart
    return found


def test_a_wrong_secret_names_the_node_and_the_endpoint_and_says_the_secret_is_wrong(simulator, tmp_path):
    config = write(
        tmp_path,
        node_config(simulator, ["AllContent"], name="right", auth={"secret": "${EXALATE_JWT_SECRET}"}),
        node_config(simulator, ["AllContent"], name="wrong", auth={"secret": "${EXALATE_WRONG_SECRET}"}),
    )
    env = {"EXALATE_JWT_SECRET": SECRET, "EXALATE_WRONG_SECRET": WRONG}
    done = cli("--log-level", "debug", "check", "--config", str(config), env=env, cwd=tmp_path)

    assert done.returncode == 1, done.stderr
    step = f"GET {SYNC_REQUESTS} of AllContent"
    line = next(line for line in done.stdout.splitlines() if line.startswith("wrong ") and step in line)
    assert "unauthorized (HTTP 401)" in line and "the secret is wrong" in line
    wrong = rows_of(done.stdout, "wrong")
    assert [wrong[f"GET {e} of AllContent"].split("  ")[0] for e in ENDPOINTS] == ["unauthorized (HTTP 401)"] * 6
    assert wrong["secret"] == "ok: ${EXALATE_WRONG_SECRET}" and wrong["connect"] == "ok"
    right = rows_of(done.stdout, "right")
    assert all(right[f"GET {e} of AllContent"] == "ok: 1 item" for e in ENDPOINTS)
    assert right["dns"] == "ok: 127.0.0.1" and right["tls"] == "n/a (http)"
    assert done.stdout.rstrip().endswith("check: 1 of 2 nodes failed (wrong: unauthorized x6)")
    # one GET of each endpoint for one relation per node; nothing exported, archived or stored
    assert {r.method for r in simulator.seen} == {"GET"}
    assert len(simulator.seen) == 2 * polls_per_relation(["AllContent"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exalate.json"]
    # and at debug, the requests were logged, never a secret or a token
    assert done.stderr.count("request node=") == len(simulator.seen)
    for secret in (SECRET, WRONG):
        assert secret not in done.stdout + done.stderr
    assert "eyJ" not in done.stdout + done.stderr


def test_every_step_fails_where_it_should(tmp_path):
    login = ("monitor", PASSWORD)
    with (
        NodeSimulator(["AllContent"], secret=SECRET, login=login, login_only=True, examples="repaired") as auto,
        NodeSimulator(["AllContent"], secret=SECRET, examples="repaired") as plain,
    ):
        auto.set_status("AllContent", "ACTIVE")
        login_auth = {"type": "login", "username": "monitor", "password": "${EXALATE_PASSWORD}"}
        config = write(
            tmp_path,
            node_config(
                auto, name="auto", relations="auto", collect=["relations", "queues", "errors"], auth=login_auth
            ),
            node_config(auto, name="refused", auth={**login_auth, "password": "${EXALATE_WRONG_PASSWORD}"}),
            node_config(plain, name="no-tls", base_url=plain.base_url.replace("http://", "https://")),
            node_config(plain, name="down", base_url=f"http://127.0.0.1:{free_port()}/jira"),
            node_config(plain, name="unset", auth={"secret": "${EXALATE_UNSET_SECRET}"}),
            node_config(plain, name="gone", relations=["Gone"]),
        )
        env = {"EXALATE_PASSWORD": PASSWORD, "EXALATE_WRONG_PASSWORD": WRONG_PASSWORD}
        done = cli("--log-level", "debug", "check", "--config", str(config), env=env, cwd=tmp_path)

    assert done.returncode == 1, done.stderr
    # at debug, a request that got no answer says so: its node, method, path, time and the class of the failure
    (refused,) = [line for line in done.stderr.splitlines() if "request node=down GET " in line]
    assert re.search(
        r"request node=down GET /jira/rest/\S+ query=- failed after ms=[\d.]+: ClientConnectorError", refused
    )
    found = {name: rows_of(done.stdout, name) for name in ("auto", "refused", "no-tls", "down", "unset", "gone")}
    assert found["auto"]["login"] == "ok: a token obtained"
    assert found["auto"]["discovery"] == "ok: 1 connections listed, 1 pass the discover filters"
    assert found["auto"]["GET 4.0/cmonitor"] == "ok: 2 items"  # the errors of its one relation
    assert all(found["auto"][f"GET {e} of AllContent"] == "ok: 1 item" for e in ENDPOINTS)
    assert found["refused"]["login"].startswith("login_failed (HTTP 401)")
    assert found["refused"]["GET endpoints"] == "skipped (no login)"
    assert found["no-tls"]["connect"] == "ok" and found["no-tls"]["tls"].startswith("tls_error")
    assert found["down"]["connect"].startswith("connection_failed")
    assert found["down"]["GET endpoints"] == "skipped (no connection)"
    assert found["unset"]["secret"].startswith("secret_unavailable  set the variable")
    assert found["unset"]["dns"] == "skipped (no secret)"
    gone = found["gone"][f"GET {SYNC_REQUESTS} of Gone"]
    assert gone.startswith("connection_not_found (HTTP 400)  remove the relation")
    unset = "unset secret: secret_unavailable: environment variable EXALATE_UNSET_SECRET is not set or empty"
    assert unset in done.stdout
    assert "auto" not in done.stdout.splitlines()[-1]  # the verdict names only the nodes that failed
    # the login was sent once per login node, and no other POST
    posts = [r.path for r in auto.seen if r.method == "POST"]
    assert posts == ["/jira/rest/issuehub/4.0/authenticate"] * 2
    assert {r.method for r in plain.seen} <= {"GET"}
    for secret in (PASSWORD, WRONG_PASSWORD):
        assert secret not in done.stdout + done.stderr


def test_all_good_exits_0(simulator, tmp_path):
    config = write(tmp_path, node_config(simulator, ["AllContent", "GROOVY"], auth={"secret": "${S}"}))
    done = cli("check", "--config", str(config), env={"S": SECRET}, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("check: 1 node, every step passed")
    assert len(simulator.seen) == polls_per_relation(["AllContent"])  # one relation is enough


def test_an_invalid_configuration_exits_2_before_any_request(simulator, tmp_path):
    config = write(tmp_path, node_config(simulator, timeout_s=-1))
    done = cli("check", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert "nodes[0] (jira-test): timeout_s: must be a number" in done.stderr
    assert simulator.seen == []
