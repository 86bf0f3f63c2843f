"""`spikepipe explore`: run a grid file (docs/explore.md) resumably, then its table, CSV and plots."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from simulator.cli.common import (DATA_DIR_DEFAULT, add_data_dir_option, add_pool_options, output_file, print_json,
                                  save_figure, table)
from simulator.experiments import Experiment, Status, load_experiment, run
from simulator.experiments.kinds import point_kind
from simulator.experiments.report import figures, results_table, summary_table
from workloads import ConfigError
from workloads.files import write_csv_atomic

RESULTS, CSV = "results.jsonl", "results.csv"
DATA_DIR_PARAM = "data_dir"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explore", help="run a grid of design points (schedule or DES) resumably, locally or on Dask",
                       description="Run every point of GRID (a .toml or .json grid file, docs/explore.md) not yet "
                                   f"in DIR/{RESULTS}, appending each record as it finishes (a rerun resumes); "
                                   f"then write DIR/{CSV}, print the summary table and save the standard plots "
                                   "(throughput and energy per sample against each swept parameter, Pareto front "
                                   "of time against energy) as PNG files in DIR.")
    p.add_argument("grid", metavar="GRID", help="grid file (.toml or .json)")
    add_pool_options(p)
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: results/explore/<experiment name>)")
    add_data_dir_option(p, help=f"data directory of points that read a dataset (kind train): their "
                                f"'{DATA_DIR_PARAM}' parameter (default: the grid's, else {DATA_DIR_DEFAULT})")
    p.add_argument("--retry-failed", action="store_true", help="run points that failed before again")
    p.add_argument("--top", type=int, default=20, help="rows of the summary table to print, 0 for all")
    p.add_argument("--no-plots", action="store_true", help="write no PNG files")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.set_defaults(func=explore)


def with_data_dir(experiment: Experiment, data_dir: str | None, grid: str) -> Experiment:
    """The experiment with `--data-dir` as the fixed parameter 'data_dir' of its points (a parameter, so
    a rerun with another data directory is another experiment)."""
    if data_dir is None:
        return experiment
    if DATA_DIR_PARAM not in point_kind(experiment.kind).parameters:
        raise ConfigError(f"--data-dir: points of kind '{experiment.kind}' read no dataset; leave it out")
    if DATA_DIR_PARAM in experiment.fixed or DATA_DIR_PARAM in experiment.vary:
        raise ConfigError(f"--data-dir: grid file {grid} sets '{DATA_DIR_PARAM}' already; give it in one place")
    return replace(experiment, fixed={**experiment.fixed, DATA_DIR_PARAM: str(data_dir)})


def explore(args: argparse.Namespace) -> int:
    experiment = with_data_dir(load_experiment(args.grid), args.data_dir, args.grid)
    if args.out is None and (Path(experiment.name).name != experiment.name or experiment.name in (".", "..")):
        raise ConfigError(f"grid file {args.grid}: experiment name {experiment.name!r} cannot name a folder; "
                          f"give --out DIR")
    out = Path(args.out) if args.out is not None else Path("results", "explore", experiment.name)
    output_file(out / CSV, "--out")  # a folder: not a file, nor below one
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: must be a positive integer, got {args.workers}")
    if args.top < 0:
        raise ConfigError(f"--top: must be 0 (all rows) or a positive integer, got {args.top}")
    outcome = run(experiment, out / RESULTS, workers=args.workers, dask=args.dask, retry_failed=args.retry_failed)
    write_csv_atomic(out / CSV, results_table(outcome.records))
    saved = [] if args.no_plots else [save_figure(fig, out / f"{stem}.png")
                                      for stem, fig in figures(outcome.records).items()]
    header, rows = summary_table(outcome.records)
    failed = [r for r in outcome.records if r.status is Status.FAILED]
    if args.json:
        print_json({"experiment": experiment.as_dict(), "points": outcome.points, "computed": outcome.computed,
                    "skipped": outcome.skipped, "failed": outcome.failed, "complete": outcome.complete,
                    "results": str(out / RESULTS), "csv": str(out / CSV), "figures": [str(f) for f in saved],
                    "summary": [dict(zip(header, row)) for row in rows]})
        return 0
    print(f"{experiment.name}: {outcome.points} points, {outcome.computed} run now, {outcome.skipped} already in "
          f"{out / RESULTS}, {outcome.failed} failed")
    shown = rows if args.top == 0 else rows[:args.top]
    if header:
        print(table(header, shown))
    if len(shown) < len(rows):
        print(f"(the {len(shown)} fastest of {len(rows)} finished points; all are in {out / CSV})")
    if failed:
        print(f"{len(failed)} points failed (column 'error' of {out / CSV}), the first: {failed[0].error}")
    print(f"Wrote {out / CSV}" + "".join(f", {f}" for f in saved))
    return 0
