"""Side-by-side runs against the Once-for-All PyTorch peer (../shared/peers/ofa): shared by the train
and evaluate benches.

* `run_peer(...)`: the peer's bench.py in its own venv, as a child process; its JSON line plus the
  child's own peak RSS (its /proc VmHWM, polled) and its wall time.
* `alternate(ours, peer, rounds)`: ABAB rounds, the side going first swapping round by round; per
  round the ratio peer / ours, then their median and [min, max].
* `ofa_sandwich_archs` / `ofa_eval_archs`: the very subnets the peer runs. The peer takes no arch
  list, but it draws its subnets from Python's `random` with fixed seeds (OFA's per-step
  `random.seed(int("%d%.3d%.3d" % (step, k, 0)))` + `sample_active_subnet()` for the sandwich, one
  `random.Random(seed + 1234)` for the evaluated subnets); the same draws here give the same archs,
  mapped onto our MobileNetV3 decisions (`s{stage}.depth`, `s{stage}.b{i}.kernel|expand`).
"""
from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

PEER_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "peers" / "ofa"
# OFAMobileNetV3(ks_list=[3,5,7], expand_ratio_list=[3,4,6], depth_list=[2,3,4]): 20 elastic blocks in 5 stages.
KS, ER, DL, BLOCKS, STAGES = (3, 5, 7), (3, 4, 6), (2, 3, 4), 20, 5


def peer_python(setup: bool = True) -> Path | None:
    """The peer's venv interpreter; set up by its own script when missing (`setup`), else None."""
    python = Path(os.environ.get("PEER_VENV", Path.home() / ".cache" / "weft" / "ofa-peer-venv")) / "bin" / "python"
    if not python.exists() and setup:
        subprocess.run(["bash", str(PEER_DIR / "setup.sh")], check=True, capture_output=True)
    return python if python.exists() else None


def run_peer(*arguments: str) -> dict:
    """The peer's bench.py with `arguments`: {"json": its last JSON line, "peak_rss_mb", "wall_s"}."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen([str(peer_python()), str(PEER_DIR / "bench.py"), *arguments], stdout=out,
                                 stderr=err, text=True)
        # The child's peak RSS from its own /proc VmHWM, polled: wait4's ru_maxrss is no good here, as a
        # forked child inherits the parent's high-water mark (it read our 5 GB as the peer's).
        peak_kib = 0
        while True:
            pid, status, _ = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak_kib = max(peak_kib, _vm_hwm_kib(child.pid))
            time.sleep(0.2)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0), err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(f"peer bench.py {' '.join(arguments)} exited {child.returncode}: {err.read()[-2000:]}")
        lines = [line for line in out.read().splitlines() if line.startswith("{")]
    return {"json": json.loads(lines[-1]), "peak_rss_mb": round(peak_kib / 1024, 1), "wall_s": round(wall, 1)}


def _vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    except (OSError, ValueError):  # gone between the poll and the read
        return 0


def own_peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def release_free_heap() -> None:
    """Hand the heap that compiles freed back to the OS (glibc keeps it otherwise), so that the peer child
    and other processes on a full machine get that memory; our peak RSS is measured before this anyway."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict:
    """What a reader needs to judge the timings: cores, our niceness, load average now."""
    return {"cpus": os.cpu_count(), "nice": os.nice(0), "loadavg": load_average()}


def add_peer_arguments(parser) -> None:
    """The options every bench against the peer has: its threads, the CPU's peak, skipping it, a smoke run."""
    parser.add_argument("--threads", type=int, default=2, help="the peer's torch threads")
    parser.add_argument("--peak-gflops", type=float, default=131.0, help="sgemm peak of this CPU, GFLOP/s")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny mlp sizes, seconds; the peer skipped (it has only MobileNetV3)")


def parse_bench_arguments(parser, argv, smoke: list[str]):
    """The parsed options (`smoke` prepended under --smoke, the peer then skipped); compiles made cold."""
    import jax

    args = parser.parse_args(argv)
    if args.smoke:
        args = parser.parse_args([*smoke, *(sys.argv[1:] if argv is None else argv)])
        args.skip_peer = True
    jax.config.update("jax_enable_compilation_cache", False)  # cold compiles: nothing read from disk
    return args


def alternate(ours: Callable[[], dict[str, float]], peer: Callable[[], dict], rounds: int) -> dict:
    """`rounds` rounds of our timed block and the peer's, the first side alternating (ours first in round 1).

    `ours()` returns {figure: ms}; `peer()` returns a dict with at least "ms". Per round and figure the
    ratio peer ms / our ms; the summary holds the per-round lists, the median ratio and its [min, max],
    and the load average at the start of each round.
    """
    records = []
    release_free_heap()
    for index in range(rounds):
        record = {"round": index + 1, "first": "ours" if index % 2 == 0 else "peer", "loadavg": load_average()}
        for side in (("ours", "peer") if index % 2 == 0 else ("peer", "ours")):
            record[side] = ours() if side == "ours" else peer()
        records.append(record)
    figures = list(records[0]["ours"])
    ratios = {name: [record["peer"]["ms"] / record["ours"][name] for record in records] for name in figures}
    return {
        "rounds": rounds, "order": [record["first"] + " first" for record in records],
        "ours_ms_per_round": {name: [round(r["ours"][name], 1) for r in records] for name in figures},
        "ours_ms": {name: round(statistics.median(r["ours"][name] for r in records), 1) for name in figures},
        "peer_ms_per_round": [round(r["peer"]["ms"], 1) for r in records],
        "peer_ms": round(statistics.median(r["peer"]["ms"] for r in records), 1),
        "ratio_per_round": {name: [round(v, 2) for v in values] for name, values in ratios.items()},
        "ratio_median": {name: round(statistics.median(values), 2) for name, values in ratios.items()},
        "ratio_range": {name: [round(min(values), 2), round(max(values), 2)] for name, values in ratios.items()},
        "loadavg_per_round": [record["loadavg"] for record in records],
        "peer_per_round": [{k: v for k, v in r["peer"].items() if k != "ms"} for r in records],
    }


def random_arch(rng: random.Random) -> dict:
    """OFA's `sample_active_subnet` draw order: 20 kernels, 20 expand ratios, 5 depths, each uniform."""
    return {"ks": [rng.choice(KS) for _ in range(BLOCKS)], "e": [rng.choice(ER) for _ in range(BLOCKS)],
            "d": [rng.choice(DL) for _ in range(STAGES)]}


def to_weft(ofa_arch: dict) -> dict:
    """An OFA arch {"ks", "e", "d"} as our MobileNetV3 decisions (block i of stage j is OFA slot 4(j-1)+i);
    kernels and expand ratios of blocks beyond a stage's depth are inactive there and here."""
    arch = {}
    for stage in range(STAGES):
        arch[f"s{stage + 1}.depth"] = ofa_arch["d"][stage]
        for block in range(4):
            slot = 4 * stage + block
            arch[f"s{stage + 1}.b{block}.kernel"] = ofa_arch["ks"][slot]
            arch[f"s{stage + 1}.b{block}.expand"] = ofa_arch["e"][slot]
    return arch


def ofa_sandwich_archs(step: int) -> list[dict]:
    """The peer's two random subnets of sandwich step `step` (bench.py section a, OFA's seeding formula)."""
    return [random_arch(random.Random(int("%d%.3d%.3d" % (step, k, 0)))) for k in range(2)]


def ofa_eval_archs(seed: int, count: int) -> list[dict]:
    """The peer's evaluated subnets (bench.py section c): `count` draws of one random.Random(seed + 1234)."""
    rng = random.Random(seed + 1234)
    return [random_arch(rng) for _ in range(count)]
