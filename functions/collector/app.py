"""The collector Lambda: a thin handler. The logic lives in the exalate_collector layer."""

from __future__ import annotations

import os
from typing import Any

from exalate_collector import lambda_entry, logs
from exalate_collector.archive.sinks import sink_for
from exalate_collector.settings import Settings
from exalate_collector.state.store import store_for
from exalate_collector.telemetry.otel import OtelPipeline, lambda_instance_id

# Every environment variable read and validated once; a bad one fails the init, naming the variable.
SETTINGS = Settings.from_environment(os.environ)
logs.configure(SETTINGS.log_level, json_lines=True)
lambda_entry.load_otlp_headers(SETTINGS, os.environ)  # API keys come from Secrets Manager, not plain variables
# Built once per execution environment and reused by warm invocations; the telemetry pipeline at the
# first invocation, whose context names the function (its ARN is the default service.instance.id).
PIPELINE: list[OtelPipeline] = []
ARCHIVE = sink_for(SETTINGS, in_lambda=True)
STATE = store_for(SETTINGS, in_lambda=True)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not PIPELINE:
        instance = lambda_instance_id(context.invoked_function_arn)
        PIPELINE.append(OtelPipeline.from_environment(instance, max_request_bytes=SETTINGS.otlp_max_request_bytes))
    return lambda_entry.collect(event, context, PIPELINE[0], SETTINGS, ARCHIVE, STATE)
