"""The collector Lambda: a thin handler. The logic lives in the exalate_collector layer."""

from __future__ import annotations

import os
from typing import Any

from exalate_collector import lambda_entry, logs
from exalate_collector.archive.sinks import sink_from_environment
from exalate_collector.state.store import store_from_environment
from exalate_collector.telemetry.otel import OtelPipeline, lambda_instance_id

logs.configure()
lambda_entry.load_otlp_headers(os.environ)  # API keys come from Secrets Manager, not plain variables
# Built once per execution environment and reused by warm invocations; the telemetry pipeline at the
# first invocation, whose context names the function (its ARN is the default service.instance.id).
PIPELINE: list[OtelPipeline] = []
ARCHIVE = sink_from_environment(os.environ, in_lambda=True)
STATE = store_from_environment(os.environ, in_lambda=True)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not PIPELINE:
        PIPELINE.append(OtelPipeline.from_environment(lambda_instance_id(context.invoked_function_arn)))
    return lambda_entry.collect(event, context, PIPELINE[0], os.environ, ARCHIVE, STATE)
