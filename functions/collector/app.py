"""The collector Lambda: a thin handler. The logic lives in the exalate_collector layer."""

from __future__ import annotations

import os
from typing import Any

from exalate_collector import lambda_entry, logs
from exalate_collector.archive.sinks import sink_from_environment
from exalate_collector.state.store import store_from_environment
from exalate_collector.telemetry.otel import OtelPipeline

logs.configure()
lambda_entry.load_otlp_headers(os.environ)  # API keys come from Secrets Manager, not plain variables
# Built once per execution environment and reused by warm invocations.
PIPELINE = OtelPipeline.from_environment()
ARCHIVE = sink_from_environment(os.environ, in_lambda=True)
STATE = store_from_environment(os.environ, in_lambda=True)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return lambda_entry.collect(event, context, PIPELINE, os.environ, ARCHIVE, STATE)
