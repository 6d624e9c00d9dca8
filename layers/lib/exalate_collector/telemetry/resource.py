"""The OTLP resource: who the telemetry is about. ``service.*`` always, ``cloud.*`` and ``faas.*`` in AWS
Lambda, ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME`` winning; ``service.instance.id`` is the
deployment's (this host and its configuration, or the function's ARN), not the process's, so a stream goes
on across processes; the SDK's ``telemetry.sdk.*`` keys pinned, without the version, so no SDK upgrade
starts new series.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import OTELResourceDetector, Resource

from .. import __version__

DEFAULT_SERVICE_NAME = "exalate-collector"
INSTANCE_ID = "service.instance.id"
#: The SDK's resource keys. ``telemetry.sdk.version`` is dropped: backends that make resource attributes
#: labels (VictoriaMetrics) would start new series at every SDK upgrade. Name and language are pinned
#: here, not taken from the SDK, so no upgrade changes them either.
SDK_VERSION_KEY = "telemetry.sdk.version"
PINNED_SDK = {"telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry"}


def cli_instance_id(config_path: str | None) -> str:
    """The default ``service.instance.id`` outside AWS: this host and the configuration it runs."""
    where = config_path or "-"
    if not where.startswith("ssm:") and where != "-":
        where = str(Path(where).resolve())
    return f"{socket.gethostname()}:{where}"


def lambda_instance_id(invoked_function_arn: str) -> str:
    """The default ``service.instance.id`` in AWS Lambda: the function's ARN, without version or alias."""
    return ":".join(invoked_function_arn.split(":")[:7])


def build_resource(env: Mapping[str, str], instance_id: str) -> Resource:
    """service.* always; cloud.* and faas.* when running in AWS Lambda. OTEL_* variables win; the SDK's
    telemetry.sdk.* keys pinned, without the version (PINNED_SDK).

    ``instance_id`` is the deployment's stable ``service.instance.id`` (one series per deployment, not
    per process); ``OTEL_RESOURCE_ATTRIBUTES=service.instance.id=...`` overrides it.
    """
    attributes: dict[str, Any] = {"service.version": __version__}
    function = env.get("AWS_LAMBDA_FUNCTION_NAME")
    if function:
        attributes.update({"cloud.provider": "aws", "cloud.platform": "aws_lambda", "faas.name": function})
        optional = {
            "cloud.region": env.get("AWS_REGION"),
            "faas.version": env.get("AWS_LAMBDA_FUNCTION_VERSION"),
        }  # not faas.instance: it changes with every execution environment, and backends make it a label
        attributes.update({k: v for k, v in optional.items() if v})
        memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        if memory.isdigit():
            attributes["faas.max_memory"] = int(memory) * 1024 * 1024
    # The SDK would otherwise put a random id per process (its own detector); the variable still wins.
    attributes[INSTANCE_ID] = OTELResourceDetector().detect().attributes.get(INSTANCE_ID) or instance_id
    resource = Resource.create(attributes)  # merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": DEFAULT_SERVICE_NAME}))
    # identity across SDK upgrades: no telemetry.sdk.version, name and language pinned (see PINNED_SDK)
    attrs = {k: v for k, v in resource.attributes.items() if k != SDK_VERSION_KEY and k not in PINNED_SDK}
    return Resource({**attrs, **PINNED_SDK}, resource.schema_url)
