"""A run's measurements as plain data: ``Point`` (a gauge value, a counter increment or a histogram
sample, with its series key), ``Event`` (a log record) and ``RunTelemetry`` (all of one run's). Both
are scrubbed of known credentials when made: nothing else can leak."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..model import Exchange
from ..redact import redact, scrub_value

AttributeValue = str | int | float
Attributes = Mapping[str, AttributeValue]

#: Every event carries its name as an attribute too, for receivers built on protos older than OTLP 1.5
#: (which drop ``LogRecord.event_name``).
EVENT_NAME = "event.name"


SeriesKey = tuple[str, tuple[tuple[str, Any], ...]]  # (metric name, sorted attributes)


def series_key(name: str, attributes: Mapping[str, Any] | None) -> SeriesKey:
    """The series' identity; its (attribute, value) pairs are shared by every key that has them (a run
    has 30 series per relation, and the series state as many again: one pair object each, not 30)."""
    pairs = _PAIRS
    if len(pairs) > _MAX_PAIRS:  # a bound for a process that lives long (a warm Lambda)
        pairs.clear()
    return name, tuple(sorted(pairs.setdefault(pair, pair) for pair in (attributes or {}).items()))


def shared_pair(attribute: str, value: Any) -> tuple[str, Any]:
    """The (attribute, value) pair object every key having it shares (``series_key``'s)."""
    pair = (attribute, value)
    return _PAIRS.setdefault(pair, pair)


_PAIRS: dict[tuple[str, Any], tuple[str, Any]] = {}
_MAX_PAIRS = 1 << 20


@dataclass(frozen=True)
class Point:
    """One measurement: a gauge value, a counter increment or a histogram sample."""

    # slots by hand: ``_key`` is no field (not compared, not in ``asdict``); a run holds 30 per relation
    __slots__ = ("_key", "attributes", "name", "value")
    name: str
    value: float | int
    attributes: Attributes
    _key: ClassVar[SeriesKey]  # an instance slot in truth (``__slots__``); ClassVar keeps it out of the fields

    def __post_init__(self) -> None:
        attributes = _scrubbed(self.attributes)
        object.__setattr__(self, "attributes", attributes)
        object.__setattr__(self, "_key", series_key(self.name, attributes))

    @property
    def key(self) -> SeriesKey:
        """Its series, computed once: aggregation, the final zeros and the series state all use it."""
        return self._key


@dataclass(frozen=True)
class Event:
    """One log record. Its body and attributes are redacted when it is made: nothing else can leak."""

    name: str
    severity: str  # "ERROR" | "WARN" | "INFO"
    body: str
    attributes: Attributes
    #: When the run observed what the event says (the answer's arrival; the run's time for the rest).
    time_unix_nano: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", redact(self.body))
        object.__setattr__(self, "attributes", _scrubbed(self.attributes))


def _scrubbed(attributes: Attributes) -> Attributes:
    """Text attribute values without any credential (values from the node: reasons, keys, URLs)."""
    scrubbed = {k: scrub_value(v) if isinstance(v, str) else v for k, v in attributes.items()}
    # the same dict when nothing changed: points of one answer share their attributes' dicts
    return attributes if all(scrubbed[k] is v for k, v in attributes.items()) else scrubbed


@dataclass(frozen=True)
class RunTelemetry:
    points: tuple[Point, ...]
    events: tuple[Event, ...]

    def named(self, name: str) -> list[Point]:
        return [p for p in self.points if p.name == name]

    def extended(self, points: Sequence[Point], events: Sequence[Event]) -> RunTelemetry:
        return RunTelemetry(self.points + tuple(points), self.events + tuple(events))


def where_of(ex: Exchange) -> dict[str, AttributeValue]:
    """Node and relation; node only for the once-per-node (4.0) endpoints."""
    if not ex.relation:
        return {"exalate.node": ex.node}
    return {"exalate.node": ex.node, "exalate.relation": ex.relation}
