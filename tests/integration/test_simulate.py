"""``exalate-collector simulate`` as a user runs it (a subprocess on loopback), polled by ``run`` (another
subprocess): every node of docs/config.example.yaml, each kind of credentials, the 4.0 connection list,
and the API document's blob-errors example repaired or as printed."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import yaml
from exalate_collector.endpoints import BLOB_ERRORS, ENDPOINTS, plan, relation_path
from exalate_collector.simulator import repaired_body, seed_body

from ..conftest import ROOT
from .test_cli import cli

EXAMPLE = ROOT / "docs" / "config.example.yaml"
SECRET = "demo-shared-secret-of-32-bytes-at-least"  # simulate's default --secret


@contextmanager
def simulate(*flags: str) -> Iterator[tuple[str, str]]:
    """A running ``simulate --port 0 FLAGS``: its base URL and the banner it printed."""
    command = [sys.executable, "-m", "exalate_collector.cli", "simulate", "--port", "0", *flags]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            banner: list[str] = []
            while not banner or (banner[-1] and not banner[-1].startswith("Ctrl-C")):
                banner.append(process.stdout.readline())  # "" when the process ended early
            assert banner[-1].startswith("Ctrl-C"), "".join(banner)
            url = banner[0].split(" at ", 1)[1].strip()
            yield url, "".join(banner)
        finally:
            process.terminate()


def rows(stdout: str) -> list[dict[str, str]]:
    """The summary table of ``run``, one dict a row (columns cut where the dashes line cuts them)."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["node", "relation"])
    spans, start = [], 0
    for dashes in lines[header + 1].split("  "):
        spans.append((start, start + len(dashes)))
        start += len(dashes) + 2
    names = [lines[header][a:b].strip() for a, b in spans]
    table = []
    for line in lines[header + 2 :]:
        if not line.strip():
            break
        table.append({name: line[a:b].strip() for name, (a, b) in zip(names, spans, strict=True)})
    return table


def _path(base_url: str) -> str:
    return urlsplit(base_url).path.rstrip("/")


def _secret_keys(auth: dict) -> list[str]:
    return [key for key in ("secret", "token", "password") if key in auth]


#: How simulate is started for each auth type of the example; a new type there fails here until added.
def _flags(node: dict, index: int) -> tuple[list[str], dict[str, str]]:
    auth = node["auth"]
    value = f"value-of-node-{index}-secret"
    flags = ["--context-path", _path(node["base_url"])]
    if node["relations"] == "auto":
        # what discovery chooses from: two ACTIVE connections and a DEACTIVATED one it must leave out
        flags += ["--connections", "AllContent,GROOVY,Legacy:DEACTIVATED"]
    else:
        flags += ["--relations", ",".join(node["relations"])]
    kind = auth["type"]
    if kind == "jwt":
        flags += ["--secret", value]
    elif kind == "token":
        flags += ["--token", value]
    elif kind == "basic":
        flags += ["--basic", f"{auth['username']}:{value}"]
    elif kind == "login":
        flags += ["--login", f"{auth['username']}:{value}"]
    else:
        raise AssertionError(f"docs/config.example.yaml has auth type {kind!r}: teach this test to simulate it")
    (key,) = _secret_keys(auth)
    return flags, {key: value}


def test_every_node_of_the_example_configuration_polls_the_simulator_ok(tmp_path: Path):
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    example.pop("zabbix")  # no Zabbix server here: the Zabbix output has tests of its own
    nodes = example["nodes"]
    assert {node["auth"]["type"] for node in nodes} == {"jwt", "token", "basic", "login"}
    env: dict[str, str] = {}
    with ExitStack() as stack:
        for index, node in enumerate(nodes):
            flags, secrets = _flags(node, index)
            url, _ = stack.enter_context(simulate(*flags))
            assert _path(url) == _path(node["base_url"])  # the same context path as the real node's
            node["base_url"] = url  # rewritten to point at the simulator; every other key as in the example
            for key, value in secrets.items():  # secret references to variables holding the simulator's value
                variable = f"EXALATE_EXAMPLE_{index}_{key.upper()}"
                node["auth"][key] = "${" + variable + "}"
                env[variable] = value
        config = tmp_path / "exalate.yaml"
        config.write_text(yaml.safe_dump(example), encoding="utf-8")
        done = cli("run", "--config", str(config), "--no-archive", "--no-state", env=env)
    assert done.returncode == 0, done.stderr
    table = rows(done.stdout)
    assert [r for r in table if r["status"] != "ok"] == []  # every endpoint of every node polled ok
    for node in nodes:
        relations = ["AllContent", "GROOVY"] if node["relations"] == "auto" else node["relations"]
        expected = set(plan(relations, node.get("collect", ["relations"])))
        assert {(r["relation"], r["endpoint"]) for r in table if r["node"] == node["name"]} == expected, node["name"]
    cloud = [r for r in table if r["node"] == "jira-cloud"]
    assert {r["endpoint"] for r in cloud} >= {"4.0/connections", "4.0/syncevents", "4.0/syncrequests", "4.0/cmonitor"}
    assert "Legacy" not in {r["relation"] for r in cloud}  # DEACTIVATED: discover.status is [ACTIVE]
    # the repaired blob-errors example is served by default: its error counts as an item
    assert {r["items"] for r in table if r["endpoint"] == BLOB_ERRORS} == {"1"}


def test_login_takes_only_its_own_token_in_x_exalate_jwt(tmp_path: Path):
    with simulate("--login", "monitor:right-password", "--relations", "AllContent") as (_, banner):
        assert "credentials: login, POST /jira/rest/issuehub/4.0/authenticate as user 'monitor'" in banner
        start = banner.index("    nodes:")
        printed = yaml.safe_load(banner[start : banner.index("Ctrl-C")])  # the configuration it prints
        good = printed["nodes"][0]
        assert good["relations"] == "auto" and good["auth"]["password"] == "${EXALATE_PASSWORD}"
        wrong = {**good, "name": "bad-login", "auth": {**good["auth"], "password": "${WRONG}"}}
        # signed with the node's secret, sent where the login's token goes, but not a token of the login
        forged = {
            **good,
            "name": "not-its-login",
            "relations": ["AllContent"],
            "collect": ["relations"],
            "auth": {"type": "jwt", "secret": "${FORGED}", "send_as": "x-exalate-jwt", "exp_unit": "ms"},
        }
        config = tmp_path / "exalate.yaml"
        config.write_text(json.dumps({"nodes": [good, wrong, forged]}))
        env = {"EXALATE_PASSWORD": "right-password", "WRONG": "not-the-password", "FORGED": SECRET}
        done = cli("run", "--config", str(config), "--no-archive", "--no-state", env=env)
    assert done.returncode == 0, done.stderr
    status = {}
    for row in rows(done.stdout):
        status.setdefault(row["node"], set()).add(row["status"].split(" ")[0])
    assert status == {"simulated": {"ok"}, "bad-login": {"login_failed"}, "not-its-login": {"unauthorized"}}
    assert "right-password" not in done.stdout + done.stderr and "not-the-password" not in done.stdout + done.stderr


def _get(url: str, endpoint: str) -> bytes:
    token = jwt.encode({"iss": "test", "exp": 4102444800}, SECRET, algorithm="HS256")
    request = urllib.request.Request(url + relation_path("AllContent", endpoint))
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:  # a loopback URL of the test
        return answer.read()


def test_the_blob_errors_example_is_repaired_unless_the_broken_original_is_asked_for(tmp_path: Path):
    assert seed_body(BLOB_ERRORS) != repaired_body(BLOB_ERRORS)
    with simulate("--relations", "AllContent") as (url, banner):
        assert "with its missing comma restored" in banner
        assert _get(url, BLOB_ERRORS) == repaired_body(BLOB_ERRORS)
        assert all(_get(url, e) == seed_body(e) for e in ENDPOINTS if e != BLOB_ERRORS)  # the rest as printed
    with simulate("--relations", "AllContent", "--broken-blob-errors") as (url, banner):
        assert "byte for byte: invalid JSON" in banner
        assert _get(url, BLOB_ERRORS) == seed_body(BLOB_ERRORS)
        config = tmp_path / "exalate.yaml"
        node = {"name": "n", "base_url": url, "relations": ["AllContent"], "auth": {"type": "jwt", "secret": "${S}"}}
        config.write_text(json.dumps({"nodes": [node]}))
        done = cli("run", "--config", str(config), "--no-archive", "--no-state", env={"S": SECRET})
    failed = {(r["endpoint"], r["status"]) for r in rows(done.stdout) if r["status"] != "ok"}
    assert failed == {(BLOB_ERRORS, "invalid_json (HTTP 200)")}
