"""The resource: no key that changes with an SDK upgrade, and every key sent listed in docs/telemetry.md."""

from __future__ import annotations

import re

import pytest
from exalate_collector.telemetry.otel import build_resource

from ..conftest import ROOT

LAMBDA = {
    "AWS_LAMBDA_FUNCTION_NAME": "exalate-collector",
    "AWS_REGION": "eu-west-1",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
}


def documented() -> set[str]:
    text = (ROOT / "docs" / "telemetry.md").read_text(encoding="utf-8")
    section = text.split("## Resource", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([a-z_.]+)`", section))


@pytest.mark.parametrize("env", [{}, LAMBDA])
def test_every_resource_attribute_is_documented_and_none_is_the_sdks_version(env, monkeypatch):
    for var in ("OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME", *LAMBDA):
        monkeypatch.delenv(var, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    attributes = dict(build_resource(env, "host:/etc/exalate.yaml").attributes)
    assert "telemetry.sdk.version" not in attributes
    assert attributes["telemetry.sdk.name"] == "opentelemetry" and attributes["telemetry.sdk.language"] == "python"
    assert set(attributes) - documented() == set()


def test_the_sdks_own_resource_would_carry_its_version():
    """Canary: what build_resource removes is really there in the SDK's default resource."""
    from opentelemetry.sdk.resources import Resource

    assert "telemetry.sdk.version" in Resource.create({}).attributes
