"""Deadline: an instant on time.monotonic() passed as a value, Deadline.NONE for none."""

from __future__ import annotations

import math
import time

import pytest
from exalate_collector.deadline import Deadline

NOW = 1000.0


@pytest.mark.parametrize(
    ("deadline", "left"),
    [
        (Deadline(NOW + 2.5), 2.5),
        (Deadline(NOW), 0.0),
        (Deadline(NOW - 1.0), -1.0),  # passed: negative, by how much it was missed
        (Deadline.after(4.0, now=NOW), 4.0),
        (Deadline.after(0.0, now=NOW), 0.0),
        (Deadline.after(-3.0, now=NOW), -3.0),
        (Deadline.NONE, math.inf),
    ],
)
def test_the_seconds_left(deadline, left):
    assert deadline.left(now=NOW) == left


@pytest.mark.parametrize(
    ("seconds", "expired"),
    [
        (0.0, True),  # now is no time left
        (-1.0, True),
        (-math.inf, True),
        (3600.0, False),
        (math.inf, False),
    ],
)
def test_expired(seconds, expired):
    assert Deadline.after(seconds).expired is expired  # built here: collection may be long before the test runs
    assert Deadline(0.0).expired  # monotonic() is far past 0
    assert not Deadline.NONE.expired


@pytest.mark.parametrize(
    ("a", "b", "sooner"),
    [
        (Deadline(1.0), Deadline(2.0), Deadline(1.0)),
        (Deadline(2.0), Deadline(1.0), Deadline(1.0)),
        (Deadline(1.0), Deadline(1.0), Deadline(1.0)),
        (Deadline(5.0), Deadline.NONE, Deadline(5.0)),
        (Deadline.NONE, Deadline(5.0), Deadline(5.0)),
        (Deadline.NONE, Deadline.NONE, Deadline.NONE),
    ],
)
def test_the_sooner_of_two_is_also_their_min(a, b, sooner):
    assert a.sooner(b) == sooner
    assert min(a, b) == sooner


def test_after_counts_from_this_moment_by_default():
    before = time.monotonic()
    deadline = Deadline.after(10.0)
    assert before + 10.0 <= deadline.at <= time.monotonic() + 10.0
    assert 0.0 < deadline.left() <= 10.0


def test_none_is_a_deadline_at_infinity_not_none():
    assert Deadline(math.inf) == Deadline.NONE and Deadline.NONE.at == math.inf
    assert Deadline.NONE.sooner(Deadline(0.0)) == Deadline(0.0)


def test_a_deadline_is_a_frozen_value():
    deadline = Deadline(3.0)
    with pytest.raises(AttributeError):
        deadline.at = 4.0  # type: ignore[misc]
    assert deadline == Deadline(3.0) and hash(deadline) == hash(Deadline(3.0))
    assert Deadline(1.0) < Deadline(2.0) < Deadline.NONE


def test_nan_is_not_an_instant():
    with pytest.raises(ValueError, match="NaN"):
        Deadline(math.nan)
