"""Render docs/telemetry.md from the contract (``exalate-collector docs``; a test keeps them equal)."""

from __future__ import annotations

import inspect

from .. import errors
from ..endpoints import TABLE
from .contract import Contract, load_contract


def _attrs(required: tuple[str, ...], optional: tuple[str, ...]) -> str:
    names = [f"`{a}`" for a in required] + [f"`{a}` (when known)" for a in optional]
    return ", ".join(names) or "—"


def render(contract: Contract | None = None) -> str:
    contract = contract or load_contract()
    out = [
        "# Telemetry reference",
        "",
        "<!-- Generated from layers/lib/exalate_collector/telemetry/contract.yaml by `exalate-collector docs`."
        " Do not edit by hand: a test fails when this file and the contract differ. -->",
        "",
        "Every run exports the metrics and events below over OTLP/HTTP (protobuf), once per run.",
        "Gauges report what *this* run saw: a relation, endpoint or error reason that is gone is no longer",
        "exported (no stale last value).",
        "",
        "## Metrics",
        "",
        "| name | instrument | unit | attributes | description |",
        "|---|---|---|---|---|",
    ]
    for m in contract.metrics.values():
        out.append(
            f"| `{m.name}` | {m.instrument} | `{m.unit}` | {_attrs(m.attributes, m.optional_attributes)} "
            f"| {m.description} |"
        )
    histograms = [m for m in contract.metrics.values() if m.bucket_boundaries]
    for m in histograms:
        bounds = ", ".join(f"{b:g}" for b in m.bucket_boundaries)
        out += ["", f"`{m.name}` bucket boundaries ({m.unit}): {bounds}."]
    out += [
        "",
        "## Events",
        "",
        "Events are OpenTelemetry log records with an event name.",
        "",
        "| event name | severity | body | attributes | when |",
        "|---|---|---|---|---|",
    ]
    for e in contract.events.values():
        severity = e.severity + (
            f" ({e.severity_authentication} for authentication)" if e.severity_authentication else ""
        )
        out.append(
            f"| `{e.name}` | {severity} | {e.body} | {_attrs(e.attributes, e.optional_attributes)} | {e.description} |"
        )
    out += [
        "",
        "## Endpoints",
        "",
        "Generated from the endpoint table (`exalate_collector/endpoints.py`). Paths are below the node's base URL;",
        "`{relation}` is the percent-encoded relation name. *source* says where the shape of the answer comes from:",
        "the vendor's API document (the 2.4 examples), the vendor's monitoring guide, or public scripts by the",
        "vendor's staff (unpublished shapes: guesses, parsed tolerantly).",
        "",
        "| `exalate.endpoint` | request | answer | metric | source | what it holds |",
        "|---|---|---|---|---|---|",
    ]
    for spec in TABLE:
        metrics = ", ".join(f"`{m}`" for m in (spec.metric, spec.reason_metric) if m)
        out.append(
            f"| `{spec.name}` | `GET {spec.template}` "
            f"| {spec.answer} | {metrics} | {spec.source} | {spec.description} |"
        )
    out += ["", "## Attributes", "", "| attribute | type | description |", "|---|---|---|"]
    for a in contract.attributes.values():
        values = f" Values: {', '.join(f'`{v}`' for v in a.values)}." if a.values and a.name != "error.type" else ""
        out.append(f"| `{a.name}` | {a.type} | {a.description}{values} |")
    out += [
        "",
        "## `error.type` values",
        "",
        "Each value is the snake-case name of an exception class in `exalate_collector/errors.py`.",
        "",
        "| error.type | class | of | meaning |",
        "|---|---|---|---|",
    ]
    kinds = [("poll", errors.poll_failure_types()), ("archive", errors.archive_failure_types())]
    for kind, classes in kinds:
        for cls in classes:
            doc = " ".join((inspect.getdoc(cls) or "").split())
            out.append(f"| `{cls.error_type}` | `{cls.__name__}` | {kind} | {doc} |")
    out += [
        "",
        "## Resource",
        "",
        "`service.name` (default `exalate-collector`, or `OTEL_SERVICE_NAME`), `service.version`,",
        "`service.instance.id` (unique per process), anything in `OTEL_RESOURCE_ATTRIBUTES`, and in AWS Lambda",
        "`cloud.provider`, `cloud.platform`, `cloud.region`, `faas.name`, `faas.version`, `faas.instance`,",
        "`faas.max_memory`.",
        "",
        "## What is never exported",
        "",
        "No token, secret or password; no replica content (`encodedPayload`, summaries, comments, user names,",
        "e-mail addresses). Free text from the node (error messages, error-page excerpts) passes through a",
        "redaction that removes tokens, e-mail addresses and long base64 runs; excerpts are taken only from",
        "non-200 answers.",
        "",
    ]
    return "\n".join(out)
