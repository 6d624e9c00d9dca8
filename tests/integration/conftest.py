"""Real parts on loopback: the Exalate node simulator, an OTLP/HTTP receiver, moto's server."""

from __future__ import annotations

import importlib.util
import socket
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from exalate_collector.aws import LazyClient
from exalate_collector.config import Config, parse_config
from exalate_collector.devtools.otlp_receiver import OtlpReceiver
from exalate_collector.simulator import NodeSimulator
from exalate_collector.state.store import LocalStateStore, S3StateStore, StateStore
from exalate_collector.telemetry.otel import OtelPipeline

from ..conftest import ROOT

SECRET = "integration-secret-of-at-least-32-bytes"
OTEL_VARS = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
]


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py as Lambda does: a fresh module each time, built at import."""
    spec = importlib.util.spec_from_file_location(
        f"{name}_app_{uuid.uuid4().hex}", ROOT / "functions" / name / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def simulator() -> Iterator[NodeSimulator]:
    with NodeSimulator(["AllContent", "GROOVY"], secret=SECRET) as node:
        yield node


@pytest.fixture
def receiver(monkeypatch) -> Iterator[OtlpReceiver]:
    for var in OTEL_VARS:
        monkeypatch.delenv(var, raising=False)
    with OtlpReceiver() as r:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.endpoint)
        yield r


@pytest.fixture
def pipeline(receiver) -> Iterator[OtelPipeline]:
    p = OtelPipeline.from_environment()
    yield p
    p.shutdown()


def node_config(
    sim: NodeSimulator, relations: list[str] | None = None, name: str = "jira-test", **changes: Any
) -> dict[str, Any]:
    auth = {"type": "jwt", "secret": SECRET}
    override = changes.pop("auth", {})
    auth = override if "type" in override else {**auth, **override}
    node = {
        "name": name,
        "base_url": sim.base_url,
        "relations": relations or ["AllContent"],
        "auth": auth,
        "timeout_s": 5,
    }
    node.update(changes)
    return node


def config_for(*nodes: dict[str, Any]) -> Config:
    return parse_config({"nodes": list(nodes)})


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto in server mode on loopback; boto3 reaches it over HTTP through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return moto_server


@pytest.fixture(params=["s3", "local"])
def store(request, tmp_path) -> StateStore:
    """A state store of each kind: S3 through moto's server, and a local directory."""
    if request.param == "local":
        return LocalStateStore(tmp_path / "state")
    request.getfixturevalue("aws")
    bucket = f"state-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return S3StateStore(LazyClient("s3"), bucket, "state/")
