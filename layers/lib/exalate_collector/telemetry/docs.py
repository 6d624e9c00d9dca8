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
    kinds: list[tuple[str, list[type[errors.ReportedFailure]]]] = [
        ("poll", errors.poll_failure_types()),
        ("discovery", [errors.DiscoveryFailed]),
        ("archive", errors.archive_failure_types()),
    ]
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
        "e-mail addresses).",
        "",
        "What text from a node is kept: the error message of each sync/blob error (at most 2,048 characters),",
        "identifiers, issue keys and reasons (at most 128 characters each), and the first 256 characters of",
        "the body of a non-200 answer other than a redirect (`exalate.response.excerpt`). Of a redirect only",
        "the target's scheme and host are kept (`https://sso.example.com`): never its user-info, path or query.",
        "",
        "All of it, and every other text attribute, event body and log line, is redacted first *by knowledge*:",
        "every credential the collector holds or sends (shared secrets, minted JWTs, static tokens, the basic",
        "pair in plain and in base64, OTLP header values, and their URL-encoded forms) is replaced by",
        "`<secret>` wherever it appears, however the node echoed it. Then *by pattern*: `Bearer`/`Basic`/`JWT`",
        "credentials, JWT-like tokens, `password=`, `token=`, `secret=` (and `api_key=`, `jwt=`, ...) values,",
        "AWS access key ids and the user-info of any URL; in free text also e-mail addresses (`<email>`),",
        "phone-like numbers (`<phone>`) and base64 runs of 120 characters or more (`<base64>`). Credentials",
        "shorter than 6 characters are left to the patterns (searching for them would destroy ordinary text).",
        "",
    ]
    return "\n".join(out)
