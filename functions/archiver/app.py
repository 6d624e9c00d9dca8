"""The archiver Lambda: a thin SQS handler reporting partial batch failures (Powertools' BatchProcessor).

A message that fails (S3 refused, checksum mismatch, conflicting object) is logged with its reason,
counted in the CloudWatch metric ArchiveFailures (by ErrorType) and reported in ``batchItemFailures``:
SQS delivers it again, and after maxReceiveCount it goes to the dead-letter queue.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from exalate_collector import logs
from exalate_collector.archive.archiver import ArchiverSettings, process
from exalate_collector.aws import client as aws_client
from exalate_collector.deadline import Deadline
from exalate_collector.settings import Settings

# Every environment variable read and validated once; a bad one fails the init, naming the variable.
ENVIRONMENT = Settings.from_environment(os.environ)
logs.configure(ENVIRONMENT.log_level, json_lines=True)
# Built once per execution environment and reused by warm invocations.
# Every failed message is reported in batchItemFailures, even when all fail (no exception: same contract).
PROCESSOR = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# The archiver has no run budget: its calls keep the client's fixed bounds (aws.py), under the invocation's timeout.
S3 = aws_client("s3", Deadline.NONE)
SETTINGS = ArchiverSettings.from_settings(ENVIRONMENT)


def record_handler(record: SQSRecord) -> str:
    return process(record.body, S3, SETTINGS, record.message_id)


def handler(event: dict[str, Any], context: Any) -> Any:  # {"batchItemFailures": [...]}
    return process_partial_response(event=event, record_handler=record_handler, processor=PROCESSOR, context=context)
