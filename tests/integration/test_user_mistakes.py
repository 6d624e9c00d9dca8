"""The mistakes a new user makes, one test per row of issue 14's table: the exit code and the message.

Each runs the command as a user does (a subprocess) against real servers on loopback.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from exalate_collector.endpoints import polls_per_relation
from exalate_collector.simulator import NodeSimulator

from .conftest import SECRET, free_port, node_config
from .test_cli import cli


def write(tmp_path: Path, *nodes: dict, name: str = "exalate.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"nodes": list(nodes)}))
    return path


def log_lines(stderr: str, needle: str) -> list[str]:
    return [line for line in stderr.splitlines() if needle in line]


def test_a_wrong_secret_variable_name_is_a_configuration_error_before_any_request(tmp_path, simulator):
    config = write(tmp_path, node_config(simulator, auth={"secret": "${EXALATE_JWT_SECRT}"}))
    done = cli("run", "--config", str(config), "--no-archive", env={"EXALATE_JWT_SECRET": SECRET})
    assert done.returncode == 2
    assert (
        "nodes[0] (jira-test): auth.secret: environment variable EXALATE_JWT_SECRT is not set or empty" in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert simulator.seen == []


@pytest.mark.filterwarnings("ignore:The HMAC key is 12 bytes long")  # the simulator's own jwt.decode, in-process
def test_a_short_hmac_key_is_one_configuration_warning_in_our_words(tmp_path):
    with NodeSimulator(["AllContent"], secret="short-secret") as short:
        config = write(tmp_path, node_config(short, auth={"secret": "${EXALATE_JWT_SECRET}"}))
        done = cli("run", "--config", str(config), "--no-archive", env={"EXALATE_JWT_SECRET": "short-secret"})
    assert done.returncode == 0, done.stderr
    (warning,) = log_lines(done.stderr, "auth.secret is 12 bytes")
    assert "WARNING" in warning and "node jira-test" in warning and "32 bytes HS256 needs" in warning
    assert "InsecureKeyLengthWarning" not in done.stderr


def test_an_unreachable_otlp_endpoint_names_the_endpoint_and_the_variable(tmp_path, simulator):
    port = free_port()
    config = write(tmp_path, node_config(simulator, auth={"secret": "${EXALATE_JWT_SECRET}"}))
    done = cli(
        "run",
        "--config",
        str(config),
        "--no-archive",
        env={"EXALATE_JWT_SECRET": SECRET, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"},
        timeout=120,
    )
    assert done.returncode == 1
    (message,) = log_lines(done.stderr, "exalate-collector: ")
    assert f"metrics to http://127.0.0.1:{port}/v1/metrics" in message
    assert f"events to http://127.0.0.1:{port}/v1/logs" in message
    assert "check OTEL_EXPORTER_OTLP_ENDPOINT" in message
    assert "retrying" not in done.stderr.lower()  # the SDK's per-retry warnings stay out of the way


def test_a_refused_connection_names_host_port_and_node(tmp_path):
    port = free_port()
    dead = {"name": "jira-dead", "base_url": f"http://127.0.0.1:{port}/jira", "relations": ["AllContent"]}
    config = write(tmp_path, {**dead, "auth": {"secret": "${EXALATE_JWT_SECRET}"}})
    done = cli("run", "--config", str(config), "--no-archive", env={"EXALATE_JWT_SECRET": SECRET})
    assert done.returncode == 3  # poll failures are data, but a run that polled nothing says so (exit 3)
    assert "no poll of this run succeeded" in done.stderr
    lines = log_lines(done.stderr, "error.type=connection_failed")
    assert len(lines) == polls_per_relation(["AllContent"])
    assert all("node=jira-dead" in line and f"connection to 127.0.0.1:{port} failed" in line for line in lines)


def test_a_missing_context_path_gets_a_hint(tmp_path, simulator):
    root = simulator.base_url.removesuffix("/jira")
    config = write(tmp_path, node_config(simulator, base_url=root, auth={"secret": "${EXALATE_JWT_SECRET}"}))
    done = cli("run", "--config", str(config), "--no-archive", env={"EXALATE_JWT_SECRET": SECRET})
    assert done.returncode == 3  # every poll failed: nothing polled
    assert "http_error (HTTP 404)" in done.stdout
    lines = log_lines(done.stderr, "error.type=http_error")
    assert len(lines) == polls_per_relation(["AllContent"])
    assert all("is the Jira context path in base_url" in line for line in lines)


def test_a_yaml_syntax_error_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "exalate.yaml"
    path.write_text("nodes:\n  - name: jira\n    relations: [A, B\n    base_url: https://j\n")
    done = cli("run", "--config", str(path))
    assert done.returncode == 2
    assert f"{path}: invalid YAML at line 4 column " in done.stderr
    assert "<unicode string>" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("text", ["", "\n", "# nothing yet\n"])
def test_an_empty_file_says_so(tmp_path, text):
    path = tmp_path / "exalate.yaml"
    path.write_text(text)
    done = cli("run", "--config", str(path))
    assert done.returncode == 2
    assert f"{path}: the configuration file is empty" in done.stderr
    assert "NoneType" not in done.stderr


@pytest.mark.parametrize("data", [b"\xff\xfe nodes: []\n", "nodes: []  # caf\u00e9\n".encode("latin-1")])
def test_a_file_that_is_not_utf8_text_says_so(tmp_path, data):
    path = tmp_path / "exalate.yaml"
    path.write_bytes(data)
    done = cli("run", "--config", str(path))
    assert done.returncode == 2
    assert f"{path}: not UTF-8 text (byte " in done.stderr
    assert "Traceback" not in done.stderr and "this is a bug" not in done.stderr


def test_log_level_is_case_insensitive_before_or_after_the_command(tmp_path):
    missing = str(tmp_path / "none.yaml")
    for args in (
        ["--log-level", "debug", "run", "--config", missing],
        ["run", "--log-level", "Debug", "--config", missing],
    ):
        done = cli(*args)
        assert done.returncode == 2, args
        assert "cannot read" in done.stderr  # got past the options to the configuration
    done = cli("run", "--log-level", "verbose")
    assert done.returncode == 2
    assert "argument --log-level: 'verbose' is not one of DEBUG, INFO, WARNING, ERROR (any case)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["0", "-5", "nan", "soon"])
def test_deadline_must_be_positive(value):
    done = cli("run", "--deadline", value)
    assert done.returncode == 2
    assert "argument --deadline:" in done.stderr
    assert "greater than 0" in done.stderr or "not a number of seconds" in done.stderr


def test_simulate_on_a_busy_port_is_a_message_not_a_traceback():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = cli("simulate", "--port", str(port))
    assert done.returncode == 1
    assert f"exalate-collector: cannot listen on 127.0.0.1:{port}: address already in use" in done.stderr
    assert "choose another --port" in done.stderr
    assert "Traceback" not in done.stderr


def test_simulate_says_which_relations_and_credentials_it_serves(tmp_path):
    with subprocess.Popen(
        [sys.executable, "-m", "exalate_collector.cli", "simulate", "--port", "0", "--relations", "Alpha, Beta"],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        banner: list[str] = []
        while not banner or (banner[-1] and not banner[-1].startswith("Ctrl-C")):
            banner.append(process.stdout.readline())  # "" when the process ended early
        # the configuration it prints, copied as a user would, polls it
        start = next(i for i, line in enumerate(banner) if line.strip() == "nodes:")
        config = tmp_path / "exalate.yaml"
        config.write_text(textwrap.dedent("".join(banner[start:-1])))
        env = {"EXALATE_JWT_SECRET": "demo-shared-secret-of-32-bytes-at-least"}
        done = cli("run", "--config", str(config), "--no-archive", env=env)
        process.terminate()
    assert done.returncode == 0, done.stderr
    assert f"{polls_per_relation(['Alpha', 'Beta'])} polls, " in done.stdout
    assert "unauthorized" not in done.stdout and "connection_not_found" not in done.stdout
    text = "".join(banner)
    assert "relations served: Alpha, Beta" in text
    assert "JWT HS256 with the shared secret 'demo-shared-secret-of-32-bytes-at-least'" in text
    assert "relations: [Alpha, Beta]" in text and 'secret: "${EXALATE_JWT_SECRET}"' in text
    (url_line,) = [line for line in banner if line.startswith("simulated Exalate node at http://127.0.0.1:")]
    assert url_line.rstrip().endswith("/jira")


def test_a_typo_in_an_environment_variable_is_a_configuration_error(tmp_path, simulator):
    config = write(tmp_path, node_config(simulator, auth={"secret": "${EXALATE_JWT_SECRET}"}))
    env = {"EXALATE_JWT_SECRET": SECRET, "EXALATE_EXPORT_MARGIN_S": "12s", "EXALATE_LOG_LEVEL": "loud"}
    done = cli("run", "--config", str(config), env=env)
    assert done.returncode == 2
    assert "EXALATE_EXPORT_MARGIN_S: '12s' is not a number of seconds from 0 to 900" in done.stderr
    assert "EXALATE_LOG_LEVEL: 'loud' is not one of DEBUG, INFO, WARNING, ERROR (any case)" in done.stderr
    assert "Traceback" not in done.stderr
    assert simulator.seen == []
