"""The spec machinery of the configuration (fields.py): each kind's check and message, defaults,
unknown keys, reference keys; and the reference table of docs/configuration.md kept current."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import yaml
from exalate_collector import config_reference, fields
from exalate_collector.auth_schemes import SCHEMES
from exalate_collector.config import parse_config
from exalate_collector.fields import Problems, Spec, setting
from exalate_collector.node_config import Discover, Limits, NodeConfig, ZabbixConfig

from ..conftest import ROOT

INT = Spec("int", "", lo=1, hi=256)
AT_LEAST = Spec("int", "", lo=1024)
NULLABLE_INT = Spec("int", "", lo=1, hi=10, nullable=True)
NUMBER = Spec("number", "", lo=0, hi=900, lo_open=True, unit="seconds")
POSITIVE = Spec("number", "", lo=0, lo_open=True, unit="seconds")
BOOL = Spec("bool", "")
ENUM = Spec("enum", "", choices=("s", "ms"))
STRING = Spec("string", "", nullable=True)
SECRET = Spec("secret", "", required=True)
REFERENCE = Spec("reference", "", allow_empty=True, message="must be a string ('' with a token)")
PORT = Spec("int", "", lo=1, hi=65535, message="must be a TCP port (1-65535), got {value!r}")


@pytest.mark.parametrize(
    ("spec", "value", "message"),
    [
        (INT, 1, None),
        (INT, 256, None),
        (INT, 0, "must be an integer from 1 to 256, got 0"),
        (INT, 257, "must be an integer from 1 to 256, got 257"),
        (INT, True, "must be an integer from 1 to 256, got True"),
        (INT, 8.0, "must be an integer from 1 to 256, got 8.0"),
        (INT, None, "must be an integer from 1 to 256, got None"),
        (AT_LEAST, 1024, None),
        (AT_LEAST, 10, "must be an integer of at least 1024, got 10"),
        (NULLABLE_INT, None, None),
        (NULLABLE_INT, 0, "must be an integer from 1 to 10, got 0"),
        (PORT, "x", "must be a TCP port (1-65535), got 'x'"),
        (NUMBER, 900, None),
        (NUMBER, 0.5, None),
        (NUMBER, 0, "must be a number of seconds in (0, 900], got 0"),
        (NUMBER, 900.5, "must be a number of seconds in (0, 900], got 900.5"),
        (NUMBER, "x", "must be a number of seconds in (0, 900], got 'x'"),
        (NUMBER, float("nan"), "must be a number of seconds in (0, 900], got nan"),
        (NUMBER, float("inf"), "must be a number of seconds in (0, 900], got inf"),
        (NUMBER, False, "must be a number of seconds in (0, 900], got False"),
        (POSITIVE, 1e9, None),
        (POSITIVE, 0, "must be a positive number of seconds, got 0"),
        (BOOL, False, None),
        (BOOL, "yes", "must be true or false"),
        (BOOL, 1, "must be true or false"),
        (ENUM, "ms", None),
        (ENUM, "us", "'us' is not one of s, ms"),
        (ENUM, None, "None is not one of s, ms"),
        (STRING, None, None),
        (STRING, "a", None),
        (STRING, "", "must be a string"),
        (STRING, 3, "must be a string"),
        (SECRET, "${S}", None),
        (SECRET, "x\n", None),  # one trailing newline is what echo leaves
        (SECRET, None, "required: a non-empty string"),
        (SECRET, "", "required: a non-empty string"),
        (SECRET, "a\nb", "holds a control character (0x0a); a credential is one line of text"),
        (SECRET, "a\x7fb", "holds a control character (0x7f); a credential is one line of text"),
        (REFERENCE, "", None),
        (REFERENCE, 3, "must be a string ('' with a token)"),
        (REFERENCE, "a\tb", "holds a control character (0x09); a credential is one line of text"),
    ],
)
def test_each_kind_checks_its_value_in_the_words_of_the_configuration(spec, value, message):
    assert fields.problem(spec, value) == message


def test_a_credential_value_is_never_quoted():
    assert "hunter2" not in (fields.problem(SECRET, "hunter2\x00") or "")


@dataclass(frozen=True)
class Sample:
    count: int = setting(Spec("int", "a count", lo=1, hi=9), 3)
    seconds: float = setting(Spec("number", "a time", lo=0, hi=60, lo_open=True, unit="seconds"), 10.0)
    flag: bool = setting(Spec("bool", "a flag"), False)
    unit: str = setting(Spec("enum", "a unit", choices=("s", "ms")), "s")
    note: str | None = setting(Spec("string", "a note", nullable=True))
    password: str | None = setting(Spec("secret", "a password", required=True), None)
    user: str = setting(Spec("reference", "a user", allow_empty=True), "")
    shape: tuple[str, ...] = setting(Spec("rule", "checked elsewhere"), ("a",))


def test_read_takes_each_value_or_its_default_and_names_every_problem():
    problems = Problems()
    raw = {"count": 0, "seconds": 5, "flag": "no", "unit": "ms", "note": None, "shape": "ignored"}
    values = fields.read(Sample, raw, "x", "s.", problems)
    expected = {"count": 3, "seconds": 5.0, "flag": False, "unit": "ms", "note": None, "password": None, "user": ""}
    assert values == expected
    assert isinstance(values["seconds"], float)
    assert problems.items == [
        "x: s.count: must be an integer from 1 to 9, got 0",
        "x: s.flag: must be true or false",
        "x: s.password: required: a non-empty string",
    ]


def test_unknown_keys_are_named_in_order_and_extra_keys_allowed():
    problems = Problems()
    fields.unknown(Sample, {"zeta": 1, "count": 1, "alpha": 2, "type": "x"}, "x", "s.", problems, extra=("type",))
    assert problems.items == ["x: s.alpha: unknown key", "x: s.zeta: unknown key"]


def test_reference_keys_and_secret_keys():
    sample = Sample(password="${P}", user="${U}", note="not a reference")
    assert fields.references(sample) == {"password": "${P}", "user": "${U}"}
    assert fields.references(sample, ("secret",)) == {"password": "${P}"}
    assert fields.references(Sample()) == {}


def test_the_table_rows_come_from_the_declarations():
    rows = fields.rows(Sample, "s.")
    assert rows[0] == "| `s.count` | integer 1-9 | `3` | a count |"
    assert rows[1] == "| `s.seconds` | seconds (0, 60] | `10` | a time |"
    assert "| `s.password` | secret reference | required | a password |" in rows
    assert len(rows) == 8


def test_every_declared_key_has_a_doc():
    for cls in (NodeConfig, Discover, Limits, ZabbixConfig, *(s.settings for s in SCHEMES.values())):
        assert all(spec.doc for spec, _ in fields.specs(cls).values()), cls


def test_the_reference_table_of_the_configuration_page_is_current():
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert config_reference.section(page) == config_reference.table(), (
        "regenerate: python -m exalate_collector.config_reference docs/configuration.md"
    )


def test_the_complete_example_shows_every_declared_key():
    text = (ROOT / "docs" / "config.example.yaml").read_text(encoding="utf-8")
    yaml.safe_load(text)
    missing = []
    for cls in (NodeConfig, Discover, Limits, ZabbixConfig, *(s.settings for s in SCHEMES.values())):
        missing += [key for key in fields.specs(cls) if f"{key}:" not in text]
    assert missing == []


def test_the_hand_written_essentials_of_the_configuration_page_are_declared_keys_and_defaults():
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    block = page.split("## The keys", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    config = parse_config(yaml.safe_load(block))  # an undeclared key would be an unknown key
    node = config.nodes[0]
    for cls, values in ((NodeConfig, node), (type(node.auth), node.auth), (Limits, config.limits)):
        for key, (spec, default) in fields.specs(cls).items():
            if spec.kind != "rule" and not spec.required and key in block:
                assert getattr(values, key) == default, key  # the essentials show the defaults


def test_a_proxy_password_is_not_in_the_repr_of_a_node():
    raw = {"name": "n", "base_url": "https://j.example.com", "relations": ["A"], "auth": {"secret": "${S}"}}
    node = parse_config({"nodes": [{**raw, "proxy": "http://u:PROXYPW@proxy:3128"}]}).nodes[0]
    assert node.proxy == "http://u:PROXYPW@proxy:3128" and "PROXYPW" not in repr(node)
