"""Hardware cost of subnetworks: analytic FLOPs (multiply-adds) and params, measured
latency of sliced compiled subnets, and latency predictors that are jitted JAX functions.

Modules, one algorithm each: `layer_counts` (MACs/params of one layer), `cost_model`
(how a space describes its layers), `tables` (per-layer tables indexed by the arch
vector, hard and relaxed), `inputs` (what is counted for: H,W,C images or T tokens),
`counters` (FLOPs/params of archs), `device`, `timing`, `collect`,
`lut_predictor`, `mlp_predictor`, `predictor_io`, `metrics`, `report`.
"""
