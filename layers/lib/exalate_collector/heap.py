"""The cyclic garbage collector during a run (issue 23).

A run holds millions of small objects that live until its end and form no cycles: the series state read
back (155,000 series at 5,000 relations), the exchanges, the points and their series keys. CPython's
collector rescans all of them each time the tracked objects grow by a quarter: 5,000 relations spent
3 to 4 s of a run's CPU in full collections (1 to 1.4 s of it after polling, where nothing else runs)
and found nothing to free. So, during a run:

- ``settle()`` moves every object alive now out of the collector's sight (``gc.freeze``): called once
  the series state is read and once polling ends, the two moments when what is alive is what the run
  keeps. Young objects are still collected as usual: the cycles a failing request leaves (an exception,
  its traceback and frames) are freed while polling as before.
- ``paused()``: no collection at all during the work after polling (the run's own CPU, bounded, fed by
  no node);
- ``run_scope()`` undoes both when the run ends, however it ends: what was frozen goes back to the
  oldest generation, where a cycle among it is found at the next full collection.

Process-wide, as the collector is: a caller that froze objects of its own sees them unfrozen after a run.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def settle() -> None:
    """What is alive now lives until the run's end: out of the collector's rescans until then."""
    gc.freeze()


@contextmanager
def paused() -> Iterator[None]:
    """No collection inside (the collector's own setting restored after)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def run_scope() -> Iterator[None]:
    """A run: whatever ``settle`` froze inside is handed back to the collector at its end."""
    try:
        yield
    finally:
        gc.unfreeze()
