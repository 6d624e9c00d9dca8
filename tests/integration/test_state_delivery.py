"""What the state may not make the export say: a clock stepped back, a node state that cannot be read.

Real parts: the simulator, the OTLP receiver, a local state directory, and S3 answering 503 (a loopback
server every S3 call reaches through AWS_ENDPOINT_URL) after moto's server held the state.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from exalate_collector.aws import LazyClient
from exalate_collector.endpoints import SYNC_ERRORS
from exalate_collector.runner import run
from exalate_collector.state.store import LocalStateStore, S3StateStore, StateStore

from ..conftest import T0
from .conftest import config_for, node_config
from .helpers import values

T = T0.timestamp()
NODE = "jira-test"


def test_a_clock_stepped_back_never_gives_a_start_after_the_time(simulator, receiver, pipeline, tmp_path):
    """After run 1 the clock goes back an hour: the start the series state keeps is now in the future."""
    state = LocalStateStore(tmp_path / "state")
    config = config_for(node_config(simulator, ["AllContent", "Gone"]))
    run(config, 10, pipeline, None, state)
    path = state.series_path(pipeline.instance_id)
    document = json.loads(path.read_text())
    hour = 3600
    document["start_unix_nano"] += hour * 1_000_000_000
    for entry in document["sums"]:  # schema 2 rows: the time changed is last
        entry[-1] += hour
    for entry in document["histograms"]:
        entry[-1] += hour
    path.write_text(json.dumps(document))
    receiver.clear()
    run(config, 10, pipeline, None, state)
    points = receiver.points()
    assert len(points) > 20
    late = [
        (p.name, p.start_time_unix_nano, p.time_unix_nano) for p in points if p.start_time_unix_nano > p.time_unix_nano
    ]
    assert late == []
    # the stream starts anew: this run's failures, not the old stream's total continued
    gone = {"exalate.relation": "Gone", "exalate.endpoint": SYNC_ERRORS}
    assert values(receiver, "exalate.poll.errors", gone) == [1]
    (start,) = {p.start_time_unix_nano for p in points if p.kind != "gauge"}
    assert start == json.loads(path.read_text())["start_unix_nano"] < document["start_unix_nano"]


def node_events(receiver, name: str) -> list:
    return [e for e in receiver.events() if e.event_name == name and e.attributes.get("exalate.node") == NODE]


def ages(receiver) -> list:
    return [p for p in receiver.points() if p.name in ("exalate.queue.oldest_age", "exalate.queue.stuck")]


def unreadable_run(config, pipeline, receiver, store: StateStore, at: float) -> None:
    receiver.clear()
    result = run(config, 10, pipeline, None, store, clock=lambda: at)
    assert result.state_report is not None and result.state_report.unreadable == {NODE}
    assert ages(receiver) == []  # no age, no stuck count: not 0 (an all-clear), and no final 0 either
    assert node_events(receiver, "exalate.sync.error") == []  # nothing announced as new
    assert node_events(receiver, "exalate.sync.error.resolved") == []
    (failure,) = node_events(receiver, "exalate.state.failure")
    assert failure.attributes["error.type"] == "state_read_failed"
    assert "no queue age, no stuck count and no error reported as new" in failure.body


def readable_again(config, pipeline, receiver, store: StateStore, at: float) -> None:
    """The state was left as it was: errors still known, ages going on from run 1 (not restarted)."""
    receiver.clear()
    run(config, 10, pipeline, None, store, clock=lambda: at)
    assert node_events(receiver, "exalate.sync.error") == []
    oldest = values(receiver, "exalate.queue.oldest_age", {"exalate.endpoint": SYNC_ERRORS})
    assert oldest == [at - T]


def first_run(config, pipeline, receiver, store: StateStore) -> None:
    run(config, 10, pipeline, None, store, clock=lambda: T)
    assert node_events(receiver, "exalate.sync.error")  # the seed's errors, new in run 1
    assert values(receiver, "exalate.queue.oldest_age", {"exalate.endpoint": SYNC_ERRORS}) == [0]


def test_a_state_that_is_a_directory_exports_no_age_and_no_new_error(simulator, receiver, pipeline, tmp_path):
    store = LocalStateStore(tmp_path / "state")
    config = config_for(node_config(simulator, ["AllContent"]))
    first_run(config, pipeline, receiver, store)
    path = store.path(NODE)
    shutil.move(path, tmp_path / "kept.json")
    path.mkdir()  # open() fails: IsADirectoryError
    unreadable_run(config, pipeline, receiver, store, T + 300)
    path.rmdir()
    shutil.move(tmp_path / "kept.json", path)
    readable_again(config, pipeline, receiver, store, T + 600)


class _Unavailable(BaseHTTPRequestHandler):
    """S3 having a bad moment: 503 SlowDown to everything."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"<Error><Code>ServiceUnavailable</Code><Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


@pytest.fixture
def unavailable_s3() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_s3_answering_503_exports_no_age_and_no_new_error(
    aws, unavailable_s3, simulator, receiver, pipeline, monkeypatch
):
    boto3.client("s3").create_bucket(Bucket="state-503", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    config = config_for(node_config(simulator, ["AllContent"]))
    first_run(config, pipeline, receiver, S3StateStore(LazyClient("s3"), "state-503", "state/"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", unavailable_s3)
    unreadable_run(config, pipeline, receiver, S3StateStore(LazyClient("s3"), "state-503", "state/"), T + 300)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws)
    readable_again(config, pipeline, receiver, S3StateStore(LazyClient("s3"), "state-503", "state/"), T + 600)
