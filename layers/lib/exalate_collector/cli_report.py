"""What the CLI tells its user of a run: where the answers were archived (or why not), the lines of each
output, and the exit code the run ends with, each reason for it said on stderr (1: output not all
delivered; 3: nothing was polled, which wins as the cause to fix first). Also ``CommandFailed``, what a
command raises for something the user can fix outside the configuration (exit 1 with its message), and
``EXIT_BUG``. The exit codes themselves are listed in ``cli``'s docstring.
"""

from __future__ import annotations

import sys

from .runner import RunResult


class CommandFailed(Exception):
    """Something the user can fix outside the configuration (e.g. a busy port); exit 1 with the message."""


#: A bug in exalate-collector: the traceback is printed, with a line saying so.
EXIT_BUG = 70


def print_outputs(result: RunResult) -> None:
    for report in result.outputs:
        for line in report.lines:
            print(line)


def print_archive(result: RunResult) -> None:
    if result.archive is None:
        return
    for node, where in result.archive.delivered.items():
        print(f"archived node {node}: {where}")
    for node, failure in result.archive.failures:
        print(f"NOT archived node {node}: {failure.error_type}: {failure.detail}")


#: No poll of the run succeeded: what was delivered says only that (docs/running.md, exit codes).
EXIT_NOTHING_POLLED = 3


def exit_code(result: RunResult) -> int:
    """1 for output not delivered, 3 when nothing was polled (it wins: the cause to fix first)."""
    code = 0
    for problem in result.undelivered():
        print(f"exalate-collector: {problem}", file=sys.stderr)
        code = 1
    if result.nothing_polled:
        print(
            f"exalate-collector: no poll of this run succeeded ({result.failures} of {len(result.exchanges)} failed);"
            " 'exalate-collector check --config FILE' tries each node step by step and says what to fix",
            file=sys.stderr,
        )
        code = EXIT_NOTHING_POLLED
    return code
