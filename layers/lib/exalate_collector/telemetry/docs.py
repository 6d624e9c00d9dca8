"""Render docs/telemetry.md from the contract (``exalate-collector docs``; a test keeps them equal)."""

from __future__ import annotations

import inspect

from .. import errors
from ..endpoints import TABLE
from .contract import Contract, MetricSpec, load_contract, prometheus_name


def _attrs(required: tuple[str, ...], optional: tuple[str, ...]) -> str:
    names = [f"`{a}`" for a in required] + [f"`{a}` (when known)" for a in optional]
    return ", ".join(names) or "—"


def _prometheus(m: MetricSpec) -> str:
    name = prometheus_name(m)
    if m.instrument == "histogram":
        return f"`{name}_bucket`, `{name}_sum`, `{name}_count`"
    return f"`{name}`"


def _final_zero(m: MetricSpec) -> str:
    if m.instrument != "gauge" or not m.attributes:
        return "—"
    return "yes" if m.final_zero else "no"


def render(contract: Contract | None = None) -> str:
    contract = contract or load_contract()
    out = [
        "# Telemetry reference",
        "",
        "<!-- Generated from layers/lib/exalate_collector/telemetry/contract.yaml by `exalate-collector docs`."
        " Do not edit by hand: a test fails when this file and the contract differ. -->",
        "",
        "Every run exports the metrics and events below over OTLP/HTTP (protobuf), once per run.",
        "Gauges report what *this* run saw: a node, relation, endpoint or error reason exported by the",
        "previous run and absent now gets one final `0` (where the table says so), and is then no longer",
        "exported, so a query at the next run's time sums no stale value. `exalate.endpoint.up` and",
        "`exalate.relation.up` get no final value: there, 0 means *down* or *removed*, which would be false.",
        "",
        "Counters and the histogram continue across runs and processes (cron, Lambda cold starts): with",
        "cumulative temporality (the default) each run exports the deployment's totals since the start time",
        "kept in the state, so `rate()` and `increase()` work; with delta temporality each run exports its own",
        "delta. Without state (`--no-state`, or a Lambda with no bucket) each process starts anew (a new start",
        "time: a counter reset, which Prometheus-style backends handle). A counter series that has not changed",
        "for a day is no longer carried.",
        "",
        "## Metrics",
        "",
        "The Prometheus-style name is what Prometheus, Mimir, Grafana Cloud and VictoriaMetrics",
        "(`-opentelemetry.usePrometheusNaming`) call the metric; attributes become labels with `_` for `.`",
        "(`exalate_node`, `exalate_relation`, `exalate_endpoint`, `exalate_error_reason`, `error_type`), and",
        "so do resource attributes in VictoriaMetrics (`service_instance_id`, ...).",
        "",
        "| name | Prometheus-style name | instrument | unit | attributes | final 0 | description |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in contract.metrics.values():
        out.append(
            f"| `{m.name}` | {_prometheus(m)} | {m.instrument} | `{m.unit}` "
            f"| {_attrs(m.attributes, m.optional_attributes)} | {_final_zero(m)} | {m.description} |"
        )
    histograms = [m for m in contract.metrics.values() if m.bucket_boundaries]
    for m in histograms:
        bounds = ", ".join(f"{b:g}" for b in m.bucket_boundaries)
        out += ["", f"`{m.name}` bucket boundaries ({m.unit}): {bounds}."]
    out += [
        "",
        "## Events",
        "",
        "Events are OpenTelemetry log records with an event name (`LogRecord.event_name`) and, for receivers",
        "built on protos older than OTLP 1.5 that drop that field, the same name in an `event.name` attribute",
        "(compatibility). Each record's time (`time_unix_nano`) is when the run observed what it reports: the",
        "answer's arrival for poll failures and errors, the run's time for the rest. The 2.4 answers carry no",
        "time of their own for an item.",
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
            f"| `{spec.name}` | `GET {spec.template}{spec.query_string}` "
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
        ("state", errors.state_failure_types()),
        ("output", errors.output_failure_types()),
        ("export", errors.export_failure_types()),
    ]
    for kind, classes in kinds:
        for cls in classes:
            doc = " ".join((inspect.getdoc(cls) or "").split())
            out.append(f"| `{cls.error_type}` | `{cls.__name__}` | {kind} | {doc} |")
    out += [
        "",
        "## Resource",
        "",
        "Every resource attribute sent, on metrics and events alike (VictoriaMetrics makes each one a label):",
        "",
        "| attribute | value |",
        "|---|---|",
        "| `service.name` | `exalate-collector`, or `OTEL_SERVICE_NAME` |",
        "| `service.version` | the collector's version (changes with an upgrade of the collector) |",
        "| `service.instance.id` | the deployment's stable id (below) |",
        "| `telemetry.sdk.name` | `opentelemetry`, pinned by the collector |",
        "| `telemetry.sdk.language` | `python`, pinned by the collector |",
        "| `cloud.provider`, `cloud.platform` | in AWS Lambda: `aws`, `aws_lambda` |",
        "| `cloud.region`, `faas.name`, `faas.version`, `faas.max_memory` | in AWS Lambda: from the runtime |",
        "| anything in `OTEL_RESOURCE_ATTRIBUTES` | as given (it wins over the above) |",
        "",
        "`telemetry.sdk.version` is never sent: where resource attributes become labels, every upgrade of the",
        "OpenTelemetry SDK would otherwise start new series. `telemetry.sdk.name` and `telemetry.sdk.language`",
        "are constants set by the collector, not taken from the SDK, so no upgrade changes them either.",
        "",
        "## Delivery",
        "",
        "Metrics are not aggregated by the SDK's instruments: each distinct attribute set a run computed is",
        "one series, with no cardinality limit (the SDK's merged every series past 2,000 per metric into",
        "`otel.metric.overflow`). An export is split into requests of at most `EXALATE_OTLP_MAX_REQUEST_KB`",
        "(default 4096 KiB) of protobuf before compression. A request is delivered only when the backend",
        "answers 2xx and its `partial_success` rejects nothing: a redirect is not followed (`export_redirected`),",
        "an error status (`export_refused`, after retries for 429, 502, 503 and 504), rejections",
        "(`export_rejected`), no answer (`export_unreachable`) and a point too large for any request",
        "(`export_too_large`) each fail the run (CLI exit 1, Lambda error) with the backend's own message,",
        "and the events of a run whose log export was not delivered are reported again by the next run.",
        "Each request is counted in `exalate.export.requests`, every item not delivered in",
        "`exalate.export.dropped`; both are known only after the export and go out with the next one.",
        "",
        "`service.instance.id` is stable for a deployment, so every run writes the same series: the function's",
        "ARN in Lambda; outside AWS the host name and the configuration path (`host:/etc/exalate.yaml`), or",
        "`exalate-collector run --instance-id ID`; `OTEL_RESOURCE_ATTRIBUTES=service.instance.id=...` wins over",
        "both. Runs of one deployment never overlap in Lambda (reserved concurrency 1); overlapping CLI runs",
        "need distinct ids. No per-process attribute (such as `faas.instance`) is set: backends make resource",
        "attributes labels, and it would start new series at every cold start.",
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
