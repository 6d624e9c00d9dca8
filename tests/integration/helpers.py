"""Reading what the OTLP receiver got, in the shape of the pure telemetry."""

from __future__ import annotations

from exalate_collector.devtools.otlp_receiver import OtlpReceiver
from exalate_collector.telemetry.points import RunTelemetry


def frozen(attributes: dict) -> tuple:
    return tuple(sorted(attributes.items()))


def received_points(receiver: OtlpReceiver) -> set[tuple]:
    """(name, attributes, value) for gauges and sums; (name, attributes, 'count', n) for histograms."""
    found = set()
    for p in receiver.points():
        if p.kind == "histogram":
            found.add((p.name, frozen(p.attributes), "count", p.count))
        else:
            found.add((p.name, frozen(p.attributes), p.value))
    return found


def expected_points(telemetry: RunTelemetry) -> set[tuple]:
    found = set()
    for p in telemetry.points:
        if p.name == "exalate.poll.duration":
            found.add((p.name, frozen(p.attributes), "count", 1))
        else:
            found.add((p.name, frozen(p.attributes), p.value))
    return found


def received_events(receiver: OtlpReceiver) -> list[tuple]:
    return [(e.event_name, e.severity_text, e.body, frozen(e.attributes), e.time_unix_nano) for e in receiver.events()]


def expected_events(telemetry: RunTelemetry) -> list[tuple]:
    return [(e.name, e.severity, e.body, frozen(e.attributes), e.time_unix_nano) for e in telemetry.events]


def values(receiver: OtlpReceiver, name: str, where: dict[str, object] | None = None) -> list[float | int | None]:
    """Values (histogram counts) of the received points of ``name`` whose attributes include ``where``."""
    where = where or {}
    return [
        p.value if p.kind != "histogram" else p.count
        for p in receiver.points()
        if p.name == name and all(p.attributes.get(k) == v for k, v in where.items())
    ]
