"""The collector of cyclic garbage during a run (heap.py): what the run keeps is out of its rescans, no
collection after polling, and both undone when the run ends, however it ends."""

from __future__ import annotations

import gc

import pytest
from exalate_collector.archive.sinks import LocalDirectorySink
from exalate_collector.outputs import OutputReport
from exalate_collector.runner import run

from .conftest import config_for, node_config


class Watching:
    """An output (it runs after polling) that sees the collector's state, then ends as told."""

    name = "watching"
    weight = 1.0

    def __init__(self, end: BaseException | None = None) -> None:
        self.seen: tuple[bool, int] | None = None
        self.end = end

    def send(self, context):
        self.seen = (gc.isenabled(), gc.get_freeze_count())
        if self.end is not None:
            raise self.end
        return OutputReport(self.name)


class WatchingSink(LocalDirectorySink):
    """The archive, whose hand-offs run while polling: whether the collector runs then."""

    enabled: list[bool]

    def deliver(self, batch, deadline):
        self.enabled.append(gc.isenabled())
        return super().deliver(batch, deadline)


def test_after_polling_nothing_is_collected_and_what_polling_left_is_frozen_then_all_is_undone(
    simulator, pipeline, tmp_path
):
    assert gc.isenabled() and gc.get_freeze_count() == 0
    watching, sink = Watching(), WatchingSink(tmp_path)
    sink.enabled = []
    result = run(config_for(node_config(simulator, ["AllContent"])), 30, pipeline, sink, outputs=[watching])
    assert result.exchanges and watching.seen is not None
    assert sink.enabled == [True]  # while polling, young objects are collected as before
    enabled, frozen = watching.seen
    assert not enabled and frozen > 0
    assert gc.isenabled() and gc.get_freeze_count() == 0


@pytest.mark.parametrize("end", [KeyboardInterrupt(), SystemExit(3)], ids=type)
def test_a_run_that_ends_by_an_exception_leaves_the_collector_as_it_found_it(simulator, pipeline, end):
    watching = Watching(end)
    with pytest.raises(type(end)):
        run(config_for(node_config(simulator, ["AllContent"])), 30, pipeline, outputs=[watching])
    assert watching.seen is not None and not watching.seen[0]
    assert gc.isenabled() and gc.get_freeze_count() == 0
