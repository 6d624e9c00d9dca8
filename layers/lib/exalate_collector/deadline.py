"""A deadline: the one instant (on ``time.monotonic()``) by which some work must be over, as a value.

Every I/O that must end by a deadline takes it as an argument: the AWS client factory (aws.py: the
archive hand-off, the state, secrets), the state stores, the archive sinks, the Zabbix sender, a run's
outputs (``outputs.SendContext``). Nothing is read from the surroundings, so a thread, a callback or a
coroutine has exactly the deadline it was given.

No deadline is ``Deadline.NONE`` (its instant is +inf: never expired, +inf seconds left), never None:
what takes a deadline always gets one, and an I/O under ``Deadline.NONE`` keeps only its own bounds
(aws.py's fixed timeouts and attempts, a Zabbix server's ``timeout_s``).

Pure: reading the clock is all it does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, order=True)
class Deadline:
    """``at``: the ``time.monotonic()`` instant by which the work must be over (+inf: no deadline).
    Deadlines compare by their instant: ``min(a, b)`` is the sooner one."""

    at: float
    #: No deadline: never expired.
    NONE: ClassVar[Deadline]

    def __post_init__(self) -> None:
        if math.isnan(self.at):
            raise ValueError("a deadline is an instant, not NaN")

    @classmethod
    def after(cls, seconds: float, now: float | None = None) -> Deadline:
        """``seconds`` from ``now`` (default: this moment)."""
        return cls((time.monotonic() if now is None else now) + seconds)

    def left(self, now: float | None = None) -> float:
        """Seconds from ``now`` (default: this moment) to the deadline: negative once it has passed (by
        how much it was missed), +inf for ``Deadline.NONE``. Clamp it (``max(0.0, ...)``) for a timeout."""
        return self.at - (time.monotonic() if now is None else now)

    @property
    def expired(self) -> bool:
        """No time is left (the instant is now or past); never for ``Deadline.NONE``."""
        return self.left() <= 0

    def sooner(self, other: Deadline) -> Deadline:
        """The earlier of the two: ``self`` when they are the same instant."""
        return other if other.at < self.at else self


Deadline.NONE = Deadline(math.inf)
