"""Section 3 of ``make bench`` (issue 23): the collector Lambda's cold start, against the layer's real
dependencies.

The dependency set is layers/deps/requirements.txt installed once into .cache/bench-layer/venv (with
boto3, which the Lambda runtime provides) and compiled as layers/deps/Makefile compiles the deps layer
(compileall, unchecked-hash); our code is the library layer as built, by layers/lib/Makefile's own
target (bytecode included) with this venv's interpreter as PYC_PYTHON, afresh for each measure, plus the
handler as source (a function's code is compiled at each cold start: Lambda's /var/task is read-only and
SAM ships it as source). Every probe runs with PYTHONDONTWRITEBYTECODE, so no probe leaves bytecode for
the next.

A probe is a fresh interpreter of that venv that imports the handler module (functions/collector/app.py)
and invokes it twice: the first invocation polls one simulated node, exports OTLP and (in the variant
with AWS) hands off to SQS and keeps its state in S3 on moto's server; the second is warm. The
reference imports, alone, every third-party module the handler's probe had loaded by the end of its
first invocation; medians of interleaved pairs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / ".cache" / "bench-layer"
REQUIREMENTS = ROOT / "layers" / "deps" / "requirements.txt"
RUNTIME_EXTRAS = ("boto3",)  # what the Lambda runtime provides beside the layer

HANDLER_PROBE = """
import importlib.util, json, sys, time
from pathlib import Path

class Context:
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
    aws_request_id = "bench"
    function_name = "bench"
    def get_remaining_time_in_millis(self):
        return 60_000

site = {site!r}
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", {app!r})
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
t1 = time.perf_counter()
first = app.handler({{}}, Context())
t2 = time.perf_counter()
third_party = sorted(
    name for name, module in list(sys.modules.items())
    if (getattr(module, "__file__", None) or "").startswith(site)
)
top = sorted({{name.split(".")[0] for name in sys.modules}})
t3 = time.perf_counter()
second = app.handler({{}}, Context())
t4 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "first_s": t2 - t1, "warm_s": t4 - t3, "failed": first["failed"],
                  "modules": third_party, "top": top}}))
"""

DEPS_PROBE = """
import importlib, json, time
names = {names!r}
t0 = time.perf_counter()
failed = 0
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        failed += 1
print(json.dumps({{"import_s": time.perf_counter() - t0, "failed": failed}}))
"""


def layer_python() -> Path:
    """The layer's dependency set in a venv of its own, installed once (again when requirements change)."""
    python = LAYER / "venv" / "bin" / "python"
    recipe = repr((RUNTIME_EXTRAS, "unchecked-hash bytecode")).encode()
    want = hashlib.sha256(REQUIREMENTS.read_bytes() + recipe).hexdigest()
    stamp = LAYER / "installed"
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    print("  3 cold start: installing layers/deps/requirements.txt into .cache/bench-layer (once)", file=sys.stderr)
    LAYER.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(LAYER / "venv")], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS), *RUNTIME_EXTRAS], check=True)
    for cache in (LAYER / "venv" / "lib").rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    compile_bytecode(python, LAYER / "venv" / "lib")
    stamp.write_text(want)
    return python


def site_packages(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def compile_bytecode(python: Path, where: Path) -> None:
    """What layers/deps/Makefile does to the deps layer after pip: bytecode for the runtime's interpreter."""
    run = [str(python), "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(where)]
    subprocess.run(run, check=True, stdout=subprocess.DEVNULL)


def fresh_code(where: Path, python: Path) -> tuple[Path, Path]:
    """The library layer built by its Makefile, and the handler as source: (PYTHONPATH entry, app.py)."""
    if where.exists():
        shutil.rmtree(where)
    build = ["make", "-s", "-C", str(ROOT / "layers" / "lib"), "build-LibLayer", f"ARTIFACTS_DIR={where / 'lib'}"]
    subprocess.run([*build, f"PYC_PYTHON={python}"], check=True)
    (where / "collector").mkdir()
    shutil.copy(ROOT / "functions" / "collector" / "app.py", where / "collector" / "app.py")
    return where / "lib" / "python", where / "collector" / "app.py"


@dataclass
class ColdStart:
    deps_s: float
    import_s: float
    first_s: float
    warm_s: float
    modules: int
    top: list[str]
    failed_imports: int

    @property
    def cold_s(self) -> float:
        return self.import_s + self.first_s


def _probe(python: Path, code: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=env, check=False, cwd=tempfile.gettempdir()
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(env_extra: dict[str, str], repeats: int, work: Path) -> ColdStart:
    python = layer_python()
    site = site_packages(python)
    lib, app = fresh_code(work / "coldstart-code", python)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ARCHIVE_", "AWS_", "STATE_", "PYTHON"))}
    env.update(
        {
            "PYTHONPATH": str(lib),  # where Lambda puts a layer's python/ (/opt/python)
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "EXALATE_LOG_LEVEL": "ERROR",
            **env_extra,
        }
    )
    handler_code = HANDLER_PROBE.format(site=site, app=str(app))
    deps, imports, firsts, warms = [], [], [], []
    probe: dict[str, Any] = {}
    failed = 0
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits both alike
        probe = _probe(python, handler_code, env)
        if probe["failed"]:
            raise RuntimeError(f"the first invocation failed {probe['failed']} polls")
        ref = _probe(python, DEPS_PROBE.format(names=probe["modules"]), env)
        failed = ref["failed"]
        deps.append(ref["import_s"])
        imports.append(probe["import_s"])
        firsts.append(probe["first_s"])
        warms.append(probe["warm_s"])
    med = statistics.median
    return ColdStart(med(deps), med(imports), med(firsts), med(warms), len(probe["modules"]), probe["top"], failed)
