"""Latency predictors from a published table of measurements on real devices (issue 24 part 3).

    python -m experiments.latency_tables HELP_CSV runs/latency-tables

HELP (Lee et al. 2021) published the latency of all 15,625 NAS-Bench-201 archs (CIFAR size: 16
channels, 5 cells per stage, 32x32x3 inputs) on desktop GPUs and CPUs, phones, a Raspberry Pi, an
ASIC and an FPGA. Their files are PyTorch pickles, which weft never loads: convert them once, outside
weft, with PyTorch, into one CSV per device (`HELP_CSV/DEVICE.csv`: `nb201_arch,latency_ms`, the
benchmark's arch string, rows in HELP's arch index order):

    git clone https://github.com/HayeonLee/HELP && cd HELP/data/nasbench201 && mkdir -p ../../csv
    python -c "import torch, glob, os
    index = torch.load('str_arch2idx.pt')
    for f in glob.glob('latency/*.pt'):
        latency = torch.load(f)
        with open('../../csv/' + os.path.basename(f)[:-3] + '.csv', 'w') as out:
            out.write('nb201_arch,latency_ms\\n')
            out.writelines(f'{a},{float(latency[i])!r}\\n' for a, i in sorted(index.items(), key=lambda t: t[1]))"

Each device's CSV, in weft's nb201 arch strings, goes through the commands a user runs:

1. per device: `nas latency import` of `fit_archs` archs drawn at random, `nas latency fit` (80% train,
   the validation split chooses the best; MLP, linear, FLOPs compared on the held-out 20%);
2. per target device (HELP's meta-test devices by default): `nas latency import` of all its archs and
   `nas latency adapt` from the linear predictors of the source devices (HELP's meta-train devices),
   with the curve of Kendall tau against 5..50 measured archs.

Writes results.json and table.md in the run directory (the CSVs and runs under it).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.experiment_config import ExperimentConfig
from nas.atomic_write import write_json_atomically, write_text_atomically
from nas.errors import ConfigError
from nas.option_bounds import NonNegativeInt, PositiveInt

SOURCES = ("1080ti_1", "1080ti_32", "1080ti_256", "silver_4114", "silver_4210r", "samsung_a50", "pixel3",
           "essential_ph_1", "samsung_s7")
TARGETS = ("titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    help_data: str = ""  # a folder of DEVICE.csv (nb201_arch,latency_ms) converted from HELP's files
    sources: tuple = SOURCES
    targets: tuple = TARGETS
    fit_archs: PositiveInt = 1125  # 900 training archs at fit's default --train-fraction 0.8, as in HELP's baselines
    curve: tuple = (5, 10, 20, 50)
    repeats: PositiveInt = 10
    seed: NonNegativeInt = 0
    mlp_steps: PositiveInt = 3000


def write_csvs(help_data: Path, devices, out: Path, space) -> dict[str, Path]:
    from search_spaces.nb201 import from_nb201_string

    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for device in devices:
        source = help_data / f"{device}.csv"
        if not source.exists():
            raise ConfigError(f"{source} does not exist; help_data must hold one nb201_arch,latency_ms CSV per "
                              "device (see this module's docstring)")
        with open(source, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if len(rows) != space.size() or not rows or set(rows[0]) != {"nb201_arch", "latency_ms"}:
            raise ConfigError(f"{source}: expected columns nb201_arch,latency_ms and {space.size()} rows, one per arch")
        lines = ["arch,latency_ms"] + [f"{from_nb201_string(space, row['nb201_arch']).to_string()},{row['latency_ms']}"
                                       for row in rows]
        paths[device] = out / f"{device}.csv"
        write_text_atomically(paths[device], "\n".join(lines) + "\n")
    return paths


def _subset(path: Path, n: int, seed: int, out: Path) -> Path:
    rows = list(csv.reader(open(path)))
    keep = np.sort(np.random.default_rng(seed).choice(len(rows) - 1, size=n, replace=False)) + 1
    write_text_atomically(out, "\n".join(",".join(rows[i]) for i in [0, *keep]) + "\n")
    return out


def run(config: Config, run_dir: Path, progress: bool = True) -> dict:
    from nas.hardware.adapt import adapt
    from nas.hardware.counters import load_counter
    from nas.hardware.csv_import import import_csv
    from nas.hardware.report import fit

    if not config.help_data or not Path(config.help_data).is_dir():
        raise ConfigError("help_data must be a folder of DEVICE.csv files (nb201_arch,latency_ms) converted from "
                          "github.com/HayeonLee/HELP's data/nasbench201 (see this module's docstring)")
    run_dir = Path(run_dir)
    shape = (32, 32, 3)
    space = load_counter("nb201", None, shape).space
    devices = list(dict.fromkeys((*config.sources, *config.targets)))
    csvs = write_csvs(Path(config.help_data), devices, run_dir / "csv", space)
    results = {"config": {k: v for k, v in vars(config).items()}, "fit": {}, "adapt": {}}
    for device in devices:  # 1. the predictors compared on fit_archs archs of each device
        collection = run_dir / "fit" / device
        if not collection.exists():
            sample = _subset(csvs[device], config.fit_archs, config.seed, run_dir / "csv" / f"{device}-{config.fit_archs}.csv")
            import_csv(sample, collection, space="nb201", input_shape=shape, device=device)
        report = fit(collection, seed=config.seed, mlp_steps=config.mlp_steps)
        results["fit"][device] = {"best": report["best"], "test": report["results"]["median"],
                                  "fit_part": report["selection"]["fit_part"]}
        if progress:
            print(device, report["best"], {k: round(v["kendall_tau"], 3) for k, v in report["results"]["median"].items()})
        write_json_atomically(run_dir / "results.json", results, indent=1)
    sources = [run_dir / "fit" / d / "fit" / "linear.json" for d in config.sources]
    for device in config.targets:  # 2. a new device from a few of its archs
        collection = run_dir / "all" / device
        if not collection.exists():
            import_csv(csvs[device], collection, space="nb201", input_shape=shape, device=device)
        results["adapt"][device] = adapt(sources, collection, run_dir / "adapt" / device, samples=20,
                                         curve=config.curve, repeats=config.repeats, seed=config.seed)
        if progress:
            print(device, results["adapt"][device]["curve"])
        write_json_atomically(run_dir / "results.json", results, indent=1)
    write_text_atomically(run_dir / "table.md", table(results))
    return results


def _f(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(results: dict) -> str:
    lines = ["Predictors on HELP's NAS-Bench-201 latency table (900 training archs per device; Kendall tau / "
             "Spearman on the held-out archs; train Spearman of the MLP on its fit part)", "",
             "| device | best (validation) | mlp tau | linear tau | flops tau | mlp rho | linear rho | flops rho | "
             "mlp train rho |", "|---|---|---|---|---|---|---|---|---|"]
    for device, row in results["fit"].items():
        test = row["test"]
        lines.append(f"| {device} | {row['best']} | " + " | ".join(_f(test[k]["kendall_tau"]) for k in ("mlp", "linear", "flops"))
                     + " | " + " | ".join(_f(test[k]["spearman"]) for k in ("mlp", "linear", "flops"))
                     + f" | {_f(row['fit_part']['mlp']['spearman'])} |")
    if results["adapt"]:
        ks = list(next(iter(results["adapt"].values()))["curve"]["adapted"])
        lines += ["", "Adaptation to a new device: mean Kendall tau on its other archs after k measured archs "
                      "(sources: the linear predictors of the source devices)", "",
                  "| device | method | no archs | " + " | ".join(f"k={k}" for k in ks) + " |",
                  "|---|---|---|" + "---|" * len(ks)]
        for device, row in results["adapt"].items():
            for method, per_k in row["curve"].items():
                lines.append(f"| {device} | {method} | {_f(row['zero_shot_tau']) if method == 'adapted' else ''} | "
                             + " | ".join(_f(per_k[k]) for k in ks) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m experiments.latency_tables HELP_DATA_NASBENCH201_DIR RUN_DIR")
    run(Config(help_data=sys.argv[1]), Path(sys.argv[2]))
