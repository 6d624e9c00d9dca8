"""The exception tree: class names are the error.type values, and they match the contract."""

from __future__ import annotations

import inspect

import pytest
from exalate_collector import errors
from exalate_collector.telemetry.contract import load_contract


@pytest.mark.parametrize(
    ("name", "snake"),
    [("ConnectionNotFound", "connection_not_found"), ("TlsError", "tls_error"), ("Timeout", "timeout")],
)
def test_snake_case(name, snake):
    assert errors.snake_case(name) == snake


def test_every_poll_failure_class_is_a_declared_error_type_and_back():
    declared = load_contract().attributes["error.type"].values
    assert sorted(errors.error_types()) == sorted(declared)
    assert len(set(errors.error_types())) == len(errors.error_types())


def test_every_error_type_is_documented():
    for cls in errors.poll_failure_types():
        assert inspect.getdoc(cls), cls.__name__
        assert cls.error_type == errors.snake_case(cls.__name__)


def test_authentication_failures_are_marked():
    marked = {cls.error_type for cls in errors.poll_failure_types() if cls.authentication}
    assert marked == {"unauthorized", "forbidden", "secret_unavailable", "login_failed"}


def test_config_error_lists_every_problem():
    exc = errors.ConfigError(["nodes[0] (a): timeout_s: bad", "nodes[1] (b): auth.secret: required"])
    assert "nodes[0] (a): timeout_s" in str(exc) and "nodes[1] (b): auth.secret" in str(exc)


def _tree(cls: type) -> list[type]:
    return [sub for child in cls.__subclasses__() for sub in (child, *_tree(child))]


def test_every_error_type_of_the_exception_tree_has_a_row_in_docs_telemetry_md():
    from ..conftest import ROOT

    docs = (ROOT / "docs" / "telemetry.md").read_text(encoding="utf-8")
    abstract = {
        errors.PollFailure,
        errors.AuthenticationFailure,
        errors.ArchiveFailure,
        errors.StateFailure,
        errors.OutputFailure,
        errors.ExportFailure,
    }
    concrete = [cls for cls in _tree(errors.ReportedFailure) if cls not in abstract]
    assert {"state_read_failed", "state_corrupt", "state_write_failed"} <= {c.error_type for c in concrete}
    missing = [cls.error_type for cls in concrete if f"| `{cls.error_type}` | `{cls.__name__}` |" not in docs]
    assert missing == [], "run `make docs`"
