"""A Deadline is a value passed to every I/O: an AWS call made in a new thread is bounded by the deadline
its caller handed it (issue 21: the ambient deadline it replaced was not inherited by new threads, whose
AWS calls then had no deadline at all)."""

from __future__ import annotations

import threading
import time
import uuid

import boto3
from exalate_collector.aws import LazyClient
from exalate_collector.deadline import Deadline
from exalate_collector.errors import StateWriteFailed
from exalate_collector.state.store import S3StateStore


def test_an_aws_call_made_in_a_new_thread_gets_the_callers_deadline(aws):
    bucket = f"state-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    store = S3StateStore(LazyClient("s3"), bucket, "state/")
    outcomes: dict[str, bool | StateWriteFailed] = {}

    def save(node: str, deadline: Deadline) -> None:
        try:
            outcomes[node] = store.save(node, {"schema": 1, "node": node}, None, deadline)
        except StateWriteFailed as failure:
            outcomes[node] = failure

    spent, live = Deadline(time.monotonic()), Deadline.after(30.0)
    threads = [threading.Thread(target=save, args=(node, d)) for node, d in (("spent", spent), ("live", live))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    refused = outcomes["spent"]
    assert isinstance(refused, StateWriteFailed) and "BudgetSpent" in refused.detail  # refused before any request
    assert outcomes["live"] is True
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["state/live.json"]  # the write whose deadline had passed never reached S3
