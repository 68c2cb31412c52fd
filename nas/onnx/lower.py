"""A jaxpr lowered to an ONNX graph: the walker, the graph builder and the shapes of a symbolic batch.

`to_onnx(fn, input_shape, dtype)` traces `fn` on a batch of symbolic size ("batch"), walks its jaxpr
and emits ONNX nodes per primitive (`nas.onnx.primitives`). Closed-over arrays (the params) become
initializers; an equation whose inputs are all constants is evaluated here, at export time (iota,
weight reshapes and transposes, masks), so the graph holds only what depends on the input.

Array dims are ints or multiples of the batch (`k * batch`); anything else is refused. Where a node
needs a shape at run time (Reshape, Expand), it is built from constants and the batch size read
from the input (`Shape(inputs)[0]`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

import jax
from jax._src import core as jax_core
from jax._src import source_info_util

from nas.errors import ExportError

OPSET = 18  # onnxruntime >= 1.14; ReduceMax/Min take their axes as an input from 18 on
IR_VERSION = 9
INPUT_NAME, OUTPUT_NAME, BATCH = "inputs", "logits", "batch"


class Unsupported(Exception):
    """Raised by a handler: what of the primitive has no ONNX form. The walker adds where it came from."""


@dataclass(eq=False)
class Value:
    """A jaxpr value during lowering: an ONNX tensor name, or a numpy constant known at export time."""
    shape: tuple
    dtype: np.dtype
    name: str | None = None
    const: np.ndarray | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _static(shape) -> bool:
    return all(isinstance(d, (int, np.integer)) for d in shape)


class Lowering:
    """The ONNX graph under construction, and what a handler needs to emit into it."""

    def __init__(self, batch):
        self.batch = batch  # the symbolic dim of the traced input
        self.nodes: list = []
        self.initializers: list = []
        self._names: dict[int, str] = {}
        self._named: list[Value] = []  # keeps the constants named so far alive: their ids stay unique
        self._counter = 0
        self._batch_size: str | None = None

    # -- names, constants, nodes ------------------------------------------------------

    def fresh(self, hint: str = "t") -> str:
        self._counter += 1
        return f"{hint}_{self._counter}"

    def name(self, value: Value) -> str:
        """The ONNX tensor of a value; a constant becomes an initializer on first use."""
        if value.name is not None:
            return value.name
        key = id(value)
        if key not in self._names:
            name = self.fresh("const")
            self.initializers.append(numpy_helper.from_array(np.asarray(value.const), name))
            self._names[key] = name
            self._named.append(value)
        return self._names[key]

    def const(self, array) -> str:
        return self.name(Value(np.shape(array), np.asarray(array).dtype, const=np.asarray(array)))

    def node(self, op: str, inputs: list[str], outputs: int = 1, **attributes) -> str | list[str]:
        names = [self.fresh(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, **attributes))
        return names[0] if outputs == 1 else names

    def emit(self, op: str, inputs: list, shape, dtype, **attributes) -> Value:
        """One node with one output; inputs are Values or tensor names."""
        names = [self.name(i) if isinstance(i, Value) else i for i in inputs]
        return Value(tuple(shape), np.dtype(dtype), name=self.node(op, names, **attributes))

    # -- dims and shapes -----------------------------------------------------------------

    def multiple_of_batch(self, dim) -> int:
        """k for a dim that is k * batch; ints are returned unchanged by `dims`."""
        try:
            k = dim // self.batch
            if isinstance(k, (int, np.integer)) and dim == k * self.batch:
                return int(k)
        except Exception:  # jax raises an InconclusiveDimensionOperation for anything not k * batch
            pass
        raise Unsupported(f"dimension {dim} is not a multiple of the batch size")

    def batch_size(self) -> str:
        """int64[1]: the batch size, read from the input once."""
        if self._batch_size is None:
            self._batch_size = self.node("Shape", [INPUT_NAME], start=0, end=1)
        return self._batch_size

    def shape_tensor(self, dims, infer_one: bool = True) -> str:
        """int64[len(dims)] for Reshape/Expand: constants, with a -1 for a single batch-dependent dim
        (`infer_one`, Reshape only) or the batch size multiplied out at run time."""
        symbolic = [i for i, d in enumerate(dims) if not isinstance(d, (int, np.integer))]
        if not symbolic:
            return self.const(np.array(dims, np.int64))
        if infer_one and len(symbolic) == 1:
            return self.const(np.array([-1 if i in symbolic else d for i, d in enumerate(dims)], np.int64))
        pieces = []
        for d in dims:
            if isinstance(d, (int, np.integer)):
                pieces.append(self.const(np.array([d], np.int64)))
            else:
                k = self.multiple_of_batch(d)
                pieces.append(self.batch_size() if k == 1 else
                              self.node("Mul", [self.batch_size(), self.const(np.array([k], np.int64))]))
        return self.node("Concat", pieces, axis=0)

    # -- helpers that fold constants ---------------------------------------------------------

    def transpose(self, value: Value, perm) -> Value:
        perm = [int(p) for p in perm]
        if perm == list(range(value.ndim)):
            return value
        shape = tuple(value.shape[p] for p in perm)
        if value.const is not None:
            return Value(shape, value.dtype, const=np.transpose(value.const, perm))
        return self.emit("Transpose", [value], shape, value.dtype, perm=perm)

    def reshape(self, value: Value, shape) -> Value:
        shape = tuple(shape)
        if tuple(value.shape) == shape:
            return value
        if value.const is not None and _static(shape):
            return Value(shape, value.dtype, const=value.const.reshape(shape))
        return self.emit("Reshape", [value, self.shape_tensor(shape)], shape, value.dtype)

    def cast(self, value: Value, dtype) -> Value:
        dtype = np.dtype(dtype)
        if value.dtype == dtype:
            return value
        if value.const is not None:
            return Value(value.shape, dtype, const=value.const.astype(dtype))
        return self.emit("Cast", [value], value.shape, dtype, to=helper.np_dtype_to_tensor_dtype(dtype))


# -- the walker --------------------------------------------------------------------------------

def _closed(jaxpr):
    """(jaxpr, consts) of a ClosedJaxpr or an open Jaxpr."""
    if hasattr(jaxpr, "consts"):
        return jaxpr.jaxpr, list(jaxpr.consts)
    return jaxpr, []


# Primitives that call a sub-jaxpr on all their operands: inlined. custom_jvp/vjp: their primal
# function (the derivative rules do not matter for inference).
_INLINED = {"pjit": "jaxpr", "jit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
            "custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr",
            "custom_vjp_call_jaxpr": "fun_jaxpr", "checkpoint": "jaxpr", "remat2": "jaxpr"}
_IDENTITIES = {"copy", "stop_gradient", "optimization_barrier", "sharding_constraint", "mesh_cast"}
_NOT_FOLDED = {"dim_as_value"}


def where(eqn) -> str:
    return source_info_util.summarize(eqn.source_info)


def lower_jaxpr(ctx: Lowering, jaxpr, consts, args: list[Value], outer: str = "") -> list[Value]:
    """The output Values of `jaxpr`; `outer` is where the equation that calls it came from."""
    from nas.onnx.primitives import HANDLERS

    env: dict = {}

    def read(var) -> Value:
        if isinstance(var, jax_core.Literal):
            array = np.asarray(var.val, dtype=var.aval.dtype)
            return Value(array.shape, array.dtype, const=array)
        return env[var]

    for var, const in zip(jaxpr.constvars, consts):
        array = np.asarray(const)
        env[var] = Value(array.shape, array.dtype, const=array)
    for var, arg in zip(jaxpr.invars, args):
        env[var] = arg
    for eqn in jaxpr.eqns:
        inputs = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name in _INLINED:
            sub, sub_consts = _closed(eqn.params[_INLINED[name]])
            outputs = lower_jaxpr(ctx, sub, sub_consts, inputs, where(eqn) or outer)
        elif name in _IDENTITIES:
            outputs = inputs
        elif _foldable(eqn, inputs):
            outputs = [Value(r.shape, r.dtype, const=r) for r in _fold(eqn, [i.const for i in inputs])]
        else:
            handler = HANDLERS.get(name)
            try:
                if handler is None:
                    raise Unsupported(f"primitive {name!r} has no ONNX lowering in weft "
                                      "(nas/onnx/primitives.py lists those that do)")
                outputs = handler(ctx, eqn, *inputs)
            except Unsupported as error:
                origin = where(eqn) or outer
                raise ExportError(f"ONNX export: {error}" + (f"; it comes from {origin}" if origin else "")) from None
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for var, value in zip(eqn.outvars, outputs):
            if not isinstance(var, jax_core.DropVar):
                env[var] = value
    return [read(v) for v in jaxpr.outvars]


# Exact (IEEE-rounded or data-movement) primitives folded in numpy: an eager jax call compiles once per
# shape, which for the hundreds of weight reshapes of a network costs seconds.
_NUMPY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "max": np.maximum, "min": np.minimum,
    "neg": np.negative, "lt": np.less, "gt": np.greater, "le": np.less_equal, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal, "and": np.logical_and, "or": np.logical_or, "not": np.logical_not,
    "abs": np.abs, "square": np.square,
    "convert_element_type": lambda x, new_dtype, **_: x.astype(new_dtype),
    "reshape": lambda x, new_sizes, dimensions=None, **_: x.reshape(new_sizes) if dimensions is None else None,
    "transpose": lambda x, permutation: np.transpose(x, permutation),
    "squeeze": lambda x, dimensions: np.squeeze(x, tuple(dimensions)),
    "broadcast_in_dim": lambda x, shape, broadcast_dimensions, **_: np.broadcast_to(
        x.reshape([x.shape[broadcast_dimensions.index(i)] if i in broadcast_dimensions else 1
                   for i in range(len(shape))]), shape),
    "concatenate": lambda *xs, dimension: np.concatenate(xs, dimension),
    "select_n": lambda which, *cases: np.choose(which.astype(np.int64), cases) if which.shape else
    cases[int(which)],
    "iota": lambda dtype, shape, dimension, **_: np.broadcast_to(np.arange(shape[dimension], dtype=dtype).reshape(
        [-1 if i == dimension else 1 for i in range(len(shape))]), shape),
    "slice": lambda x, start_indices, limit_indices, strides: x[tuple(
        slice(a, b, s) for a, b, s in zip(start_indices, limit_indices, strides or (1,) * x.ndim))],
}


def _fold(eqn, arrays) -> list[np.ndarray]:
    """The outputs of an equation whose inputs are all known, evaluated now."""
    rule = _NUMPY.get(eqn.primitive.name)
    if rule is not None:
        try:
            result = rule(*arrays, **eqn.params)
        except TypeError:  # parameters this rule does not know: jax evaluates it
            result = None
        if result is not None:
            expected = eqn.outvars[0].aval
            result = np.ascontiguousarray(np.asarray(result, dtype=expected.dtype))
            if result.shape == tuple(expected.shape):
                return [result]
    results = eqn.primitive.bind(*[jax.numpy.asarray(a) for a in arrays], **eqn.params)
    return [np.asarray(r) for r in (results if eqn.primitive.multiple_results else [results])]


def _foldable(eqn, inputs) -> bool:
    return (eqn.primitive.name not in _NOT_FOLDED and all(i.const is not None for i in inputs)
            and all(_static(v.aval.shape) for v in eqn.outvars))


# -- the model ---------------------------------------------------------------------------------

def _value_info(name: str, shape, dtype, batch) -> onnx.ValueInfoProto:
    dims = []
    for d in shape:
        if isinstance(d, (int, np.integer)):
            dims.append(int(d))
        else:
            k = d // batch
            dims.append(BATCH if k == 1 else f"{k}*{BATCH}")
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), dims)


def to_onnx(fn, input_shape: tuple[int, ...], dtype, *, graph_name: str = "weft") -> onnx.ModelProto:
    """`fn`, a jax function of one array [batch, *input_shape] returning one array, as an ONNX model
    with input "inputs" and output "logits", the batch size free ("batch")."""
    batch = jax.export.symbolic_shape(BATCH)[0]
    dtype = np.dtype(dtype)
    closed = jax.jit(fn).trace(jax.ShapeDtypeStruct((batch, *input_shape), dtype)).jaxpr
    ctx = Lowering(batch)
    inputs = Value((batch, *input_shape), dtype, name=INPUT_NAME)
    outputs = lower_jaxpr(ctx, closed.jaxpr, closed.consts, [inputs])
    if len(outputs) != 1:
        raise ExportError(f"ONNX export: the function returns {len(outputs)} arrays; allowed: one (the logits)")
    (output,) = outputs
    ctx.nodes.append(helper.make_node("Identity", [ctx.name(output)], [OUTPUT_NAME]))
    out_aval = closed.out_avals[0]
    graph = helper.make_graph(ctx.nodes, graph_name,
                              [_value_info(INPUT_NAME, (batch, *input_shape), dtype, batch)],
                              [_value_info(OUTPUT_NAME, out_aval.shape, out_aval.dtype, batch)],
                              initializer=ctx.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="weft",
                              ir_version=IR_VERSION)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"ONNX export: the lowered graph is not valid ONNX: {first}") from None
    return model


def prod(dims):
    return math.prod(dims) if dims else 1
