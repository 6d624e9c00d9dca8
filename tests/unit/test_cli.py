"""The command line itself: every option explained, levels in any case, and what a bug looks like."""

from __future__ import annotations

import argparse

import pytest
from exalate_collector import cli


def _actions(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    found = [(parser.prog, a) for a in parser._actions]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _actions(sub)
    return found


def test_every_option_and_command_has_help():
    parser = cli._parser()
    missing = [f"{prog} {action.option_strings or action.dest}" for prog, action in _actions(parser) if not action.help]
    assert missing == []
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {c.dest: bool(c.help) for c in commands._choices_actions} == {
        "run": True,
        "check": True,
        "demo": True,
        "simulate": True,
        "docs": True,
    }


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["docs"], None),
        (["--log-level", "warning", "docs"], "WARNING"),
        (["docs", "--log-level", "eRRor"], "ERROR"),
        (["--log-level", "debug", "docs", "--log-level", "info"], "INFO"),  # the later one wins
    ],
)
def test_log_level_before_or_after_the_command(argv, level):
    assert cli._parser().parse_args(argv).log_level == level


def test_a_bug_prints_its_traceback_and_says_it_is_a_bug(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(cli, "_dispatch", broken)
    assert cli.main(["docs"]) == cli.EXIT_BUG
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: something nobody expected" in err
    assert err.rstrip().endswith("please report it with the traceback above")
    assert "this is a bug in exalate-collector" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--latency", "-1"], "argument --latency: must be a number of seconds, 0 or more, got -1"),
        (["simulate", "--port", "70000"], "argument --port: must be a TCP port from 0 to 65535"),
        (["demo", "--deadline", "inf"], "argument --deadline: 'inf' is not a number of seconds"),
        # a deadline past time_t's range was an OverflowError reported as a bug
        (["run", "--deadline", "1e300"], "argument --deadline: '1e300' is more than a day (86400 seconds)"),
        (["simulate", "--latency", "1e9"], "argument --latency: '1e9' is more than a day (86400 seconds)"),
    ],
)
def test_bad_option_values_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        cli._parser().parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
