"""``--log-level debug`` says what a run decided and did, and never a credential.

Real parts: a simulated node per auth type (jwt, token, basic, login) and one reached through a proxy
with a password (the simulator answers an absolute-form request as a forward proxy would pass it on),
a real run with the archive, the state and the export; then every debug record, as the call sites made
it (caplog sees them before the log handler's redaction), is searched for every credential.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from exalate_collector import login, redact
from exalate_collector.archive.sinks import LocalDirectorySink
from exalate_collector.config import parse_config
from exalate_collector.endpoints import CONNECTIONS, ENDPOINTS, LOGIN_PATH
from exalate_collector.runner import run
from exalate_collector.simulator import NodeSimulator
from exalate_collector.state.store import LocalStateStore

JWT_SECRET = "debug-jwt-SEKRIT-0001-of-at-least-32-bytes"
TOKEN = "debug-static-token-SEKRIT-0002"
USER, PASSWORD = "monitoring", "debug-basic-password-SEKRIT-0003"
LOGIN_PASSWORD = "debug-login-password-SEKRIT-0004"
LOGIN_SIGNER = "debug-login-signer-SEKRIT-0005-of-32-bytes!"
PROXY_USER, PROXY_PASSWORD = "proxyuser", "debug-proxy-password-SEKRIT-0006"
MINTED = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")


@pytest.fixture
def nodes() -> Iterator[dict[str, NodeSimulator]]:
    # (the nodes are not named jwt or token: "node=jwt: ..." reads as a credential to the redaction)
    # the words of this run's log lines are asserted: no credential another test registered may redact them
    redact.forget_all()
    with (
        NodeSimulator(["AllContent"], secret=JWT_SECRET, examples="repaired") as jwt_sim,
        NodeSimulator(["AllContent"], static_token=TOKEN, examples="repaired") as token_sim,
        NodeSimulator(["AllContent"], basic=(USER, PASSWORD), examples="repaired") as basic_sim,
        NodeSimulator(
            ["AllContent"], secret=LOGIN_SIGNER, login=(USER, LOGIN_PASSWORD), login_only=True, examples="repaired"
        ) as login_sim,
    ):
        yield {"jwt": jwt_sim, "token": token_sim, "basic": basic_sim, "login": login_sim}


def secrets_and_forms() -> set[str]:
    pair, proxy_pair = f"{USER}:{PASSWORD}", f"{PROXY_USER}:{PROXY_PASSWORD}"
    forms = {JWT_SECRET, TOKEN, PASSWORD, LOGIN_PASSWORD, LOGIN_SIGNER, PROXY_PASSWORD, pair, proxy_pair}
    forms |= {base64.b64encode(p.encode()).decode() for p in (pair, proxy_pair)}
    return forms | {quote(f, safe="") for f in forms} | {"SEKRIT"}


def test_a_debug_run_logs_its_decisions_and_no_credential(
    nodes, tmp_path: Path, receiver, pipeline, monkeypatch, caplog
):
    monkeypatch.setenv("DEBUG_TOKEN", TOKEN)
    monkeypatch.setenv("DEBUG_PASSWORD", PASSWORD)
    monkeypatch.setenv("DEBUG_LOGIN_PASSWORD", LOGIN_PASSWORD)
    login.forget_tokens()
    jwt_auth = {"type": "jwt", "secret": JWT_SECRET, "send_as": "x-exalate-jwt", "claims": {"tenant": "t1"}}
    proxy = nodes["jwt"].base_url.removesuffix("/jira").replace("http://", f"http://{PROXY_USER}:{PROXY_PASSWORD}@")
    config = parse_config(
        {
            "nodes": [
                {"name": "signed", "base_url": nodes["jwt"].base_url, "relations": ["AllContent"], "auth": jwt_auth},
                {
                    "name": "static",
                    "base_url": nodes["token"].base_url,
                    "relations": ["AllContent"],
                    "auth": {"type": "token", "token": "${DEBUG_TOKEN}", "send_as": "bearer"},
                },
                {
                    "name": "basic",
                    "base_url": nodes["basic"].base_url,
                    "relations": ["AllContent"],
                    "auth": {"type": "basic", "username": USER, "password": "${DEBUG_PASSWORD}"},
                },
                {
                    "name": "login",
                    "base_url": nodes["login"].base_url,
                    "relations": "auto",
                    "collect": ["relations", "connections"],
                    "auth": {"type": "login", "username": USER, "password": "${DEBUG_LOGIN_PASSWORD}"},
                },
                {  # the jwt node again, through a forward proxy that wants a password
                    "name": "proxied",
                    "base_url": "http://jira.proxied.example/jira",
                    "relations": ["AllContent"],
                    "auth": {"type": "jwt", "secret": JWT_SECRET},
                    "allow_insecure_http": True,
                    "proxy": proxy,
                },
            ]
        }
    )
    caplog.set_level(logging.DEBUG)
    result = run(
        config,
        20,
        pipeline,
        LocalDirectorySink(tmp_path / "archive"),
        LocalStateStore(tmp_path / "state"),
    )
    login.forget_tokens()
    assert result.failures == 0, [(ex.node, ex.endpoint, ex.failure) for ex in result.exchanges if ex.failure]
    assert result.export is not None and result.export.ok
    # the proxied node's requests went through the proxy, with its password, and were answered
    assert len(nodes["jwt"].claims_seen) == 2 * len(ENDPOINTS)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    records = "\n".join(r.getMessage() + " " + json.dumps(r.__dict__, default=str) for r in caplog.records)
    for form in secrets_and_forms():
        assert form not in records, f"{form!r} logged"
    assert MINTED.findall(records) == [], "a token (minted, or the login's) was logged"

    def logged(pattern: str) -> list[str]:
        return [line for line in lines if re.search(pattern, line)]

    # the auth scheme and where the credential goes, per node, with claim names and no value
    (jwt_line,) = logged(r"^auth node=signed ")
    assert "type=jwt HS256, header X-exalate-jwt, claims tenant,iss,iat,exp, exp in s" in jwt_line
    assert jwt_line.endswith("; read from auth.secret a literal value")
    bearer = "type=token, a static token in header Authorization (Bearer)"
    assert logged(rf"^auth node=static {re.escape(bearer)}; read from auth.token \$\{{DEBUG_TOKEN\}}$")
    basic = "type=basic, header Authorization (Basic); read from auth.username a literal value"
    assert logged(rf"^auth node=basic {re.escape(basic)}, auth.password \$\{{DEBUG_PASSWORD\}}$")
    assert logged(rf"^auth node=login type=login, POST {LOGIN_PATH} .*X-exalate-jwt")
    (obtained,) = logged(r"^login node=login: a token obtained")
    assert "claims user,iss,exp" in obtained
    # each request: method, path, query names, status, bytes, time, connection
    requests = logged(r"^request node=")
    gets = 4 * len(ENDPOINTS) + 1  # jwt, token, basic, proxied; login's AllContent; its connection list
    assert len(requests) == gets + len(ENDPOINTS) + 1  # and the login POST
    assert all(re.search(r" status=\d{3} bytes=\d+ ms=[\d.]+ connection=(new|reused)$", line) for line in requests)
    assert logged(rf"^request node=login POST /jira{LOGIN_PATH} query=- status=200")
    assert logged(r"^node proxied: through proxy http://127\.0\.0\.1:\d+$")  # the proxy without its credentials
    # discovery, the budget, the memory bound, the archive, the state, the export
    assert logged(r"^discovery: node=login lists 1 connections, 1 pass the filters")
    assert logged(r"^discovery: node=login polls AllContent$")
    assert logged(r"^budget: 20 s for the run: poll 15\.00 s, archive [\d.]+ s, state_read [\d.]+ s, export")
    assert logged(r"^answers held in memory: at most \d+ MB")
    assert len(logged(r"^archive node=\w+: \d+ records, \d+ bytes \(gzip JSON Lines\) to ")) == 5
    assert len(logged(r"^state: wrote .*/state/\w+\.json, \d+ bytes$")) == 5
    assert logged(r"^state: wrote .*/state/series/.*\.json, \d+ bytes$")
    assert logged(rf"^export: {result.export.points} points and {result.export.events} events sent$")
    assert CONNECTIONS in {ex.endpoint for ex in result.exchanges}
