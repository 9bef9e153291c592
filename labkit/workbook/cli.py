"""The `labkit` command: run the series, show a notebook's parameters, build the report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from labkit.core import paths

if TYPE_CHECKING:
    from labkit.workbook import cluster as cluster_types
    from labkit.workbook import runner as runner_types

EXIT_BAD_INPUT = 2


def _cluster(args: argparse.Namespace) -> cluster_types.ClusterOptions | None:
    """The `--cluster` options, or None (and Ray is never imported) without `--cluster`."""
    from labkit.workbook import cluster

    if args.cluster is None:
        if args.resource or args.ship_code:
            raise ValueError("--resource and --ship-code need --cluster ADDRESS.")
        return None
    if args.cpus <= 0:
        raise ValueError(f"--cpus {args.cpus:g} must be positive.")
    return cluster.ClusterOptions(
        args.cluster,
        cpus=args.cpus,
        resources=cluster.parse_resources(args.resource),
        ship_code=args.ship_code,
    )


def _finish(run_dir: Path, outcomes: list[runner_types.NotebookResult], *, report: bool) -> int:
    from labkit.workbook import runner

    print(runner.format_table(outcomes))
    for outcome in outcomes:
        if outcome.error:
            print(f"{outcome.notebook}: {outcome.status}: {outcome.error}")
    print(f"\nExecuted notebooks and summary.json: {run_dir}")
    print(f"Ledger: {paths.ledger_path()}")
    if report:
        print(f"Report: {_report(run_dir.name)}")
    return 0 if all(o.status == "ok" for o in outcomes) else 1


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
        cluster=_cluster(args),
    )
    return _finish(run_dir, outcomes, report=args.report)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from labkit.workbook import sweep

    if not args.param:
        raise ValueError("a sweep needs at least one -p NAME V1,V2,...")
    sweep_dir, outcomes = sweep.run(
        args.notebook,
        sweep.parse_grid(args.param),
        sweep.parse_seeds(args.seeds),
        profile=args.profile,
        device=args.device,
        timeout_s=args.timeout,
        cluster=_cluster(args),
    )
    code = _finish(sweep_dir, outcomes, report=False)
    if args.report:
        print(f"Report: {_report(None)}")
    return code


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
    from labkit.workbook import report

    return report.build_headless(run_id)


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


def _cluster_arguments(command: argparse.ArgumentParser) -> None:
    ray = command.add_argument_group("on a Ray cluster (the `ray` extra)")
    ray.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run each notebook as a Ray task: local (a Ray instance on this machine), auto, HOST:PORT "
        "or ray://HOST:PORT",
    )
    ray.add_argument("--cpus", type=float, default=1.0, help="CPUs each notebook task asks for (default 1)")
    ray.add_argument(
        "--resource",
        action="append",
        default=[],
        metavar="NAME=AMOUNT",
        help="a custom resource each task needs, to pin it to the nodes that offer it",
    )
    ray.add_argument(
        "--ship-code",
        action="store_true",
        help="send this checkout to the workers in Ray's runtime environment (workers without labkit)",
    )


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
    _cluster_arguments(run)
    run.set_defaults(func=_cmd_run)
    sweep = sub.add_parser(
        "sweep", help="run one notebook over a grid of parameter values x seeds (here or on a Ray cluster)"
    )
    sweep.add_argument("notebook", help="a name like 04 or 04_distillation")
    sweep.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "V1,V2"),
        help="a swept parameter and its comma-separated values",
    )
    sweep.add_argument("--seeds", default="0", help="comma-separated seeds run for every setting (default 0)")
    sweep.add_argument("--profile", choices=PROFILES, default="quick")
    sweep.add_argument("--device", choices=DEVICES, default="auto")
    sweep.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per run")
    sweep.add_argument("--report", action="store_true", help="also build results/report.md")
    _cluster_arguments(sweep)
    sweep.set_defaults(func=_cmd_sweep)
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
    site = sub.add_parser("book", help="build the website from the committed notebooks (results/book/html)")
    site.add_argument("--out", default=None, help="build folder (default: results/book)")
    site.add_argument("--repository", default=None, help="https://github.com/OWNER/REPO for launch links")
    site.add_argument("--check", action="store_true", help="then open every page in headless Chromium")
    site.set_defaults(func=_cmd_book)
    sub.add_parser("env", help="print the environment report").set_defaults(func=_cmd_env)
    sub.add_parser("datasets", help="verify dataset checksums").set_defaults(func=_cmd_datasets)
    return top


def _cmd_book(args: argparse.Namespace) -> int:
    from labkit.workbook import book

    html, seconds = book.build(Path(args.out) if args.out else None, repository=args.repository)
    print(f"Built {len(book.pages(html))} pages in {seconds:.1f} s: {html / 'index.html'}")
    if not args.check:
        return 0
    from labkit.workbook import book_check

    checked, problems, saved = book_check.verify(html, html.parent / "screenshots")
    print(f"Checked {checked} pages in Chromium; screenshots: {saved[0].parent}")
    for problem in problems:
        print(f"  {problem}")
    print(f"{len(problems)} problems." if problems else "No console error, broken image or broken link.")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, ConnectionError) as error:
        print(f"labkit {args.command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(
            f"labkit {args.command}: interrupted; the notebooks still running were cancelled.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
