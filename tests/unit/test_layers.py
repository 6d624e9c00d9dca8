"""The test doubles (node simulator, OTLP receiver) stay out of the Lambda layer and out of the CLI's run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from ..conftest import ROOT

DOUBLES = ("exalate_collector.simulator", "exalate_collector.devtools")


@pytest.mark.skipif(shutil.which("make") is None, reason="make builds the layer")
def test_the_built_library_layer_has_no_test_doubles(tmp_path):
    subprocess.run(
        ["make", "-s", "-C", str(ROOT / "layers" / "lib"), "build-LibLayer", f"ARTIFACTS_DIR={tmp_path}"], check=True
    )
    package = tmp_path / "python" / "exalate_collector"
    assert (package / "runner.py").is_file() and (package / "telemetry" / "contract.yaml").is_file()
    assert not (package / "simulator").exists() and not (package / "devtools").exists()
    assert not list(package.rglob("__pycache__"))


def test_the_run_command_does_not_import_the_test_doubles(tmp_path):
    config = tmp_path / "exalate.json"
    node = {"name": "n", "base_url": "http://127.0.0.1:9/jira", "relations": ["A"], "auth": {"secret": "${S}"}}
    config.write_text(json.dumps({"nodes": [node]}))
    probe = (
        "import json, sys\n"
        "from exalate_collector.cli import main\n"
        f"code = main(['run', '--config', {str(config)!r}, '--no-archive', '--no-state', '--deadline', '5'])\n"
        "print(json.dumps([code, sorted(m for m in sys.modules if m.startswith('exalate_collector'))]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ARCHIVE_", "STATE_"))}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        check=False,
        text=True,
        env={**env, "S": "s" * 32},
        cwd=tmp_path,
        timeout=120,
    )
    code, modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 3, done.stderr  # a whole run: polled (connection refused: nothing polled), summarised, not exported
    assert "exalate_collector.runner" in modules and "exalate_collector.poll" in modules
    assert [m for m in modules if m.startswith(DOUBLES)] == []
