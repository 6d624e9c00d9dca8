"""The run's time budget divided between its phases, and AWS call bounds that fit what remains."""

from __future__ import annotations

import pytest
from exalate_collector import aws, budget
from exalate_collector.budget import RunBudget
from exalate_collector.deadline import Deadline


def test_polling_gets_the_deadline_less_a_reserve_that_the_later_phases_share_in_order():
    plan = RunBudget.plan(100.0, 60.0, {"archive", "state_read", "state_write", "late_export"})
    assert plan.until("poll") == 145.0  # a quarter of 60 s is kept for what follows polling
    order = ["poll", "archive", "state_read", "export", "state_write", "late_export"]
    ends = [plan.until(phase) for phase in order]
    assert ends == sorted(ends) and len(set(ends)) == len(ends)
    assert plan.until("late_export") == plan.end == 160.0
    assert plan.until("export") - plan.until("state_read") == pytest.approx(15.0 * 4 / 11)


@pytest.mark.parametrize(("total", "reserve"), [(3.0, 1.5), (6.0, 2.0), (60.0, 15.0), (900.0, 30.0)])
def test_the_reserve_is_bounded(total, reserve):
    plan = RunBudget.plan(0.0, total, set())
    assert plan.until("poll") == pytest.approx(total - reserve)
    assert plan.until("export") == total  # the export is always planned, and last when alone
    assert plan.until("archive") == total  # a phase not planned may use what is left


def test_each_phase_is_handed_to_its_io_as_a_deadline():
    plan = RunBudget.plan(100.0, 60.0, {"archive", "state_read", "state_write", "late_export"})
    for phase in ["poll", "archive", "state_read", "export", "state_write", "late_export", "not planned"]:
        assert plan.deadline(phase) == Deadline(plan.until(phase))
    assert Deadline(0.0).left() < 0  # monotonic() is far past 0: no time left for that phase's I/O


@pytest.mark.parametrize("left", [0.07, 0.3, 1.0, 2.5, 7.0, 20.0, 100.0])
def test_an_aws_call_with_its_retries_fits_in_what_is_left(left):
    connect, read, attempts = aws.bounds(left)
    backoff = {1: 0.0, 2: 2.0, 3: 6.0}[attempts]
    assert attempts * (connect + read) + backoff <= max(left, 0.1)
    assert connect <= aws.CONNECT_TIMEOUT_S and read <= aws.READ_TIMEOUT_S


def test_without_a_deadline_aws_calls_still_have_explicit_bounds():
    assert aws.bounds(Deadline.NONE.left()) == (aws.CONNECT_TIMEOUT_S, aws.READ_TIMEOUT_S, aws.MAX_ATTEMPTS)


def test_an_aws_call_with_no_time_left_fails_as_a_botocore_error():
    from botocore.exceptions import BotoCoreError

    with pytest.raises(BotoCoreError, match="no time left"):
        aws.client("s3", Deadline(0.0))


@pytest.mark.parametrize(
    ("env", "deadline"),
    [({}, 25.0), ({"EXALATE_DEADLINE_MARGIN_S": "2"}, 28.0), ({"EXALATE_EXPORT_MARGIN_S": "12"}, 18.0)],
)
def test_the_lambda_deadline_is_the_remaining_time_less_the_margin(env, deadline):
    from exalate_collector.settings import Settings

    assert budget.lambda_deadline_s(30_000, Settings.from_environment(env).deadline_margin_s) == deadline


class RecordingExporter:
    def __init__(self, timeouts: list[float], timeout_s: float) -> None:
        timeouts.append(timeout_s)

    def export(self, batch):
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        return LogRecordExportResult.SUCCESS


def test_the_log_flush_gives_each_batch_what_is_left_and_sends_nothing_when_nothing_is(monkeypatch):
    from exalate_collector.telemetry.otel import BufferingLogProcessor

    timeouts: list[float] = []
    processor = BufferingLogProcessor(lambda t: RecordingExporter(timeouts, t), batch=1)
    monkeypatch.setattr(processor, "_buffer", ["a", "b"])
    assert processor.force_flush(timeout_millis=5_000) is True
    assert len(timeouts) == 2 and all(0 < t <= 5.0 for t in timeouts) and timeouts[1] <= timeouts[0]
    monkeypatch.setattr(processor, "_buffer", ["c"])
    assert processor.force_flush(timeout_millis=0) is False
    assert len(timeouts) == 2 and processor._buffer == []  # not sent, and not left for the next run


@pytest.mark.parametrize(
    ("configured", "env", "expected_mb"),
    [
        (None, {}, 256),  # outside Lambda: the documented default
        (None, {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}, 64),  # a quarter of the function's memory
        (None, {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}, 256),
        (32, {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}, 32),  # the setting wins
    ],
)
def test_the_memory_budget_comes_from_the_setting_or_the_lambdas_size(configured, env, expected_mb):
    assert budget.memory_budget_bytes(configured, env) == expected_mb * 1024 * 1024


def test_the_memory_budget_holds_what_fits_and_no_more():
    memory = budget.AnswerBudget(100)
    assert memory.reserve(60) and not memory.reserve(41) and memory.reserve(40)
    memory.release(50)
    assert memory.held == 50


@pytest.mark.parametrize(
    ("total", "gets", "reserve"),
    [
        (900.0, 6, 30.0),  # little work: the reserve for slow backends
        (900.0, 60_000, 32.0),  # 10,000 relations: 2 s + 0.5 ms a GET, past the 30 s of before
        (900.0, 2_000_000, 450.0),  # never more than half of the run
        (60.0, 60_000, 30.0),
        (6.0, 0, 2.0),
    ],
)
def test_the_reserve_after_polling_is_sized_from_the_gets_planned(total, gets, reserve):
    plan = RunBudget.plan(100.0, total, {"archive"}, gets=gets)
    assert plan.until("poll") == pytest.approx(100.0 + total - reserve)
    assert plan.end == pytest.approx(100.0 + total)
