"""The standard ``OTEL_EXPORTER_OTLP_*`` variables, read and checked: whether OTLP is configured at all,
the protocol (http/protobuf only), each signal's endpoint (no credentials in the URL) and where it resolves
to (``export_targets``, named in a failure message), its headers (``name=value,...`` or a JSON object, every
value registered for redaction), compression, client certificates and the metrics temporality; from them
one ``delivery.OtlpSender`` per signal over one shared HTTP session (``otlp_senders``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from .. import redact
from ..errors import ConfigError
from .delivery import OtlpSender

_ENDPOINT_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
)
_PROTOCOL_VARS = (
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
)
TEMPORALITY_VAR = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"


def otlp_configured(env: Mapping[str, str]) -> bool:
    return any(env.get(var) for var in _ENDPOINT_VARS)


def check_protocol(env: Mapping[str, str]) -> None:
    for var in _PROTOCOL_VARS:
        value = env.get(var)
        if value and value != "http/protobuf":
            raise ConfigError([f"{var}: {value!r} is not supported; exalate-collector exports http/protobuf only"])
    problems = [f"{var}: {problem}" for var in _ENDPOINT_VARS if (problem := _endpoint_problem(env.get(var)))]
    if problems:
        raise ConfigError(problems)


def _endpoint_problem(url: str | None) -> str | None:
    """Why an OTLP endpoint URL cannot be used; never quotes it (it might carry credentials)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL such as https://otlp.example.com"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (user:password@host); put them in OTEL_EXPORTER_OTLP_HEADERS"
    return None


HEADERS_VAR = "OTEL_EXPORTER_OTLP_HEADERS"
_SIGNAL_HEADERS_VARS = {"metrics": "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "logs": "OTEL_EXPORTER_OTLP_LOGS_HEADERS"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def parse_headers(text: str, var: str) -> dict[str, str]:
    """OTLP headers from ``name=value,...`` (values URL-encoded, as the specification says) or from a
    JSON object (``{"dd-api-key": "..."}``, the Secrets Manager console's default). Every value is
    registered for redaction; an error names the variable and the item, never a value."""
    text = text.strip()
    pairs: list[tuple[str, str]] = []
    if text.startswith("{"):
        try:
            raw = json.loads(text)
        except ValueError:
            raise ConfigError([f"{var}: looks like a JSON object but is not valid JSON"]) from None
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise ConfigError([f"{var}: a JSON object must map header names to string values"])
        pairs = [(str(k).strip(), v.strip()) for k, v in raw.items()]
    else:
        for index, item in enumerate(text.split(","), 1):
            if not item.strip():
                continue
            name, sep, value = item.partition("=")
            if not sep:
                raise ConfigError([f"{var}: item {index} is not name=value (the value is not shown)"])
            pairs.append((unquote(name).strip(), unquote(value).strip()))
    headers: dict[str, str] = {}
    for index, (name, value) in enumerate(pairs, 1):
        if not _HEADER_NAME.match(name):
            raise ConfigError([f"{var}: header {index} has no valid name"])
        redact.remember(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha():
            redact.remember(credential.strip())  # "Basic <base64>": the credential alone too
        headers[name.lower()] = value
    return headers


def canonical_headers(headers: Mapping[str, str]) -> str:
    """The ``name=value,...`` form the OpenTelemetry SDK reads from the environment without complaint."""
    return ",".join(f"{name}={quote(value, safe='')}" for name, value in headers.items())


def otlp_headers(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Per signal: the headers from OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS."""
    found = {}
    for signal, var in _SIGNAL_HEADERS_VARS.items():
        chosen = var if env.get(var) else HEADERS_VAR
        found[signal] = parse_headers(env.get(chosen) or "", chosen)
    return found


def _signal_env(env: Mapping[str, str], signal: str, name: str) -> str | None:
    """OTEL_EXPORTER_OTLP_<SIGNAL>_<NAME>, else OTEL_EXPORTER_OTLP_<NAME> (the specification's order)."""
    return env.get(f"OTEL_EXPORTER_OTLP_{signal}_{name}") or env.get(f"OTEL_EXPORTER_OTLP_{name}") or None


def _compression(env: Mapping[str, str], signal: str) -> str:
    value = (_signal_env(env, signal, "COMPRESSION") or "gzip").strip().lower()
    if value not in ("gzip", "deflate", "none"):
        raise ConfigError(
            [
                f"OTEL_EXPORTER_OTLP_{signal}_COMPRESSION or OTEL_EXPORTER_OTLP_COMPRESSION: {value!r}"
                " is not gzip, deflate or none"
            ]
        )
    return value


def cumulative_preferred(env: Mapping[str, str]) -> bool:
    """Counters and histograms cumulative unless the variable says delta (or lowmemory, which is delta for
    synchronous counters and histograms, as all of ours are)."""
    return (env.get(TEMPORALITY_VAR) or "cumulative").strip().lower() not in ("delta", "lowmemory")


@dataclass(frozen=True)
class Senders:
    metrics: OtlpSender
    events: OtlpSender | None
    close: Callable[[], None]


def otlp_senders(env: Mapping[str, str]) -> Senders:
    """One sender per signal, configured by the standard variables (endpoint, headers, compression —
    gzip unless told otherwise —, certificates); one shared HTTP session (keep-alive across exports).

    Headers are parsed here (JSON or name=value). No event sender when only
    ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` is set: metrics-only backends (Prometheus, VictoriaMetrics)
    take no logs, and the events are then not sent anywhere.
    """
    check_protocol(env)
    headers = otlp_headers(env)
    import requests

    from ..logs import pin_library_loggers

    pin_library_loggers()
    session = requests.Session()
    targets = export_targets(env)

    def sender(signal: str, kind: str, header_key: str) -> OtlpSender:
        key, cert = _signal_env(env, kind, "CLIENT_KEY"), _signal_env(env, kind, "CLIENT_CERTIFICATE")
        return OtlpSender(
            session,
            signal,
            targets[signal].url,
            headers[header_key],
            compression=_compression(env, kind),
            verify=_signal_env(env, kind, "CERTIFICATE") or True,
            cert=(cert, key) if cert and key else cert,
        )

    logs = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
    events = sender("events", "LOGS", "logs") if logs else None
    return Senders(sender("metrics", "METRICS", "metrics"), events, session.close)


@dataclass(frozen=True)
class ExportTarget:
    """Where one signal goes and which variable says so: what a user checks when it is not delivered."""

    url: str
    variable: str


def export_targets(env: Mapping[str, str]) -> dict[str, ExportTarget]:
    """``{"metrics": ..., "events": ...}`` as the OTLP/HTTP exporters resolve them from the variables."""
    base = (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318").rstrip("/")
    targets = {}
    for signal, kind, path in (("metrics", "METRICS", "v1/metrics"), ("events", "LOGS", "v1/logs")):
        specific = f"OTEL_EXPORTER_OTLP_{kind}_ENDPOINT"
        if env.get(specific):
            targets[signal] = ExportTarget(env[specific], specific)
        else:
            targets[signal] = ExportTarget(f"{base}/{path}", "OTEL_EXPORTER_OTLP_ENDPOINT")
    return targets
