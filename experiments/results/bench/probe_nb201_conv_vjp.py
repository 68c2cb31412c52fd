"""Probe: grad of one NB201 step with all six edges one op (argv[1]), switched vs sliced, with the dense conv
before (plain lax conv, autodiff VJP) and after (supernets.ops.conv2d) its VJP; interleaved, medians of 3."""
import sys, time, jax, jax.numpy as jnp, numpy as np
from jax import lax
from nas.definition import get_definition
from nas.lowering import switched_apply, split, slice_subnet, standalone_apply
from supernets import ops
new_conv = ops.conv2d
def old_conv(x, kernel, stride):
    pad = kernel.shape[0] // 2
    return lax.conv_general_dilated(x, kernel, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
d = get_definition("nb201")
space, sup = d.build(d.resolve_options({'cells_per_stage': 1}, (32, 32, 3)))
g, p, s = split(sup)
x = jnp.asarray(np.random.default_rng(0).normal(size=(64, 32, 32, 3)), jnp.float32)
edges = ["node1.from0", "node2.from0", "node2.from1", "node3.from0", "node3.from1", "node3.from2"]
op = sys.argv[1]
arch = space.from_string(";".join(f"{e}={op}" for e in edges)); v = jnp.asarray(arch.to_vector())
sg, sp, ss = split(slice_subnet(sup, arch))
fns = {}
for name, conv in (("old", old_conv), ("new", new_conv)):
    ops.conv2d = conv
    sw = jax.jit(jax.grad(lambda p, v: jnp.sum(switched_apply(g, p, s, space, x, v, train=True)[0] ** 2)))
    sl = jax.jit(jax.grad(lambda p: jnp.sum(standalone_apply(sg, p, ss, x, train=True)[0] ** 2)))
    jax.block_until_ready(sw(p, v)); jax.block_until_ready(sl(sp))
    fns[name] = (sw, sl)
ops.conv2d = new_conv
times = {f"{n}-{k}": [] for n in fns for k in ("switch", "sliced")}
for r in range(3):
    for n, (sw, sl) in fns.items():
        for k, f, a in (("switch", sw, (p, v)), ("sliced", sl, (sp,))):
            t0 = time.perf_counter(); jax.block_until_ready(f(*a)); times[f"{n}-{k}"].append(time.perf_counter() - t0)
print(op, {k: round(1000 * float(np.median(v)), 1) for k, v in times.items()})
