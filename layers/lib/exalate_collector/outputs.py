"""Where a run's readings go: each destination an ``Output``, all judged by one rule.

An output is told what the run produced (``SendContext``) and answers with an ``OutputReport``: whether
everything was taken (``problem`` is None), whether the run's events all arrived (else they stay new for
the next run), what it says of itself (points and events, exported by the outputs after it: OTLP comes
last and carries them), and the lines the CLI prints for it. Its ``weight`` is its share of the time
reserved after polling (budget.py), in the order of ``configured``.

Adding an output = its package (a class with ``name``, ``weight``, ``send``, and a factory taking the
configuration) + one line in ``FACTORIES``. docs/development.md#how-to-add-an-output walks through it.
OTLP is an output too (``telemetry.publish.OtlpOutput``): it is built from the environment, not from the
configuration file, and is always the last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .budget import RunBudget
    from .config import Config
    from .deadline import Deadline
    from .telemetry.points import Event, Point, RunTelemetry


@dataclass(frozen=True)
class SendContext:
    """What an output may read of the run it sends."""

    config: Config
    telemetry: RunTelemetry
    run_id: str
    started_at: datetime
    #: when the output's phase is over: its every I/O ends by it
    deadline: Deadline
    #: the run's whole budget (OTLP reads the series state in its own phase)
    plan: RunBudget
    #: the run itself (``runner.RunResult``), for an output that needs more than its telemetry
    result: Any = None


@dataclass(frozen=True)
class OutputReport:
    """What one output did with one run."""

    name: str
    #: None when everything was taken; else one line saying what was not (stderr, RunFailed)
    problem: str | None = None
    #: False when some of the run's events did not arrive: they stay new for the next run
    events_delivered: bool = True
    #: What the output says of itself: exported by the outputs after it
    points: tuple[Point, ...] = ()
    events: tuple[Event, ...] = ()
    #: What the CLI prints for it after the run
    lines: tuple[str, ...] = ()
    #: The output's own report (e.g. the Zabbix server's counts), for callers that know the output
    detail: Any = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.problem is None


class Output(Protocol):
    #: a short name: the report's, the budget phase's
    name: str
    #: share of the time reserved after polling (the archive weighs 3, the OTLP export 4)
    weight: float

    def send(self, context: SendContext) -> OutputReport:
        """Send by ``context.deadline``; never raise for the destination's failures: report them."""
        ...


def _zabbix(config: Config) -> Output | None:
    if config.zabbix is None:
        return None
    from .zabbix import ZabbixTrapper

    return ZabbixTrapper.from_config(config.zabbix)


#: name -> a factory building the output from the configuration (None: not configured). One line each.
FACTORIES: dict[str, Callable[[Config], Output | None]] = {
    "zabbix": _zabbix,
}


def configured(config: Config, given: Sequence[Output] = ()) -> list[Output]:
    """The outputs of a run, in order: those ``given`` (tests, embedding code), then the configured ones
    not given under the same name."""
    outputs = list(given)
    names = {o.name for o in outputs}
    for name, factory in FACTORIES.items():
        if name not in names and (built := factory(config)) is not None:
            outputs.append(built)
    return outputs
