"""heap.paused restores the collector's own setting; run_scope unfreezes what was frozen inside it."""

from __future__ import annotations

import gc

import pytest
from exalate_collector import heap


@pytest.fixture(autouse=True)
def _collector_restored():
    yield
    gc.enable()
    gc.unfreeze()


@pytest.mark.parametrize("enabled", [True, False])
def test_paused_disables_inside_and_restores_the_setting_it_found(enabled):
    (gc.enable if enabled else gc.disable)()
    with heap.paused():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled


def test_paused_restores_the_setting_when_its_body_raises():
    with pytest.raises(ValueError), heap.paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_run_scope_unfreezes_what_settle_froze_inside_it_even_on_an_exception():
    kept = [object() for _ in range(10)]
    with pytest.raises(RuntimeError), heap.run_scope():
        heap.settle()
        assert gc.get_freeze_count() >= len(kept)
        raise RuntimeError("the run ended badly")
    assert gc.get_freeze_count() == 0
