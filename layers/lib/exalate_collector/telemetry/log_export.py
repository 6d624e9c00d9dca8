"""The event (logs) export path: a run's events go through the OpenTelemetry SDK's log records, are kept
by ``BufferingLogProcessor`` until the run's flush and leave in as few batches as ``LOG_BATCH`` allows,
each encoded by the SDK and split by ``wire.split_logs`` into requests of bounded size that
``OtlpLogExporter`` sends one by one before the export's deadline, recording every request's outcome and
every record too large to send.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource

from .delivery import OtlpSender, RequestOutcome
from .wire import split_logs

log = logging.getLogger(__name__)

LOG_BATCH = 512


class OtlpLogExporter(LogRecordExporter):
    """The SDK's encoding of a batch of log records, sent in requests of at most ``max_bytes`` before
    ``deadline``; each request's outcome is appended to ``outcomes``, records too large to send to
    ``too_large``."""

    def __init__(
        self,
        sender: OtlpSender,
        deadline: float,
        outcomes: list[RequestOutcome],
        too_large: list[int],
        max_bytes: int,
    ) -> None:
        self._sender, self._deadline, self._max_bytes = sender, deadline, max_bytes
        self._outcomes, self._too_large = outcomes, too_large

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

        batches, too_large = split_logs(encode_logs(batch), self._max_bytes)
        self._too_large.append(too_large)
        ok = not too_large
        for request in batches:
            outcome = self._sender.send(request, self._deadline)
            self._outcomes.append(outcome)
            ok = ok and outcome.delivered
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        return None


LogExporterFor = Callable[[float], LogRecordExporter]


class BufferingLogProcessor(LogRecordProcessor):
    """Keeps a run's events and exports them in as few requests as the batch limit allows, all of them
    within the flush's timeout: a batch no time is left for is not sent (and the flush fails)."""

    def __init__(
        self, exporter_for: LogExporterFor, batch: int = LOG_BATCH, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._exporter_for = exporter_for
        self._batch = batch
        self._buffer: list[ReadableLogRecord] = []
        self._monotonic = monotonic

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self._buffer.append(
            ReadableLogRecord(
                log_record=log_record.log_record,
                resource=log_record.resource or Resource.get_empty(),
                instrumentation_scope=log_record.instrumentation_scope,
                limits=log_record.limits,
            )
        )

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        pending, self._buffer = self._buffer, []
        until = self._monotonic() + timeout_millis / 1000
        for start in range(0, len(pending), self._batch):
            left = until - self._monotonic()
            if left <= 0:
                log.error("no time left in the run's budget to export %d events", len(pending) - start)
                return False
            try:
                result = self._exporter_for(left).export(pending[start : start + self._batch])
            except Exception:
                log.exception("log export raised")
                result = LogRecordExportResult.FAILURE
            if result is not LogRecordExportResult.SUCCESS:
                return False  # refused or unreachable: the next batches would fare no better
        return True

    def shutdown(self) -> None:
        return None
