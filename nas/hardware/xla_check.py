"""Cross-check of the analytic counts against XLA's `cost_analysis()` of sliced compiled subnets.

Convention difference: XLA counts a multiply-add as 2 flops and adds element-wise work
(norms, activations, bias and residual adds, pooling), so its flops / (2 x analytic MACs)
is a little above 1; it must be (nearly) the same for every arch. Depthwise convolutions
are compiled through XLA's grouped convolution here: the CPU default (a loop of shifted
taps) is a while loop, whose body XLA's cost analysis counts once.
"""
from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nas.hardware.counters import CostCounter
from nas.lowering import slice_subnet, split, standalone_apply
from nas.space import Arch


def xla_flops(supernet, arch: Arch, image_shape: tuple[int, ...], batch: int = 1) -> float:
    """XLA's flops of the eval forward of the sliced subnet of `arch` (compiled ahead of time)."""
    graphdef, params, stats = split(slice_subnet(supernet, arch))
    forward = jax.jit(lambda p, s, x: standalone_apply(graphdef, p, s, x, train=False)[0])
    x = jax.ShapeDtypeStruct((batch, *image_shape), jnp.float32)
    analysis = forward.lower(params, stats, x).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis["flops"])


def cross_check(counter: CostCounter, supernet, archs: Sequence[Arch], image_shape: tuple[int, ...],
                batch: int = 1) -> dict:
    """Per arch: analytic MACs, XLA flops and their ratio; with the ratios' spread."""
    rows = []
    for arch in archs:
        macs = counter.count(arch)["macs"] * batch
        flops = xla_flops(supernet, arch, image_shape, batch)
        rows.append({"arch": arch.to_string(), "macs": macs, "xla_flops": flops, "ratio": flops / (2 * macs)})
    ratios = np.array([r["ratio"] for r in rows])
    return {"rows": rows, "ratio_mean": float(ratios.mean()),
            "ratio_relative_spread": float((ratios.max() - ratios.min()) / ratios.mean())}
