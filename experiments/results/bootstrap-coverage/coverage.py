"""How often the rank intervals of nas.rank_metrics contain the truth, on synthetic rankings at the arch counts
audits and ground truths use (12, 16, 32).

A population of archs has a latent quality q ~ N(0, 1). A ranker scores rho * q + sqrt(1 - rho^2) * noise, so
its population Kendall tau against q is (2 / pi) asin(rho). Each trial draws n archs, takes the percentile
bootstrap interval (2000 resamples, as every table) and records whether it holds the population value.
The paired margin (`margin_over_size`): a ranker at rho_r against one size ranker at rho_s, their noises
correlated at c (a supernet and size err on many of the same archs: c = 0.7; c = 0 is the hardest case); its
population margin is the difference of the two taus; with rho_r = rho_s the margin is 0 and a low end above 0
would be a false "clearly above size". The "low end > 0" share of a positive margin is the test's power.
Usage: python coverage.py N_LIST TRIALS OUT.json
"""
import json
import sys

import numpy as np

from nas.rank_metrics import (bootstrap_draws, kendall_tau, margin_over_size, percentile_interval, resampled)

n_list, trials, out_path = [int(x) for x in sys.argv[1].split(",")], int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(1)


def population_tau(rho):
    return 2 / np.pi * np.arcsin(rho)


def ranker(q, rho, noise=None):
    noise = rng.standard_normal(q.size) if noise is None else noise
    return rho * q + np.sqrt(1 - rho ** 2) * noise


def summary(truth, intervals):
    lows, highs = np.array([i[0] for i in intervals]), np.array([i[1] for i in intervals])
    return {"truth": round(float(truth), 4), "trials": len(intervals),
            "coverage": float(np.mean((lows <= truth) & (truth <= highs))),
            "truth_below_interval": float(np.mean(truth < lows)), "truth_above_interval": float(np.mean(truth > highs)),
            "low_above_zero": float(np.mean(lows > 0)), "mean_width": round(float(np.mean(highs - lows)), 4)}


results = {"trials": trials, "resamples": 2000, "level": 0.95, "kendall_tau": {}, "margin_over_size": {}}
for n in n_list:
    for rho in (0.5, 0.8, 0.95):
        intervals = []
        for t in range(trials):
            q = rng.standard_normal(n)
            intervals.append(percentile_interval(resampled(kendall_tau, ranker(q, rho), q,
                                                           bootstrap_draws(n, seed=t))))
        results["kendall_tau"][f"n={n} rho={rho}"] = row = summary(population_tau(rho), intervals)
        print("tau", n, rho, row, flush=True)
    for rho_r, rho_s, c in ((0.8, 0.8, 0.0), (0.9, 0.7, 0.0), (0.95, 0.8, 0.0),
                            (0.8, 0.8, 0.7), (0.9, 0.8, 0.7), (0.95, 0.9, 0.7)):
        intervals = []
        for t in range(trials):
            q, size_noise = rng.standard_normal(n), rng.standard_normal(n)
            size = ranker(q, rho_s, size_noise)
            own = ranker(q, rho_r, c * size_noise + np.sqrt(1 - c * c) * rng.standard_normal(n))
            margin = margin_over_size(own, q, {"size": size}, size, seed=t)["kendall_tau"]
            intervals.append(margin["interval"])
        results["margin_over_size"][f"n={n} ranker rho={rho_r} size rho={rho_s} noise correlation={c}"] = row = \
            summary(population_tau(rho_r) - population_tau(rho_s), intervals)
        print("margin", n, rho_r, rho_s, c, row, flush=True)
with open(out_path, "w") as f:
    json.dump(results, f, indent=1)
