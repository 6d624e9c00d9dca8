"""A readable summary of one run, for the console (cron users, the demo). Pure: data in, text out."""

from __future__ import annotations

from collections.abc import Sequence

from .model import Exchange
from .telemetry.points import RunTelemetry


def _status(ex: Exchange) -> str:
    if ex.failure is None:
        return "ok"
    code = f" (HTTP {ex.failure.status_code})" if ex.failure.status_code is not None else ""
    return f"{ex.failure.error_type}{code}"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def _age(seconds: float | int | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def summary(exchanges: Sequence[Exchange], telemetry: RunTelemetry) -> str:
    ages = {
        (p.attributes["exalate.node"], p.attributes["exalate.relation"], p.attributes["exalate.endpoint"]): p.value
        for p in telemetry.named("exalate.queue.oldest_age")
    }
    rows = [
        [
            ex.node,
            ex.relation,
            ex.endpoint,
            str(ex.reading.items) if ex.reading else "-",
            _age(ages.get((ex.node, ex.relation, ex.endpoint))),
            _status(ex),
        ]
        for ex in exchanges
    ]
    parts = [table(rows, ["node", "relation", "endpoint", "items", "oldest", "status"])]
    if telemetry.events:
        parts.append(f"\nevents ({len(telemetry.events)}):")
        for event in telemetry.events:
            where = f"{event.attributes.get('exalate.node')}/{event.attributes.get('exalate.relation')}"
            keys = (
                "exalate.error.reason",
                "exalate.issue.key",
                "error.type",
                "http.response.status_code",
                "exalate.error.duration",
            )
            detail = " ".join(f"{k.rsplit('.', 1)[-1]}={event.attributes[k]}" for k in keys if k in event.attributes)
            parts.append(f"  {event.severity:<5} {event.name:<27} {where} {detail}\n        {event.body}")
    failed = sum(1 for ex in exchanges if ex.failure is not None)
    parts.append(f"\n{len(exchanges)} polls, {failed} failed, {len(telemetry.points)} metric points")
    return "\n".join(parts)
