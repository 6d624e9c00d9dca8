"""Check telemetry against the declared contract (used by unit and integration tests)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from exalate_collector.telemetry.contract import load_contract


def attribute_problems(kind: str, name: str, attributes: Mapping[str, object]) -> list[str]:
    contract = load_contract()
    spec = contract.metrics.get(name) if kind == "metric" else contract.events.get(name)
    if spec is None:
        return [f"{kind} {name} is not declared"]
    problems = [f"{name}: missing {a}" for a in spec.attributes if a not in attributes]
    allowed = set(spec.attributes) | set(spec.optional_attributes)
    if kind == "event" and attributes.get("event.name") != name:
        problems.append(f"{name}: event.name attribute is {attributes.get('event.name')!r}")
    problems += [f"{name}: undeclared attribute {a}" for a in attributes if a not in allowed]
    for key, value in attributes.items():
        declared = contract.attributes.get(key)
        if declared is None:
            problems.append(f"{name}: attribute {key} is not in the contract's attribute list")
        elif declared.values and value not in declared.values:
            problems.append(f"{name}: {key}={value!r} is not an allowed value")
        elif declared.type == "int" and not isinstance(value, int):
            problems.append(f"{name}: {key} should be an int, got {value!r}")
        elif declared.type == "string" and not isinstance(value, str):
            problems.append(f"{name}: {key} should be a string, got {value!r}")
    return problems


def all_problems(
    metrics: Iterable[tuple[str, Mapping[str, object]]], events: Iterable[tuple[str, Mapping[str, object]]]
) -> list[str]:
    problems: list[str] = []
    for name, attributes in metrics:
        problems += attribute_problems("metric", name, attributes)
    for name, attributes in events:
        problems += attribute_problems("event", name, attributes)
    return problems
