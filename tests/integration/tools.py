"""Third-party binaries from Debian packages (promtool, VictoriaMetrics, tinyproxy, a Zabbix server), fetched once by
integrations/fetch-tools.sh into .cache/tools (``make test`` runs it; so does the first test needing one)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from ..conftest import ROOT

FETCH = ROOT / "integrations" / "fetch-tools.sh"
BINARIES = {
    "promtool": Path("prometheus/usr/bin/promtool"),
    "victoria-metrics": Path("victoria-metrics/usr/bin/victoria-metrics"),
    "tinyproxy": Path("tinyproxy/usr/bin/tinyproxy"),
    # with their frontends and schemas in the same trees; each only where the installed server is another version
    "zabbix-6.0": Path("zabbix-6.0/usr/sbin/zabbix_server"),
    "zabbix-7.0": Path("zabbix-7.0/usr/sbin/zabbix_server"),
}


def tools_dir() -> Path:
    return Path(os.environ.get("EXALATE_TOOLS_DIR") or ROOT / ".cache" / "tools")


#: The fetch script runs at most once per test session (make test has run it already).
_FETCHED: list[bool] = []


def tool(name: str) -> Path:
    """The binary, fetched if it is not there yet; a LOUD skip when it cannot be fetched on this machine."""
    path = tools_dir() / BINARIES[name]
    if not path.exists() and not _FETCHED:
        _FETCHED.append(True)
        subprocess.run(["bash", str(FETCH)], check=False, timeout=600, env={**os.environ})
    if not path.exists():
        message = (
            f"!!! SKIPPED: {name} could not be fetched from Debian's packages (see the fetch-tools messages above; "
            f"it needs apt-get and deb.debian.org). The tests that need it did NOT run. !!!"
        )
        print(f"\n{message}\n", file=sys.stderr)
        warnings.warn(message, stacklevel=2)
        pytest.skip(message)
    return path
