"""The telemetry contract, loaded from ``contract.yaml`` (the one declaration of what is emitted)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal

Instrument = Literal["gauge", "counter", "histogram"]


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    type: str
    description: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricSpec:
    name: str
    instrument: Instrument
    unit: str
    description: str
    attributes: tuple[str, ...]
    optional_attributes: tuple[str, ...] = ()
    bucket_boundaries: tuple[float, ...] = ()
    #: Gauges: a series exported by the previous run and absent now gets one final 0.
    final_zero: bool = True
    #: Why the metric has no Zabbix item (None: it has one, derived by exalate_collector.zabbix.mapping).
    zabbix_unmapped: str | None = None


@dataclass(frozen=True)
class EventSpec:
    name: str
    severity: str
    body: str
    description: str
    attributes: tuple[str, ...]
    optional_attributes: tuple[str, ...] = ()
    severity_authentication: str | None = None


@dataclass(frozen=True)
class Contract:
    attributes: dict[str, AttributeSpec]
    metrics: dict[str, MetricSpec]
    events: dict[str, EventSpec]


def _tuple(raw: dict[str, Any], key: str) -> tuple[Any, ...]:
    return tuple(raw.get(key) or ())


def _values(spec: dict[str, Any]) -> tuple[str, ...]:
    """Listed values, or derived: ``values_from: endpoint table`` (the names of the endpoint table's rows),
    ``values_from: exception tree`` (errors.error_types(): the class names users see, never a hand list)."""
    if spec.get("values_from") == "endpoint table":
        from ..endpoints import TABLE

        return tuple(e.name for e in TABLE)
    if spec.get("values_from") == "exception tree":
        from ..errors import error_types

        return tuple(error_types())
    return _tuple(spec, "values")


@functools.cache
def load_contract() -> Contract:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: several times faster at cold start
    raw = yaml.load(files(__package__).joinpath("contract.yaml").read_text("utf-8"), Loader=loader)  # noqa: S506
    attributes = {
        name: AttributeSpec(name, spec["type"], spec["description"], _values(spec))
        for name, spec in raw["attributes"].items()
    }
    metrics = {
        name: MetricSpec(
            name=name,
            instrument=spec["instrument"],
            unit=str(spec["unit"]),
            description=spec["description"],
            attributes=_tuple(spec, "attributes"),
            optional_attributes=_tuple(spec, "optional_attributes"),
            bucket_boundaries=tuple(float(b) for b in _tuple(spec, "bucket_boundaries")),
            final_zero=bool(spec.get("final_zero", True)),
            zabbix_unmapped=spec.get("zabbix_unmapped"),
        )
        for name, spec in raw["metrics"].items()
    }
    events = {
        name: EventSpec(
            name=name,
            severity=spec["severity"],
            body=spec["body"],
            description=spec["description"],
            attributes=_tuple(spec, "attributes"),
            optional_attributes=_tuple(spec, "optional_attributes"),
            severity_authentication=spec.get("severity_authentication"),
        )
        for name, spec in raw["events"].items()
    }
    return Contract(attributes=attributes, metrics=metrics, events=events)


#: Unit suffixes of the OpenTelemetry-to-Prometheus naming (unit ``1`` is ``ratio`` on gauges only).
_PROMETHEUS_UNITS = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}


def prometheus_label(attribute: str) -> str:
    """An attribute as a Prometheus label: ``exalate.node`` -> ``exalate_node``."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in attribute)


def prometheus_name(metric: MetricSpec) -> str:
    """The name a metric gets in a Prometheus-style backend (Prometheus/Mimir OTLP, VictoriaMetrics with
    ``-opentelemetry.usePrometheusNaming``): dots to underscores, the unit as a suffix (``{...}`` units
    dropped, ``1`` as ``ratio`` on gauges), ``_total`` on counters. Histograms add ``_bucket``, ``_sum``
    and ``_count`` to it."""
    name = prometheus_label(metric.name)
    unit = "" if metric.unit.startswith("{") else _PROMETHEUS_UNITS.get(metric.unit, metric.unit)
    if metric.unit == "1":
        unit = "ratio" if metric.instrument == "gauge" else ""
    if unit and not name.endswith(f"_{unit}"):
        name = f"{name}_{unit}"
    return f"{name}_total" if metric.instrument == "counter" else name


def constant(name: str, kind: str) -> str:
    """The Python name of a declared metric or event: ``exalate.endpoint.up`` -> ``ENDPOINT_UP``; an event
    ends in ``_EVENT``."""
    base = name.removeprefix("exalate.").replace(".", "_").upper()
    return base + ("_EVENT" if kind == "event" else "")


def names_module(contract: Contract) -> str:
    """telemetry/names.py: one constant per metric and event of the contract (``make docs`` writes it;
    tests/unit/test_contract.py keeps it equal to the contract)."""
    lines = [
        '"""Every metric and event name of the telemetry contract, as constants: code names what the contract',
        "declares, never a string of its own. Generated from contract.yaml by `make docs`; do not edit.",
        '"""',
        "",
        "from typing import Final",
        "",
    ]
    lines += [f'{constant(n, "metric")}: Final = "{n}"' for n in sorted(contract.metrics)]
    lines += [f'{constant(n, "event")}: Final = "{n}"' for n in sorted(contract.events)]
    return "\n".join(lines) + "\n"
