"""An OTLP/HTTP answer -> a ``Verdict``: delivered only for a 2xx whose ``partial_success`` rejected nothing
(read from protobuf or JSON), ``export_rejected`` with the count it rejected, ``export_redirected`` for a
3xx (never followed; the target named by its scheme and host alone), ``export_refused`` for anything else
with the backend's own message (a ``google.rpc.Status``, JSON, or the text itself). A backend's text is
kept as one printable, redacted line (``clean``). Pure: status, content type and body in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from ..errors import ExportRedirected, ExportRefused, ExportRejected
from ..redact import redact

#: The longest backend message kept (a log line and the CLI's message quote it).
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Verdict:
    """What one answer says. ``delivered``: a 2xx that rejected nothing. ``rejected``: items the backend
    said it rejected (partial_success); all of them when a request failed."""

    delivered: bool
    error_type: str | None = None
    message: str = ""
    status_code: int | None = None
    rejected: int = 0


def clean(text: str, limit: int = MESSAGE_CHARS) -> str:
    """A backend's text as one printable, redacted line of at most ``limit`` characters."""
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(redact(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _status_message(body: bytes, content_type: str) -> str:
    """The message of an error answer: a google.rpc.Status (protobuf or JSON), else the text itself."""
    if not body:
        return ""
    if "protobuf" in content_type:
        try:
            from google.rpc.status_pb2 import Status

            status = Status.FromString(body)
            if status.message:
                return clean(status.message)
        except DecodeError:
            pass
    if "json" in content_type:
        try:
            raw = json.loads(body)
            if isinstance(raw, dict) and isinstance(raw.get("message"), str):
                return clean(raw["message"])
        except ValueError:
            pass
    if "html" in content_type:
        return "an HTML page"
    return clean(body[:4096].decode("utf-8", "replace"))


def _partial(body: bytes, content_type: str, signal: str) -> tuple[int, str]:
    """(rejected items, message) of a 2xx answer's partial_success; (0, '') when it has none."""
    if not body:
        return 0, ""
    if "json" in content_type:
        try:
            raw = json.loads(body)
            partial = raw.get("partialSuccess") or {} if isinstance(raw, dict) else {}
            count = partial.get("rejectedDataPoints" if signal == "metrics" else "rejectedLogRecords", 0)
            return int(count or 0), clean(str(partial.get("errorMessage") or ""))
        except (ValueError, TypeError, AttributeError):
            return 0, ""
    answer: Any = ExportMetricsServiceResponse() if signal == "metrics" else ExportLogsServiceResponse()
    try:
        answer.ParseFromString(body)
    except DecodeError:
        return 0, ""
    if not answer.HasField("partial_success"):
        return 0, ""
    success = answer.partial_success
    count = success.rejected_data_points if signal == "metrics" else success.rejected_log_records
    return int(count), clean(success.error_message)


def origin(location: str) -> str:
    """Scheme and host of a redirect's target: never its user-info, path or query."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(location)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an unreadable location"
    if not parts.scheme or not host:
        return "a relative location"
    return clean(f"{parts.scheme}://{host}{port}")


def judge(
    signal: str, status: int, content_type: str = "", body: bytes = b"", location: str = "", items: int = 0
) -> Verdict:
    """The verdict on one answer to a request of ``items`` data points (or log records)."""
    content_type = content_type.lower()
    if 200 <= status < 300:
        rejected, message = _partial(body, content_type, signal)
        if rejected > 0:
            what = "data points" if signal == "metrics" else "log records"
            told = f": {message}" if message else ""
            return Verdict(
                False,
                ExportRejected.error_type,
                f"rejected {rejected} of {items} {what}{told}",
                status,
                min(rejected, items),
            )
        return Verdict(True, message=message, status_code=status)
    if 300 <= status < 400:
        where = origin(location) if location else "nowhere (no Location)"
        message = (
            f"HTTP {status} redirecting to {where}: not followed (a redirected POST loses its body or goes where it"
            " should not); set the endpoint to the final URL"
        )
        return Verdict(False, ExportRedirected.error_type, message, status, items)
    told = _status_message(body, content_type)
    return Verdict(False, ExportRefused.error_type, f"HTTP {status}" + (f": {told}" if told else ""), status, items)
