"""``exalate-collector``: run a collection outside AWS (cron), the demo, the simulator, the docs.

Exit codes: 0 the run completed (poll failures are reported as telemetry, not as an exit code);
1 the run's output was not all delivered (the telemetry backend refused the export, or the answers
could not be archived), ``check`` found a step that failed, or the command could not start
(``simulate`` on a busy port); 2 the configuration, an environment variable or an option is invalid;
3 no poll of the run succeeded; 70 a bug in exalate-collector (the only case that prints a traceback);
130 interrupted. When several apply, the one found first in the run's course wins: 2 (nothing was
tried) before 3 (nothing was collected) before 1 (what was collected was not all delivered).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence

from . import __version__, logs
from .archive.sinks import ArchiveSink, sink_for
from .cli_demo import DEMO_ZABBIX_VAR, TEMPORARY_STATE, demo, demo_config
from .cli_options import build_parser
from .cli_report import EXIT_BUG, CommandFailed, exit_code, print_archive, print_outputs
from .cli_simulate import DEMO_SECRET, Simulation, simulate, simulation_banner
from .config import Config, load_config, unset_environment_secrets
from .console import summary, verdict
from .errors import ConfigError
from .runner import run
from .settings import Settings
from .state.store import StateStore, store_for
from .telemetry.otel import OtelPipeline, cli_instance_id, otlp_configured

# What the commands' modules define, importable from here as before they were split out.
__all__ = [
    "DEMO_SECRET",
    "DEMO_ZABBIX_VAR",
    "EXIT_BUG",
    "CommandFailed",
    "Simulation",
    "demo",
    "demo_config",
    "main",
    "simulate",
    "simulation_banner",
]


def _parser() -> argparse.ArgumentParser:
    return build_parser(__doc__.split("\n")[0])


def _sink(args: argparse.Namespace) -> ArchiveSink | None:
    if args.no_archive:
        return None
    return sink_for(args.settings, in_lambda=False, local_dir=args.archive_dir)


def _state(args: argparse.Namespace) -> StateStore | None:
    if args.no_state:
        return None
    return store_for(args.settings, in_lambda=False, local_dir=args.state_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.settings = Settings.from_environment(os.environ)  # every variable read and checked once
        logs.configure(args.log_level or args.settings.log_level)
        return _dispatch(args)
    except ConfigError as exc:
        print(f"exalate-collector: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"exalate-collector: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - the last line of defence: say it is a bug, with the traceback
        traceback.print_exc()
        print(
            f"exalate-collector {__version__}: this is a bug in exalate-collector, not a problem with your setup;"
            " please report it with the traceback above",
            file=sys.stderr,
        )
        return EXIT_BUG


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        config = load_config(args.config or args.settings.config_ref)
        unset = unset_environment_secrets(config, os.environ)
        if unset:
            raise ConfigError(unset)
        instance = args.instance_id or cli_instance_id(args.config or args.settings.config_ref)
        request_bytes = args.settings.otlp_max_request_bytes
        return _run(
            config,
            args.deadline,
            _sink(args),
            _state(args),
            instance,
            print_summary=args.summary,
            request=request_bytes,
        )
    if args.command == "check":
        from . import check

        report = check.check(load_config(args.config or args.settings.config_ref), args.deadline)
        print(check.render(report))
        return check.exit_code(report)
    if args.command == "demo":
        if args.no_state or args.state_dir:
            return demo(args.deadline, _sink(args), _state(args))
        with tempfile.TemporaryDirectory(prefix="exalate-demo-state-") as directory:
            state = store_for(Settings(), in_lambda=False, local_dir=directory)
            return demo(args.deadline, _sink(args), state, state_note=TEMPORARY_STATE)
    if args.command == "simulate":
        return simulate(_simulation(args))
    from .telemetry.docs import render

    sys.stdout.write(render())
    return 0


def _simulation(args: argparse.Namespace) -> Simulation:
    listed = dict(args.connections)
    relations = args.relations if args.relations is not None else ([] if listed else ["AllContent", "GROOVY"])
    context_path = args.context_path.strip()
    if context_path and not context_path.startswith("/"):
        context_path = "/" + context_path
    return Simulation(
        port=args.port,
        relations=tuple(dict.fromkeys([*relations, *listed])),
        statuses={name: status for name, status in listed.items() if status != "ACTIVE"},
        secret=args.secret,
        login=args.login,
        token=args.token,
        basic=args.basic,
        context_path=context_path.rstrip("/"),
        latency=args.latency,
        broken_blob_errors=args.broken_blob_errors,
    )


def _run(
    config: Config,
    deadline: float,
    archive: ArchiveSink | None,
    state: StateStore | None,
    instance_id: str,
    *,
    print_summary: bool,
    request: int | None = None,
) -> int:
    exporting = otlp_configured(os.environ)
    publisher = OtelPipeline.from_environment(instance_id, max_request_bytes=request) if exporting else None
    result = run(config, deadline, publisher, archive, state)
    if not exporting or print_summary:
        print(summary(result.exchanges, result.telemetry))
        print_archive(result)
    print_outputs(result)
    if not exporting and not [r for r in result.outputs if r.name != "otlp"]:
        print("\n(no OTEL_EXPORTER_OTLP_ENDPOINT set: nothing was exported; the summary above is the output)")
    print(verdict(result.exchanges))
    return exit_code(result)


if __name__ == "__main__":
    raise SystemExit(main())
