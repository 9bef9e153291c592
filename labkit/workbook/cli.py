"""The `labkit` command: run the series, show a notebook's parameters, build the report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from labkit.core import paths

EXIT_BAD_INPUT = 2


def _cmd_run(args: argparse.Namespace) -> int:
    from labkit.workbook import params, runner

    overrides = {name: params.parse_cli_value(value) for name, value in args.param}
    run_dir, outcomes = runner.run(
        args.notebooks,
        args.profile,
        args.device,
        overrides=overrides,
        timeout_s=args.timeout,
        run_id=args.run_id,
        progress=not args.no_progress,
    )
    print(runner.format_table(outcomes))
    for outcome in outcomes:
        if outcome.error:
            print(f"{outcome.notebook}: {outcome.status}: {outcome.error}")
    print(f"\nExecuted notebooks and summary.json: {run_dir}")
    print(f"Ledger: {paths.ledger_path()}")
    if args.report:
        print(f"Report: {_report(run_dir.name)}")
    return 0 if all(o.status == "ok" for o in outcomes) else 1


def _cmd_params(args: argparse.Namespace) -> int:
    import papermill

    from labkit.workbook import catalog, generated, runner

    if args.check_cells:
        stale = generated.stale_cells(paths.notebooks_dir())
        if stale:
            print(f"parameters cells differ from the catalog in {stale}; run `labkit params --write-cells`.")
            return 1
        return 0
    if args.write_cells:
        changed = generated.write_cells(paths.notebooks_dir())
        print(f"Parameters cells rewritten from the catalog: {[p.name for p in changed] or 'none differed'}")
        return 0
    if args.doc:
        print(f"Parameter tables written to {generated.write_params_doc(Path(args.doc))}")
        return 0
    if args.notebook is None:
        print(generated.markdown())
        return 0
    notebook = runner.resolve([args.notebook])[0]
    inferred = papermill.inspect_notebook(str(notebook))
    print(f"{notebook.stem}: {catalog.entry(notebook.stem).title}\n")
    print(f"{'name':<22} {'type':<6} {'default':<10} {'full':<8} {'allowed':<32} help")
    for p in catalog.params_of(notebook.stem):
        full = p.value_for("full")
        cell = inferred.get(p.name, {}).get("default", "(not in parameters cell!)")
        print(
            f"{p.name:<22} {p.kind.__name__:<6} {cell:<10} "
            f"{(repr(full) if full != p.default else '-'):<8} {p.allowed():<32} {p.help}"
        )
    return 0


def _report(run_id: str | None) -> Path:
    """Build results/report.md with a non-interactive backend: a terminal has no window to draw in."""
    import matplotlib

    from labkit.workbook import report

    matplotlib.use("Agg")
    return report.build(run_id)


def _cmd_report(args: argparse.Namespace) -> int:
    print(f"Report: {_report(args.run_id)}")
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    from labkit.core import envinfo

    print(json.dumps(envinfo.report(), indent=2))
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from labkit import data

    for name, status in data.verify_all().items():
        print(f"{name}: {status}")
    return 0


def _cmd_refresh(args: argparse.Namespace) -> int:
    from labkit.workbook import refresh, runner

    if args.notebooks:
        print(refresh.SERIES_ONLY, file=sys.stderr)
        return 2
    try:
        run_dir, outcomes = refresh.refresh(timeout_s=args.timeout, progress=not args.no_progress)
    except RuntimeError as error:
        print(f"labkit refresh: {error}", file=sys.stderr)
        return 1
    print(runner.format_table(outcomes))
    print(f"Outputs of {len(outcomes)} notebooks copied from run {run_dir.name} ({run_dir}).")
    return 0


def parser() -> argparse.ArgumentParser:
    from labkit.workbook.params import DEVICES, PROFILES
    from labkit.workbook.runner import DEFAULT_TIMEOUT_S

    top = argparse.ArgumentParser(prog="labkit", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute notebooks with papermill into results/runs/<run-id>/")
    run.add_argument("notebooks", nargs="*", help="names like 01 or 01_baseline_models (default: all)")
    run.add_argument("--profile", choices=PROFILES, default="quick")
    run.add_argument("--device", choices=DEVICES, default="auto")
    run.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a notebook parameter",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds per notebook before it is killed",
    )
    run.add_argument("--run-id", default=None)
    run.add_argument("--report", action="store_true", help="also build results/report.md")
    run.add_argument("--no-progress", action="store_true")
    run.set_defaults(func=_cmd_run)
    show = sub.add_parser("params", help="a notebook's parameters: types, defaults, allowed values")
    show.add_argument("notebook", nargs="?", help="a notebook; without one, every notebook as markdown")
    show.add_argument("--doc", metavar="FILE", help="rewrite FILE's generated parameter section")
    show.add_argument(
        "--write-cells", action="store_true", help="rewrite every notebook's parameters cell from the catalog"
    )
    show.add_argument(
        "--check-cells", action="store_true", help="exit 1 when a parameters cell differs from the catalog"
    )
    show.set_defaults(func=_cmd_params)
    rep = sub.add_parser("report", help="write results/report.md from the ledger")
    rep.add_argument("--run-id", default=None)
    rep.set_defaults(func=_cmd_report)
    refresh = sub.add_parser(
        "refresh",
        help="execute the whole series as one run in a clean results folder and copy its outputs into "
        "the notebooks (maintainers: the committed outputs nbval compares)",
    )
    refresh.add_argument("notebooks", nargs="*", help=argparse.SUPPRESS)
    refresh.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per notebook")
    refresh.add_argument("--no-progress", action="store_true")
    refresh.set_defaults(func=_cmd_refresh)
    sub.add_parser("env", help="print the environment report").set_defaults(func=_cmd_env)
    sub.add_parser("datasets", help="verify dataset checksums").set_defaults(func=_cmd_datasets)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"labkit {args.command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
