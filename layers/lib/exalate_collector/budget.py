"""One time budget owns the run, divided explicitly between its phases.

``--deadline`` (in Lambda: the invocation's remaining time less a margin) is the whole run: polling,
the archive hand-off, reading the state, the export, writing the state. Polling gets the deadline
less a reserve, sized from what is left to do after it (``reserve_s``: the GETs planned, once the
connection lists are read); the reserve is shared among the phases that follow, in their order, each
one ending at a fixed instant; a phase that finishes early leaves its time to the next ones. Much of
the work after polling is done while polling (pipeline.py): the archive's, within its phase's end.
Each phase's end is handed as a ``Deadline`` (``RunBudget.deadline(phase)``, deadline.py) to every I/O
of the phase, which takes its timeouts from what is left of it (the AWS client factory, the state
stores, the archive hand-off, the Zabbix sender; the OTLP export gets its ``timeout_s``), so a hanging
backend costs at most its phase.

Memory has a budget too: ``AnswerBudget``, the bytes of answers a run may hold in memory at once;
answers beyond it go to temporary files (see poll.py). Its default in Lambda comes from the runtime's
AWS_LAMBDA_FUNCTION_MEMORY_SIZE (a resource fact, read here like telemetry/resource.py reads it, not a setting).

The Lambda margin comes from settings.py (EXALATE_DEADLINE_MARGIN_S), read and validated there at start.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .deadline import Deadline

log = logging.getLogger(__name__)

#: Order of the phases after polling and their weight in the reserve (absent phases weigh nothing).
AFTER_POLLING: tuple[tuple[str, float], ...] = (
    ("archive", 3.0),
    ("state_read", 1.0),
    # here: the outputs other than OTLP (outputs.py), each with its own weight, before the export
    ("export", 4.0),
    ("state_write", 2.0),
    ("late_export", 1.0),  # the events of state write failures, which happen after the export
)
#: The reserve after polling, for the network of the phases after it (a slow backend): this share of the
#: deadline, within [RESERVE_MIN_S, RESERVE_MAX_S]; more when the work left after polling needs more
#: (``reserve_s``); never more than half of the deadline.
RESERVE_SHARE = 0.25
RESERVE_MIN_S = 2.0
RESERVE_MAX_S = 30.0
#: Seconds left after polling per GET polled (the export's encoding, the series state, the node states,
#: the archive of the nodes still open): 0.16-0.2 ms measured (``make bench``, section 10: 9.4 s after
#: 60,000 GETs, 6.0 s after 30,000), counted 2.5 times over for slower machines and the network.
AFTER_POLLING_S_PER_GET = 0.0005


def reserve_s(total_s: float, gets: int = 0) -> float:
    """The seconds kept after polling, of ``total_s``, for a run of ``gets`` GETs."""
    network = min(max(RESERVE_SHARE * total_s, RESERVE_MIN_S), RESERVE_MAX_S)
    work = RESERVE_MIN_S + gets * AFTER_POLLING_S_PER_GET
    return min(max(network, work), total_s / 2)


#: Lambda: seconds kept between the run's deadline and the function's own timeout.
DEADLINE_MARGIN_VAR = "EXALATE_DEADLINE_MARGIN_S"
DEPRECATED_MARGIN_VAR = "EXALATE_EXPORT_MARGIN_S"  # its old name, when it covered the export only
DEFAULT_DEADLINE_MARGIN_S = 5.0
MIN_DEADLINE_S = 1.0


@dataclass(frozen=True)
class RunBudget:
    """The instants (``time.monotonic()``) at which each phase of one run must be over."""

    start: float
    total_s: float
    ends: Mapping[str, float]

    @classmethod
    def plan(
        cls,
        start: float,
        total_s: float,
        phases: set[str],
        outputs: Sequence[tuple[str, float]] = (),
        gets: int = 0,
    ) -> RunBudget:
        """Divide ``total_s`` from ``start``: polling, then each of ``phases`` (names of AFTER_POLLING;
        "export" is always planned: the run's own outcome is exported even without a publisher), the
        ``outputs`` (name, weight) coming before the export; ``gets``: the GETs planned, which size the
        reserve after polling (``reserve_s``)."""
        present: list[tuple[str, float]] = []
        for name, weight in AFTER_POLLING:
            if name == "export":
                present.extend(outputs)
            if name in phases or name == "export":
                present.append((name, weight))
        reserve = reserve_s(total_s, gets)
        end = start + total_s
        ends = {"poll": end - reserve}
        at = ends["poll"]
        weights = sum(weight for _, weight in present)
        for name, weight in present:
            at += reserve * weight / weights
            ends[name] = at
        ends[present[-1][0]] = end  # no rounding left over
        if log.isEnabledFor(logging.DEBUG):
            spans, at = [], start
            for name, until in ends.items():
                spans.append(f"{name} {until - at:.2f} s")
                at = until
            log.debug("budget: %g s for the run: %s", total_s, ", ".join(spans))
        return cls(start, total_s, ends)

    @property
    def end(self) -> float:
        return self.start + self.total_s

    def until(self, phase: str) -> float:
        """When ``phase`` must be over; a phase not planned gets the end of the run."""
        return self.ends.get(phase, self.end)

    def deadline(self, phase: str) -> Deadline:
        """``until(phase)`` as the ``Deadline`` handed to the phase's I/O."""
        return Deadline(self.until(phase))


def lambda_deadline_s(remaining_ms: int, margin_s: float = DEFAULT_DEADLINE_MARGIN_S) -> float:
    """The run's deadline in Lambda: the invocation's remaining time less the margin (Settings)."""
    return max(MIN_DEADLINE_S, remaining_ms / 1000.0 - margin_s)


#: Bytes of answers held in memory at once in a run, outside Lambda (in Lambda: a share of its memory).
DEFAULT_MEMORY_BUDGET_MB = 256
#: Lambda: the share of the function's memory that answers held in memory may take. The rest is the
#: interpreter and its libraries (about 90 MB), parsing, and the archive payload being compressed.
LAMBDA_MEMORY_SHARE = 0.25
MEMORY_SIZE_VAR = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"


def memory_budget_bytes(configured_mb: int | None, env: Mapping[str, str] | None = None) -> int:
    """``limits.memory_budget_mb`` when set; else in Lambda a share of the function's memory; else the
    default of ``limits.memory_budget_mb``."""
    env = os.environ if env is None else env
    if configured_mb is not None:
        return configured_mb * 1024 * 1024
    size = env.get(MEMORY_SIZE_VAR, "")
    if size.isdigit():
        return int(int(size) * 1024 * 1024 * LAMBDA_MEMORY_SHARE)
    return DEFAULT_MEMORY_BUDGET_MB * 1024 * 1024


class AnswerBudget:
    """The bytes of answers one run holds in memory, all requests together. ``reserve`` says whether
    ``n`` more fit; what is reserved stays so for the run (its answers are kept until archived)."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit = limit_bytes
        self.held = 0
        self.spilled = 0  # answers that went to a temporary file
        self._lock = threading.Lock()

    def reserve(self, n: int) -> bool:
        with self._lock:
            if self.held + n > self.limit:
                return False
            self.held += n
            return True

    def release(self, n: int) -> None:
        with self._lock:
            self.held -= n

    def count_spill(self) -> None:
        with self._lock:
            self.spilled += 1
