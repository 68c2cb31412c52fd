"""Differentiable search on entangled weights: architecture parameters and the relaxed lowering.

Modules: `arch_params` (alpha per decision: init, softmax, Gumbel straight-through, argmax to a
canonical Arch, its own optimiser, JSON files), `superposition` (the supernet run on probability
vectors: TangleNAS superposition of entangled choices, DARTS mixed ops for op types, and the mixed-op
baseline for everything) and `single_path` (Single-Path NAS: no alpha; per nested decision, trainable
thresholds on the sizes of the weight subsets each larger choice adds decide, their straight-through
indicators cascaded into the per-choice weights the relaxed forward reads). The layers' side is
`supernets/relaxed.py`.
"""
