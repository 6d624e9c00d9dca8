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


def build_lib_layer(where, *extra: str):
    make = ["make", "-s", "-C", str(ROOT / "layers" / "lib"), "build-LibLayer", f"ARTIFACTS_DIR={where}", *extra]
    subprocess.run(make, check=True, capture_output=True)
    return where / "python" / "exalate_collector"


@pytest.mark.skipif(shutil.which("make") is None, reason="make builds the layer")
def test_the_built_library_layer_has_no_test_doubles(tmp_path):
    package = build_lib_layer(tmp_path, "PYC_PYTHON=")  # no interpreter for bytecode: sources only
    assert (package / "runner.py").is_file() and (package / "telemetry" / "contract.yaml").is_file()
    assert not (package / "simulator").exists() and not (package / "devtools").exists()
    assert not list(package.rglob("__pycache__"))


@pytest.mark.skipif(shutil.which("make") is None, reason="make builds the layer")
def test_the_built_library_layer_ships_bytecode_used_as_it_is(tmp_path):
    """Lambda's /opt is read-only: without bytecode in the layer, every cold start compiles it again."""
    package = build_lib_layer(tmp_path, f"PYC_PYTHON={sys.executable}")
    tag = sys.implementation.cache_tag
    sources = sorted(p.relative_to(package) for p in package.rglob("*.py"))
    compiled = sorted(
        p.parent.parent.relative_to(package) / f"{p.name.split('.')[0]}.py" for p in package.rglob("*.pyc")
    )
    assert sources == compiled and all(p.name.endswith(f".{tag}.pyc") for p in package.rglob("*.pyc"))
    flags = {int.from_bytes((p.read_bytes())[4:8], "little") for p in package.rglob("*.pyc")}
    assert flags == {0b01}  # PEP 552: hash-based, source not checked (the zip may change mtimes)
    with (package / "text.py").open("a") as source:  # a source changed after the build: its bytecode wins
        source.write("\nCHANGED_AFTER_THE_BUILD = True\n")
    probe = "import exalate_collector.text as t; print(hasattr(t, 'CHANGED_AFTER_THE_BUILD'))"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "python"), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "False"


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
