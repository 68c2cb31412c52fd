"""ONNX forms of jax primitives: one small handler per primitive or family, in `HANDLERS`.

A handler takes the lowering context, the equation and its input Values and returns the output
Value(s); what it cannot express raises `Unsupported` naming the parameter (the walker adds where
the equation came from). Equations whose inputs are all constants never reach here: they are
evaluated at export time (`nas.onnx.lower`).
"""
from __future__ import annotations

import numpy as np

from nas.onnx.lower import Lowering, Unsupported, Value, prod

HANDLERS: dict = {}

INT64_MAX = np.iinfo(np.int64).max


def handles(*names):
    def register(handler):
        for name in names:
            HANDLERS[name] = handler
        return handler
    return register


def _out(eqn, i: int = 0):
    aval = eqn.outvars[i].aval
    return tuple(aval.shape), np.dtype(aval.dtype)


def _ints(values) -> np.ndarray:
    return np.array([int(v) for v in values], np.int64)


# -- elementwise ------------------------------------------------------------------------------

_UNARY = {"neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "tanh": "Tanh", "logistic": "Sigmoid",
          "abs": "Abs", "sign": "Sign", "floor": "Floor", "ceil": "Ceil", "erf": "Erf", "sin": "Sin",
          "cos": "Cos"}
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min", "pow": "Pow",
           "lt": "Less", "gt": "Greater", "le": "LessOrEqual", "ge": "GreaterOrEqual", "eq": "Equal"}


def _elementwise(op):
    def handler(ctx: Lowering, eqn, *xs):
        return ctx.emit(op, list(xs), *_out(eqn))
    return handler


for _name, _op in {**_UNARY, **_BINARY}.items():
    HANDLERS[_name] = _elementwise(_op)


@handles("rem")
def _rem(ctx, eqn, x, y):
    return ctx.emit("Mod", [x, y], *_out(eqn), fmod=1)  # C's fmod: the sign of the dividend, as lax.rem


@handles("ne")
def _ne(ctx, eqn, x, y):
    shape, dtype = _out(eqn)
    return ctx.emit("Not", [ctx.emit("Equal", [x, y], shape, dtype)], shape, dtype)


@handles("and", "or", "xor", "not")
def _logical(ctx, eqn, *xs):
    name = eqn.primitive.name
    boolean = xs[0].dtype == np.bool_
    op = name.capitalize() if boolean else "Bitwise" + name.capitalize()
    return ctx.emit(op, list(xs), *_out(eqn))


@handles("erfc")
def _erfc(ctx, eqn, x):
    shape, dtype = _out(eqn)  # ONNX has Erf only: erfc = 1 - erf
    return ctx.emit("Sub", [ctx.const(np.ones((), dtype)), ctx.emit("Erf", [x], shape, dtype)], shape, dtype)


@handles("rsqrt")
def _rsqrt(ctx, eqn, x):
    shape, dtype = _out(eqn)
    return ctx.emit("Reciprocal", [ctx.emit("Sqrt", [x], shape, dtype)], shape, dtype)


@handles("square")
def _square(ctx, eqn, x):
    return ctx.emit("Mul", [x, x], *_out(eqn))


@handles("integer_pow")
def _integer_pow(ctx, eqn, x):
    """x ** y by square-and-multiply, the multiplications XLA does."""
    shape, dtype = _out(eqn)
    y = eqn.params["y"]
    if y == 0:
        return ctx.emit("Expand", [ctx.const(np.ones((), dtype)), ctx.shape_tensor(shape, infer_one=False)],
                        shape, dtype)
    power, result, exponent = x, None, abs(y)
    while exponent:
        if exponent & 1:
            result = power if result is None else ctx.emit("Mul", [result, power], shape, dtype)
        exponent >>= 1
        if exponent:
            power = ctx.emit("Mul", [power, power], shape, dtype)
    return ctx.emit("Reciprocal", [result], shape, dtype) if y < 0 else result


@handles("clamp")
def _clamp(ctx, eqn, low, x, high):
    shape, dtype = _out(eqn)
    return ctx.emit("Max", [ctx.emit("Min", [x, high], shape, dtype), low], shape, dtype)


@handles("select_n")
def _select_n(ctx, eqn, which, *cases):
    shape, dtype = _out(eqn)
    if which.dtype == np.bool_:
        return ctx.emit("Where", [which, cases[1], cases[0]], shape, dtype)
    result = cases[-1]
    for i in reversed(range(len(cases) - 1)):
        chosen = ctx.emit("Equal", [which, ctx.const(np.array(i, which.dtype))], which.shape, np.bool_)
        result = ctx.emit("Where", [chosen, cases[i], result], shape, dtype)
    return result


@handles("convert_element_type")
def _convert(ctx, eqn, x):
    return ctx.cast(x, eqn.params["new_dtype"])


@handles("dim_as_value")
def _dim_as_value(ctx, eqn):
    shape, dtype = _out(eqn)
    k = ctx.multiple_of_batch(eqn.params["dim"])
    size = ctx.emit("Reshape", [ctx.batch_size(), ctx.const(np.zeros(0, np.int64))], (), np.int64)
    if k != 1:
        size = ctx.emit("Mul", [size, ctx.const(np.array(k, np.int64))], (), np.int64)
    return ctx.cast(size, dtype)


# -- shapes -----------------------------------------------------------------------------------

@handles("reshape")
def _reshape(ctx, eqn, x, *dynamic):
    if dynamic or eqn.params.get("dimensions") is not None:
        raise Unsupported("reshape with dynamic shapes or a dimension order")
    return ctx.reshape(x, eqn.params["new_sizes"])


@handles("transpose")
def _transpose(ctx, eqn, x):
    return ctx.transpose(x, eqn.params["permutation"])


@handles("squeeze")
def _squeeze(ctx, eqn, x):
    shape, dtype = _out(eqn)
    axes = [int(d) % x.ndim for d in eqn.params["dimensions"]]
    if not axes:
        return x
    return ctx.emit("Squeeze", [x, ctx.const(_ints(axes))], shape, dtype)


@handles("broadcast_in_dim")
def _broadcast_in_dim(ctx, eqn, x, *dynamic):
    if dynamic:
        raise Unsupported("broadcast_in_dim with dynamic shapes")
    shape, dtype = _out(eqn)
    kept = list(eqn.params["broadcast_dimensions"])  # strictly increasing
    inserted = [i for i in range(len(shape)) if i not in kept]
    if inserted:
        unit_shape = tuple(x.shape[kept.index(i)] if i in kept else 1 for i in range(len(shape)))
        x = ctx.emit("Unsqueeze", [x, ctx.const(_ints(inserted))], unit_shape, dtype)
    if tuple(x.shape) == tuple(shape):
        return x
    # Expand broadcasts: a dim the operand already has may stay 1 in the target.
    target = [1 if s == t and not isinstance(t, int) else t for s, t in zip(x.shape, shape)]
    return ctx.emit("Expand", [x, ctx.shape_tensor(target, infer_one=False)], shape, dtype)


@handles("concatenate")
def _concatenate(ctx, eqn, *xs):
    return ctx.emit("Concat", list(xs), *_out(eqn), axis=int(eqn.params["dimension"]))


@handles("split")
def _split(ctx, eqn, x):
    sizes, axis = [int(s) for s in eqn.params["sizes"]], int(eqn.params["axis"])
    names = ctx.node("Split", [ctx.name(x), ctx.const(_ints(sizes))], outputs=len(sizes), axis=axis)
    names = names if isinstance(names, list) else [names]
    return [Value(*_out(eqn, i), name=n) for i, n in enumerate(names)]


def _slice(ctx, x: Value, starts, limits, steps, shape, dtype) -> Value:
    """ONNX Slice over the axes that are not taken whole; a limit equal to a symbolic dim reads to its end."""
    axes, begins, ends, strides = [], [], [], []
    for axis, (start, limit, step, size) in enumerate(zip(starts, limits, steps, x.shape)):
        whole = start == 0 and step == 1 and (limit is size or limit == size)
        if whole:
            continue
        if not isinstance(start, int):
            raise Unsupported(f"a slice starting at {start}")
        if not isinstance(limit, int):
            if not limit == size:
                raise Unsupported(f"a slice ending at {limit} of a dim of size {size}")
            limit = INT64_MAX
        axes.append(axis), begins.append(start), ends.append(limit), strides.append(int(step))
    if not axes:
        return x
    return ctx.emit("Slice", [x, ctx.const(_ints(begins)), ctx.const(_ints(ends)), ctx.const(_ints(axes)),
                              ctx.const(_ints(strides))], shape, dtype)


@handles("slice")
def _slice_primitive(ctx, eqn, x):
    p = eqn.params
    steps = p["strides"] or (1,) * x.ndim
    return _slice(ctx, x, p["start_indices"], p["limit_indices"], steps, *_out(eqn))


@handles("dynamic_slice")
def _dynamic_slice(ctx, eqn, x, *starts):
    if any(s.const is None for s in starts):
        raise Unsupported("dynamic_slice at start indices computed from the input")
    sizes = eqn.params["slice_sizes"]
    begins = []
    for start, size, dim in zip(starts, sizes, x.shape):
        start = int(start.const)
        if not isinstance(dim, int):
            if not (size is dim or size == dim):
                raise Unsupported(f"dynamic_slice of {size} along a dim of batch size {dim}")
            begins.append(0)
            continue
        begins.append(min(max(start, 0), dim - size))  # XLA clamps the window into the array
    limits = [b + s if isinstance(s, int) else s for b, s in zip(begins, sizes)]
    return _slice(ctx, x, begins, limits, (1,) * x.ndim, *_out(eqn))


@handles("rev")
def _rev(ctx, eqn, x):
    axes = [int(d) for d in eqn.params["dimensions"]]
    if not axes:
        return x
    return ctx.emit("Slice", [x, ctx.const(np.full(len(axes), -1, np.int64)),
                              ctx.const(np.full(len(axes), np.iinfo(np.int64).min, np.int64)),
                              ctx.const(_ints(axes)), ctx.const(np.full(len(axes), -1, np.int64))], *_out(eqn))


@handles("pad")
def _pad(ctx, eqn, x, padding_value):
    shape, dtype = _out(eqn)
    config = eqn.params["padding_config"]
    if any(interior != 0 for _, _, interior in config):
        raise Unsupported(f"pad with interior padding {[c[2] for c in config]}")
    lows, highs = [max(int(lo), 0) for lo, _, _ in config], [max(int(hi), 0) for _, hi, _ in config]
    padded_shape = tuple(d + lo + hi for d, lo, hi in zip(x.shape, lows, highs))
    y = x
    if any(lows) or any(highs):
        y = ctx.emit("Pad", [x, ctx.const(_ints(lows + highs)), ctx.emit("Reshape", [
            padding_value, ctx.const(np.zeros(0, np.int64))], (), dtype)], padded_shape, dtype, mode="constant")
    if all(lo >= 0 and hi >= 0 for lo, hi, _ in config):
        return y
    starts = [-min(int(lo), 0) for lo, _, _ in config]  # negative padding cuts
    limits = [d + min(int(hi), 0) if isinstance(d, int) else d for d, (_, hi, _) in zip(padded_shape, config)]
    if any(not isinstance(d, int) and hi < 0 for d, (_, hi, _) in zip(padded_shape, config)):
        raise Unsupported("negative padding of a batch-sized dim")
    return _slice(ctx, y, starts, limits, (1,) * x.ndim, shape, dtype)


@handles("iota")
def _iota(ctx, eqn):
    raise Unsupported(f"iota of batch-dependent shape {eqn.params['shape']}")


# -- reductions -------------------------------------------------------------------------------

_REDUCE = {"reduce_sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin",
           "reduce_prod": "ReduceProd"}


def _reduce(op):
    def handler(ctx, eqn, x):
        axes = [int(a) for a in eqn.params["axes"]]
        if not axes:
            return x
        return ctx.emit(op, [x, ctx.const(_ints(axes))], *_out(eqn), keepdims=0)
    return handler


for _name, _op in _REDUCE.items():
    HANDLERS[_name] = _reduce(_op)


@handles("argmax", "argmin")
def _argmax(ctx, eqn, x):
    shape, dtype = _out(eqn)
    (axis,) = eqn.params["axes"]
    op = "ArgMax" if eqn.primitive.name == "argmax" else "ArgMin"
    return ctx.cast(ctx.emit(op, [x], shape, np.int64, axis=int(axis), keepdims=0), dtype)


@handles("cumsum")
def _cumsum(ctx, eqn, x):
    return ctx.emit("CumSum", [x, ctx.const(np.array(int(eqn.params["axis"]), np.int64))], *_out(eqn),
                    reverse=int(bool(eqn.params.get("reverse", False))))


# -- contractions -----------------------------------------------------------------------------

@handles("dot_general")
def _dot_general(ctx, eqn, lhs, rhs):
    """MatMul on (batch..., lhs free..., K) x (batch..., K, rhs free...), reshaped where XLA's
    dimension numbers group the dims otherwise. The output is (batch..., lhs free..., rhs free...)."""
    shape, dtype = _out(eqn)
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lc, rc, lb, rb = (list(map(int, d)) for d in (lc, rc, lb, rb))
    lf = [i for i in range(lhs.ndim) if i not in lc and i not in lb]
    rf = [i for i in range(rhs.ndim) if i not in rc and i not in rb]
    batch = [lhs.shape[i] for i in lb]
    lfree, rfree, contract = [lhs.shape[i] for i in lf], [rhs.shape[i] for i in rf], [lhs.shape[i] for i in lc]
    if not all(isinstance(d, int) for d in contract):
        raise Unsupported("dot_general contracting a batch-sized dim")
    k = prod(contract)
    a = ctx.reshape(ctx.transpose(lhs, lb + lf + lc), batch + lfree + [k])
    b = ctx.transpose(rhs, rb + rc + rf)
    if not batch:  # MatMul broadcasts a 2-D (or 1-D) right operand over the left's leading dims
        b = ctx.reshape(b, [k] + ([_prod(ctx, rfree)] if rfree else []))
        y_shape = tuple(lfree) + ((_prod(ctx, rfree),) if rfree else ())
    else:
        a = ctx.reshape(a, batch + [_prod(ctx, lfree), k])
        b = ctx.reshape(b, batch + [k, _prod(ctx, rfree)])
        y_shape = tuple(batch) + (_prod(ctx, lfree), _prod(ctx, rfree))
    a, b = ctx.cast(a, dtype), ctx.cast(b, dtype)
    y = ctx.emit("MatMul", [a, b], y_shape, dtype)
    return ctx.reshape(y, shape)


def _prod(ctx, dims):
    """The product of dims of which at most one is batch-sized."""
    symbolic = [d for d in dims if not isinstance(d, int)]
    if len(symbolic) > 1:
        raise Unsupported(f"dot_general merging several batch-sized dims {dims}")
    return prod(dims) if not symbolic else symbolic[0] * prod([d for d in dims if isinstance(d, int)])


@handles("conv_general_dilated")
def _conv(ctx, eqn, lhs, rhs):
    """ONNX Conv on NC(spatial), the operands transposed from XLA's dimension numbers and back."""
    p = eqn.params
    shape, dtype = _out(eqn)
    dn = p["dimension_numbers"]
    if any(d != 1 for d in p["lhs_dilation"]):
        raise Unsupported(f"conv_general_dilated with lhs_dilation {p['lhs_dilation']} (a transposed convolution)")
    if p["batch_group_count"] != 1:
        raise Unsupported(f"conv_general_dilated with batch_group_count {p['batch_group_count']}")
    padding = [(int(lo), int(hi)) for lo, hi in p["padding"]]
    if any(lo < 0 or hi < 0 for lo, hi in padding):
        raise Unsupported(f"conv_general_dilated with negative padding {padding}")
    x = ctx.transpose(lhs, dn.lhs_spec)
    w = ctx.cast(ctx.transpose(rhs, dn.rhs_spec), x.dtype)
    out_spec = list(dn.out_spec)
    y_shape = tuple(shape[a] for a in out_spec)
    y = ctx.emit("Conv", [x, w], y_shape, dtype, strides=[int(s) for s in p["window_strides"]],
                 pads=[lo for lo, _ in padding] + [hi for _, hi in padding],
                 dilations=[int(d) for d in p["rhs_dilation"]], group=int(p["feature_group_count"]))
    return ctx.transpose(y, [out_spec.index(a) for a in range(len(shape))])


def _pool(op, scale_by_window: bool):
    def handler(ctx, eqn, x):
        """Windows over some dims (the spatial ones) as an ONNX pool on (N, C, spatial...)."""
        p = eqn.params
        shape, dtype = _out(eqn)
        window, strides, padding = p["window_dimensions"], p["window_strides"], p["padding"]
        if any(d != 1 for d in tuple(p["base_dilation"]) + tuple(p["window_dilation"])):
            raise Unsupported(f"{eqn.primitive.name} with dilation {p['base_dilation']}, {p['window_dilation']}")
        spatial = [i for i in range(x.ndim) if window[i] != 1 or strides[i] != 1 or tuple(padding[i]) != (0, 0)]
        other = [i for i in range(x.ndim) if i not in spatial]
        if not 1 <= len(spatial) <= 3 or len(other) > 2:
            raise Unsupported(f"{eqn.primitive.name} over {len(spatial)} dims with {len(other)} others")
        y = ctx.transpose(x, other + spatial)
        units = 2 - len(other)
        if units:
            y = ctx.emit("Unsqueeze", [y, ctx.const(np.arange(units, dtype=np.int64))], (1,) * units + y.shape,
                         dtype)
        pooled_shape = (1,) * units + tuple(shape[i] for i in other + spatial)
        attributes = dict(kernel_shape=[int(window[i]) for i in spatial],
                          strides=[int(strides[i]) for i in spatial],
                          pads=[int(padding[i][0]) for i in spatial] + [int(padding[i][1]) for i in spatial])
        if scale_by_window:
            attributes["count_include_pad"] = 1
        y = ctx.emit(op, [y], pooled_shape, dtype, **attributes)
        if scale_by_window:  # an average over the padded window, times its size: the window's sum
            y = ctx.emit("Mul", [y, ctx.const(np.array(prod([window[i] for i in spatial]), dtype))],
                         pooled_shape, dtype)
        if units:
            y = ctx.emit("Squeeze", [y, ctx.const(np.arange(units, dtype=np.int64))], pooled_shape[units:], dtype)
        order = other + spatial
        return ctx.transpose(y, [order.index(a) for a in range(x.ndim)])
    return handler


HANDLERS["reduce_window_sum"] = _pool("AveragePool", scale_by_window=True)
HANDLERS["reduce_window_max"] = _pool("MaxPool", scale_by_window=False)


@handles("gather")
def _gather(ctx, eqn, operand, indices):
    """The take-along-one-axis gather (embedding lookups, x[:, i]) as ONNX Gather, then a transpose
    from ONNX's output order to XLA's offset dims."""
    p = eqn.params
    shape, dtype = _out(eqn)
    dn = p["dimension_numbers"]
    if indices.const is not None and prod(indices.shape[:-1]) == 1 and not dn.operand_batching_dims:
        return _gather_one_window(ctx, eqn, operand, indices.const.reshape(-1))
    (axis,) = dn.start_index_map if len(dn.start_index_map) == 1 else (None,)
    full = all(size is dim or size == dim for i, (size, dim) in enumerate(zip(p["slice_sizes"], operand.shape))
               if i != axis)
    if (axis is None or tuple(dn.collapsed_slice_dims) != (axis,) or dn.operand_batching_dims
            or indices.shape[-1] != 1 or not full or not isinstance(operand.shape[axis], int)):
        raise Unsupported(f"gather with dimension numbers {dn} and slice sizes {p['slice_sizes']} (only a take "
                          "along one axis lowers to ONNX)")
    size = operand.shape[axis]
    batch_shape = tuple(indices.shape[:-1])
    mode = str(p["mode"]).rsplit(".", 1)[-1].upper()
    if indices.const is not None:
        raw = indices.const.reshape(batch_shape).astype(np.int64)
        index = Value(batch_shape, np.dtype(np.int64), const=np.clip(raw, 0, size - 1))
        valid = None if mode != "FILL_OR_DROP" or ((raw >= 0) & (raw < size)).all() else (raw >= 0) & (raw < size)
        valid = None if valid is None else Value(valid.shape, np.dtype(np.bool_), const=valid)
    else:
        raw = ctx.emit("Squeeze", [indices, ctx.const(_ints([indices.ndim - 1]))], batch_shape, indices.dtype)
        index = ctx.emit("Clip", [raw, ctx.const(np.array(0, indices.dtype)), ctx.const(np.array(size - 1, indices.dtype))],
                         batch_shape, indices.dtype)
        valid = None
        if mode == "FILL_OR_DROP":
            low = ctx.emit("GreaterOrEqual", [raw, ctx.const(np.array(0, indices.dtype))], batch_shape, np.bool_)
            high = ctx.emit("Less", [raw, ctx.const(np.array(size, indices.dtype))], batch_shape, np.bool_)
            valid = ctx.emit("And", [low, high], batch_shape, np.bool_)
    onnx_order = [("operand", i) for i in range(axis)] + [("index", j) for j in range(len(batch_shape))] + \
                 [("operand", i) for i in range(axis + 1, operand.ndim)]
    onnx_shape = tuple(operand.shape[i] if kind == "operand" else batch_shape[i] for kind, i in onnx_order)
    y = ctx.emit("Gather", [operand, index], onnx_shape, dtype, axis=axis)
    offset_dims = list(dn.offset_dims)
    kept = [i for i in range(operand.ndim) if i != axis]
    xla_order, next_index = [], 0
    for position in range(len(shape)):
        if position in offset_dims:
            xla_order.append(("operand", kept[offset_dims.index(position)]))
        else:
            xla_order.append(("index", next_index))
            next_index += 1
    y = ctx.transpose(y, [onnx_order.index(entry) for entry in xla_order])
    if valid is None:
        return y
    fill = p.get("fill_value")
    if fill is None:
        fill = (np.nan if np.issubdtype(dtype, np.inexact) else True if dtype == np.bool_ else
                np.iinfo(dtype).min if np.issubdtype(dtype, np.signedinteger) else np.iinfo(dtype).max)
    # the validity of each index, placed on its dims of the output, 1 on the operand's
    valid_shape = tuple(1 if kind == "operand" else batch_shape[i] for kind, i in xla_order)
    valid = ctx.emit("Unsqueeze", [valid, ctx.const(_ints([a for a, (kind, _) in enumerate(xla_order)
                                                            if kind == "operand"]))], valid_shape, np.bool_)
    return ctx.emit("Where", [valid, y, ctx.const(np.array(fill, dtype))], shape, dtype)


def _gather_one_window(ctx, eqn, operand, starts):
    """A gather of one window at constant starts (static indexing such as x[:, 0] or x[:, -1, 1:3] of a
    batch of symbolic size): a Slice, then a Reshape dropping the collapsed dims."""
    p = eqn.params
    shape, dtype = _out(eqn)
    dn, sizes = p["dimension_numbers"], p["slice_sizes"]
    begins, limits = [], []
    for d, (size, dim) in enumerate(zip(sizes, operand.shape)):
        start = int(starts[list(dn.start_index_map).index(d)]) if d in dn.start_index_map else 0
        if not isinstance(dim, int) or not isinstance(size, int):
            if start != 0 or not (size is dim or size == dim):
                raise Unsupported(f"gather of a window of {size} at {start} along a batch-sized dim")
            begins.append(0), limits.append(dim)
            continue
        clamped = min(max(start, 0), dim - size)  # XLA clamps the window into the array ...
        if clamped != start and str(p["mode"]).upper().endswith("FILL_OR_DROP"):
            raise Unsupported(f"gather out of bounds (start {start} along a dim of {dim}) in fill mode")
        begins.append(clamped), limits.append(clamped + size)
    window = _slice(ctx, operand, begins, limits, (1,) * operand.ndim,
                    tuple(s if isinstance(s, int) else d for s, d in zip(sizes, operand.shape)), dtype)
    return ctx.reshape(window, shape)
