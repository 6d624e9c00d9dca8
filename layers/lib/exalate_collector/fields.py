"""One declaration per configuration key: a dataclass field whose metadata carries its ``Spec``.

From the fields of a settings dataclass come the unknown-key check (``unknown``), the type and bounds
check with its message and the default taken when a value is missing or wrong (``read``), and the
reference table of docs/configuration.md (``rows``). Rules between keys (relations and collect, URLs,
Zabbix host names) stay explicit functions of the parser; a key they check is declared ``kind="rule"``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .text import control_character

Kind = Literal["int", "number", "bool", "enum", "string", "secret", "reference", "rule"]
#: Kinds whose value is a secret reference (``${ENV}``, ``secretsmanager:``, ``ssm:``) resolved before use.
REFERENCE_KINDS = ("secret", "reference")


@dataclass(frozen=True)
class Spec:
    """What one key accepts. ``secret``: a credential, a literal is warned about; ``reference``: read
    through a secret reference too, but an identifier (a user name) that may be written as it is."""

    kind: Kind
    doc: str
    lo: float | None = None
    hi: float | None = None
    #: ``lo`` itself is refused (``(0, 900]``).
    lo_open: bool = False
    unit: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False
    #: ``key: null`` is accepted (the default then); else it is a wrong value like any other.
    nullable: bool = False
    #: For strings: '' is a value (login's username with a personal access token).
    allow_empty: bool = False
    #: The complaint instead of the kind's own; ``{value!r}`` is the value given.
    message: str | None = None


_REQUIRED: Any = object()


def setting(
    spec: Spec, default: Any = _REQUIRED, *, factory: Callable[[], Any] | None = None, shown: bool = True
) -> Any:
    """A dataclass field declared with its spec (and its default, written only here). A required key has
    no default unless one is given (None: the settings can be built without it, the parser refuses that).
    ``shown=False``: left out of the repr (a value that may hold a password)."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"spec": spec}, repr=shown)
    if default is _REQUIRED:
        if spec.required:
            return dataclasses.field(metadata={"spec": spec}, repr=shown)
        default = None
    return dataclasses.field(default=default, metadata={"spec": spec}, repr=shown)


def specs(cls: type) -> dict[str, tuple[Spec, Any]]:
    """Each key of a settings class: its spec and default (MISSING when required)."""
    out: dict[str, tuple[Spec, Any]] = {}
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("spec")
        if spec is None:
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out[f.name] = (spec, default)
    return out


class Problems:
    """Every problem of a configuration, collected: ``where: key: message``."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, key: str, message: str) -> None:
        self.items.append(f"{where}: {key}: {message}")


def unknown(
    cls: type,
    raw: Mapping[Any, Any],
    where: str,
    prefix: str,
    problems: Problems,
    *,
    extra: tuple[str, ...] = (),
    message: str = "unknown key",
) -> None:
    """Every key of ``raw`` that ``cls`` does not declare (nor ``extra``), named in order."""
    for key in sorted(set(map(str, raw)) - set(specs(cls)) - set(extra)):
        problems.add(where, prefix + key, message)


def section(cls: type, raw: object, where: str, key: str, problems: Problems, message: str) -> Mapping[str, Any] | None:
    """``raw`` as a mapping of ``cls``'s keys, its unknown keys named (``key.x: unknown key``); None when
    it is no mapping (``message`` recorded)."""
    if not isinstance(raw, Mapping):
        problems.add(where, key, message)
        return None
    unknown(cls, raw, where, f"{key}.", problems)
    return raw


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """An int or a finite float: NaN and the infinities are not numbers a setting can take."""
    if isinstance(value, float):
        return math.isfinite(value)
    return is_int(value)


def problem(spec: Spec, value: object) -> str | None:
    """Why ``value`` does not fit ``spec`` (today's words), or None. A string is never quoted."""
    if value is None and spec.nullable:
        return None
    message = _problem(spec, value)
    if message is not None and spec.message is not None and not message.startswith("holds a control"):
        return spec.message.format(value=value)
    return message


def _problem(spec: Spec, value: object) -> str | None:
    kind = spec.kind
    if kind == "int":
        if is_int(value) and _within(spec, value):  # type: ignore[arg-type]
            return None
        if spec.hi is None:
            return f"must be an integer of at least {spec.lo:g}, got {value!r}"
        return f"must be an integer from {spec.lo:g} to {spec.hi:g}, got {value!r}"
    if kind == "number":
        if is_number(value) and _within(spec, value):  # type: ignore[arg-type]
            return None
        of = f"a number of {spec.unit}" if spec.unit else "a number"
        if spec.hi is None:
            return f"must be a positive {of.removeprefix('a ')}, got {value!r}"
        left = "(" if spec.lo_open else "["
        return f"must be {of} in {left}{spec.lo:g}, {spec.hi:g}], got {value!r}"
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "enum":
        return None if value in spec.choices else f"{value!r} is not one of {', '.join(spec.choices)}"
    if kind in ("string", "secret", "reference"):
        if not isinstance(value, str) or (not value and not spec.allow_empty):
            return "required: a non-empty string" if spec.required else "must be a string"
        bad = control_character(value.removesuffix("\n").removesuffix("\r"))
        if bad is not None:  # the value itself is never shown
            return f"holds a control character ({bad}); a credential is one line of text"
        return None
    return None  # a rule: checked by the parser's own function


def _within(spec: Spec, value: float) -> bool:
    if spec.lo is not None and (value <= spec.lo if spec.lo_open else value < spec.lo):
        return False
    return spec.hi is None or value <= spec.hi


def read(cls: type, raw: Mapping[str, Any], where: str, prefix: str, problems: Problems) -> dict[str, Any]:
    """The value of every declared key of ``cls`` (not the rules): as given when it fits its spec,
    else the default, the problem recorded. Numbers come out as float, integers as int."""
    values: dict[str, Any] = {}
    for key, (spec, default) in specs(cls).items():
        if spec.kind == "rule":
            continue
        missing = default if default is not dataclasses.MISSING else None
        value = raw.get(key, missing)
        message = problem(spec, value)
        if message is not None:
            problems.add(where, prefix + key, message)
        if message is not None or value is None:
            value = missing
        if spec.kind == "number" and value is not None:
            value = float(value)
        values[key] = value
    return values


def references(settings: object, kinds: tuple[str, ...] = REFERENCE_KINDS) -> dict[str, str]:
    """Key -> reference of every set key of ``settings`` whose kind is in ``kinds``."""
    refs: dict[str, str] = {}
    for key, (spec, _) in specs(type(settings)).items():
        value = getattr(settings, key, None)
        if spec.kind in kinds and isinstance(value, str) and value:
            refs[key] = value
    return refs


def describe(spec: Spec) -> str:
    """What a key takes, for the reference table."""
    if spec.kind == "int":
        return f"integer {spec.lo:g}-{spec.hi:g}" if spec.hi is not None else f"integer >= {spec.lo:g}"
    if spec.kind == "number":
        left = "(" if spec.lo_open else "["
        bounds = f"{left}{spec.lo:g}, {spec.hi:g}]" if spec.hi is not None else "> 0"
        return f"{spec.unit or 'number'} {bounds}"
    if spec.kind == "enum":
        return " \\| ".join(spec.choices)
    return {
        "bool": "true \\| false",
        "string": "text",
        "secret": "secret reference",
        "reference": "reference or text",
    }.get(spec.kind, "see the notes")


def rows(cls: type, prefix: str = "") -> list[str]:
    """One Markdown table row a key: ``| key | takes | default | what it is |``."""
    out = []
    for key, (spec, default) in specs(cls).items():
        shown = "required" if spec.required else _yaml(default)
        out.append(f"| `{prefix}{key}` | {describe(spec)} | {shown} | {spec.doc} |")
    return out


def _yaml(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, tuple | list):
        return f"`[{', '.join(map(str, value))}]`"
    if value == {}:
        return "`{}`"
    return f"`{value}`" if value != "" else '`""`'
