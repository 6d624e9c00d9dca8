"""No credential anywhere the collector writes, tried as an attacker would.

Real parts only: nodes (the simulator) that echo every request back -- headers, query string and all --
in 500 and 401 pages, in the error messages and reasons of a 200 answer, and that redirect to a login
URL with user-info; every auth type and every ``send_as``; credentials in Secrets Manager and SSM
(moto's server); DEBUG logging; the archive and the state in S3; the OTLP headers as a JSON object.
Then every byte the collector wrote -- OTLP payloads, stdout and stderr, archive objects, state
objects -- is searched for every form of every credential.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import sys
import uuid
from collections.abc import Iterator
from types import ModuleType
from urllib.parse import quote

import boto3
import pytest
from exalate_collector import redact, secret_refs
from exalate_collector.devtools.otlp_receiver import OtlpReceiver
from exalate_collector.endpoints import (
    BLOB_RESPONSES,
    SYNC_ERRORS,
    SYNC_REQUESTS,
    SYNC_RESPONSES,
    polls_per_relation,
)
from exalate_collector.simulator import Behaviour, NodeSimulator

from .conftest import load_function
from .test_cli import cli

JWT_SECRET = "jwt-shared-SEKRIT-0001-of-at-least-32-bytes"
TOKEN = "static-token-SEKRIT-0002"
USER, PASSWORD = "monitoring", "password-SEKRIT-0003"
OTLP_KEY = "otlp-api-key-SEKRIT-0004"
LOGIN_PASSWORD, LOGIN_SIGNER = "login-password-SEKRIT-0005", "login-node-signing-SEKRIT-0006-of-32-bytes"
LOCATION = "https://admin:hunter2LOC@sso.example/login/alice@example.com/SESSIONTOKEN123"
SEND_AS = ("bearer", "jwt", "x-exalate-jwt", "query")
MINTED_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")


def credential_forms() -> set[str]:
    pair = f"{USER}:{PASSWORD}"
    forms = {JWT_SECRET, TOKEN, PASSWORD, OTLP_KEY, LOGIN_PASSWORD, LOGIN_SIGNER, pair}
    forms.add(base64.b64encode(pair.encode()).decode())
    forms |= {quote(f, safe="") for f in forms}
    return forms | {"hunter2LOC", "SESSIONTOKEN123", "SEKRIT"}


def echoing(sim: NodeSimulator) -> NodeSimulator:
    """Every way a careless node sends the request back."""
    sim.set("AllContent", SYNC_RESPONSES, Behaviour(status=500, content_type="text/plain", body=b"echo", echo=True))
    sim.set("AllContent", BLOB_RESPONSES, Behaviour(status=401, body=b'{"message": "rejected: {echo}"}', echo=True))
    errors = [
        {"syncEventId": 1, "sourceIssueKey": {"id": 5, "urn": "AC-1"}, "message": "{echo}", "errorReason": "{echo}"}
    ]
    sim.set("AllContent", SYNC_ERRORS, Behaviour(body=json.dumps(errors).encode(), echo=True))
    redirect = Behaviour(
        status=302, content_type="text/html", body=b'<a href="{echo}">', headers={"Location": LOCATION}
    )
    sim.set("AllContent", SYNC_REQUESTS, Behaviour(**{**redirect.__dict__, "echo": True}))
    return sim


@pytest.fixture
def nodes() -> Iterator[dict[str, NodeSimulator]]:
    with (
        NodeSimulator(["AllContent"], secret=JWT_SECRET) as jwt_sim,
        NodeSimulator(["AllContent"], static_token=TOKEN) as token_sim,
        NodeSimulator(["AllContent"], basic=(USER, PASSWORD)) as basic_sim,
        NodeSimulator(["AllContent"], secret=LOGIN_SIGNER, login=(USER, LOGIN_PASSWORD)) as login_sim,
    ):
        sims = {"jwt": jwt_sim, "token": token_sim, "basic": basic_sim, "login": login_sim}
        yield {kind: echoing(sim) for kind, sim in sims.items()}


@pytest.fixture
def in_aws(aws) -> dict[str, str]:
    """The credentials where a deployment keeps them, and a bucket for the archive and the state."""
    suffix = uuid.uuid4().hex[:8]
    sm, ssm, s3 = boto3.client("secretsmanager"), boto3.client("ssm"), boto3.client("s3")
    refs = {
        "jwt": "secretsmanager:" + sm.create_secret(Name=f"jwt-{suffix}", SecretString=JWT_SECRET)["ARN"],
        "token": f"secretsmanager:token-{suffix}",
        "password": f"ssm:/exalate/password-{suffix}",
        "otlp": "secretsmanager:"
        + sm.create_secret(Name=f"otlp-{suffix}", SecretString=f'{{"dd-api-key": "{OTLP_KEY}"}}')["ARN"],
        "bucket": f"archive-{suffix}",
    }
    sm.create_secret(Name=f"token-{suffix}", SecretString=TOKEN)
    ssm.put_parameter(Name=f"/exalate/password-{suffix}", Value=PASSWORD, Type="SecureString")
    s3.create_bucket(Bucket=refs["bucket"], CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return refs


def every_node(nodes: dict[str, NodeSimulator], refs: dict[str, str]) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for send_as in SEND_AS:
        found.append(node("jwt-" + send_as, nodes["jwt"], {"type": "jwt", "secret": refs["jwt"], "send_as": send_as}))
        found.append(
            node("token-" + send_as, nodes["token"], {"type": "token", "token": refs["token"], "send_as": send_as})
        )
    found.append(
        node("basic", nodes["basic"], {"type": "basic", "username": "${EXALATE_USER}", "password": refs["password"]})
    )
    login = {"type": "login", "username": "${EXALATE_USER}", "password": "${EXALATE_LOGIN_PASSWORD}"}
    found.append(node("login", nodes["login"], login))
    return found


NODES = 2 * len(SEND_AS) + 2  # jwt and token with every send_as, basic, login


def node(name: str, sim: NodeSimulator, auth: dict[str, str]) -> dict[str, object]:
    return {"name": name, "base_url": sim.base_url, "relations": ["AllContent"], "auth": auth, "timeout_s": 5}


def stored_objects(bucket: str) -> dict[str, str]:
    """Every object in the bucket (archive and state), as text; gzip objects decompressed."""
    s3 = boto3.client("s3")
    found = {}
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        data = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        found[item["Key"]] = (gzip.decompress(data) if item["Key"].endswith(".gz") else data).decode("utf-8")
    return found


def otlp_payloads(receiver: OtlpReceiver) -> str:
    """The decoded OTLP requests in protobuf text format: every string the backend received."""
    with receiver.lock:
        requests = list(receiver.received.metric_requests) + list(receiver.received.log_requests)
    return "\n".join(str(r) for r in requests)


def assert_no_credential(where: str, text: str) -> None:
    for form in credential_forms():
        assert form not in text, f"{form!r} found in {where}"
    assert not MINTED_JWT.search(text), f"a minted JWT found in {where}"
    for personal in ("alice@example.com", "/login/"):
        assert personal not in text, f"{personal!r} found in {where}"


def test_the_cli_at_debug_writes_no_credential_anywhere(nodes, in_aws, aws, receiver, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"nodes": every_node(nodes, in_aws)}))
    env = {
        "EXALATE_USER": USER,
        "EXALATE_LOGIN_PASSWORD": LOGIN_PASSWORD,
        "EXALATE_LOG_LEVEL": "DEBUG",
        "ARCHIVE_BUCKET": in_aws["bucket"],
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_HEADERS": f'{{"dd-api-key": "{OTLP_KEY}"}}',  # JSON, as a secret console stores it
        "AWS_ENDPOINT_URL": aws,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    done = cli("--log-level", "DEBUG", "run", "--config", str(config), "--summary", env=env, timeout=120)
    assert done.returncode == 0, done.stderr

    written = {
        "stdout": done.stdout,
        "stderr": done.stderr,
        "OTLP payloads": otlp_payloads(receiver),
        **{f"s3://{in_aws['bucket']}/{key}": text for key, text in stored_objects(in_aws["bucket"]).items()},
    }
    for where, text in written.items():
        assert_no_credential(where, text)

    # and it was tried for real: every node authenticated, every echo was received and reported
    requests = [r for sim in nodes.values() for r in sim.seen]
    assert {(r.method, r.authenticated) for r in requests if r.method != "POST"} == {("GET", True)}
    assert {r.path for r in requests if r.method == "POST"} == {"/jira/rest/issuehub/4.0/authenticate"}
    gets = sum(1 for kind, sim in nodes.items() if kind != "login" for _ in sim.seen)
    assert gets == (NODES - 1) * polls_per_relation(["AllContent"])
    assert receiver.received.headers_seen[-1].get("dd-api-key") == OTLP_KEY  # the JSON headers were used
    events = receiver.events()
    kinds = {(e.attributes.get("exalate.endpoint"), e.attributes.get("error.type")) for e in events}
    assert {(SYNC_RESPONSES, "server_error"), (BLOB_RESPONSES, "unauthorized"), (SYNC_REQUESTS, "redirect")} <= kinds
    excerpts = [e.attributes["exalate.response.excerpt"] for e in events if "exalate.response.excerpt" in e.attributes]
    assert len(excerpts) == 2 * NODES and all("<secret>" in x or "<token>" in x for x in excerpts)
    redirects = [e.body for e in events if e.attributes.get("error.type") == "redirect"]
    assert len(redirects) == NODES and all("to https://sso.example;" in body for body in redirects)
    sync_errors = [e for e in events if e.event_name == "exalate.sync.error"]
    assert len(sync_errors) == NODES and all("GET /jira/rest/" in e.body for e in sync_errors)
    archives = [text for key, text in written.items() if key.endswith(".jsonl.gz")]
    assert len(archives) == NODES and all("<secret>" in text or "<token>" in text for text in archives)
    assert len([key for key in written if re.search(r"/state/[^/]+\.json$", key)]) == NODES
    assert "poll failed" in done.stderr  # the log lines were written, and scrubbed


class Context:
    function_name = "exalate-collector"
    aws_request_id = "req-security"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:exalate-collector"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_app(nodes, in_aws, receiver, monkeypatch) -> Iterator[tuple[ModuleType, io.StringIO, io.StringIO]]:
    """The handler module, imported (a cold start) while stdout and stderr are buffers it writes to."""
    parameter = f"/exalate/config-{uuid.uuid4().hex[:6]}"
    config = {"nodes": every_node(nodes, in_aws)}
    boto3.client("ssm").put_parameter(Name=parameter, Value=json.dumps(config), Type="String")
    for name, value in {
        "EXALATE_COLLECTOR_CONFIG": f"ssm:{parameter}",
        "EXALATE_USER": USER,
        "EXALATE_LOGIN_PASSWORD": LOGIN_PASSWORD,
        "EXALATE_LOG_LEVEL": "DEBUG",
        "AWS_LAMBDA_FUNCTION_NAME": "exalate-collector",
        "STATE_BUCKET": in_aws["bucket"],
        "OTEL_EXPORTER_OTLP_HEADERS_SECRET": in_aws["otlp"],
        "OTEL_EXPORTER_OTLP_HEADERS": "",
    }.items():
        monkeypatch.setenv(name, value)
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    secret_refs.clear_cache()
    yield load_function("collector"), out, err
    secret_refs.clear_cache()
    redact.forget_all()


def test_the_lambda_at_debug_writes_no_credential_anywhere(lambda_app, in_aws, receiver):
    app, stdout, stderr = lambda_app
    answer = app.handler({"execution_id": "x"}, Context())
    out, err = stdout.getvalue(), stderr.getvalue()
    written = {
        "stdout": out,
        "stderr": err,
        "OTLP payloads": otlp_payloads(receiver),
        "the handler's answer": json.dumps(answer),
        **stored_objects(in_aws["bucket"]),
    }
    for where, text in written.items():
        assert_no_credential(where, text)
    assert answer["polls"] == NODES * polls_per_relation(["AllContent"])
    assert receiver.received.headers_seen[-1].get("dd-api-key") == OTLP_KEY  # the JSON secret was used
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any(line.get("error.type") == "server_error" for line in lines)  # JSON log lines were written
    assert len([e for e in receiver.events() if e.event_name == "exalate.sync.error"]) == NODES
