"""A run's measurements as plain data: ``Point`` (a gauge value, a counter increment or a histogram
sample, with its series key), ``Event`` (a log record) and ``RunTelemetry`` (all of one run's). Both
are scrubbed of known credentials when made: nothing else can leak."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    return name, shared_pairs(sorted(pairs.setdefault(pair, pair) for pair in (attributes or {}).items()))


def shared_pairs(pairs: list[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    """The tuple of (sorted, shared) pairs every key having them shares: the gauges of one endpoint
    (up, size, age, stuck) and the series state read back have the same attributes."""
    found = tuple(pairs)
    shared = _ATTRIBUTE_SETS
    if len(shared) > _MAX_PAIRS:
        shared.clear()
    return shared.setdefault(found, found)


def shared_pair(attribute: str, value: Any) -> tuple[str, Any]:
    """The (attribute, value) pair object every key having it shares (``series_key``'s)."""
    pair = (attribute, value)
    return _PAIRS.setdefault(pair, pair)


_PAIRS: dict[tuple[str, Any], tuple[str, Any]] = {}
_ATTRIBUTE_SETS: dict[tuple[tuple[str, Any], ...], tuple[tuple[str, Any], ...]] = {}
_MAX_PAIRS = 1 << 20


class Point:
    """One measurement: a gauge value, a counter increment or a histogram sample.

    Immutable. Its attributes are kept only as its series key's sorted (attribute, value) pairs, whose
    pair objects every key shares (``series_key``): a run holds 30 points per relation, and a dict of
    attributes each would be most of their weight. ``attributes`` makes that dict when asked."""

    __slots__ = ("_key", "name", "value")
    name: str
    value: float | int
    _key: SeriesKey

    def __init__(self, name: str, value: float | int, attributes: Attributes) -> None:
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "value", value)
        set_(self, "_key", series_key(name, _scrubbed(attributes)))

    @property
    def attributes(self) -> dict[str, AttributeValue]:
        """Its attributes (a new dict, in the key's order: by attribute name)."""
        return dict(self._key[1])

    @property
    def key(self) -> SeriesKey:
        """Its series, computed once: aggregation, the final zeros and the series state all use it."""
        return self._key

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Point is immutable: {name} cannot be set")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Point is immutable: {name} cannot be deleted")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        return self.value == other.value and self._key == other._key

    def __hash__(self) -> int:
        return hash((self._key, self.value))

    def __repr__(self) -> str:
        return f"Point(name={self.name!r}, value={self.value!r}, attributes={self.attributes!r})"


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
    # the same dict when nothing changed (an event keeps it; a point keeps only its key's pairs)
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
