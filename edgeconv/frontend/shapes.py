"""Shape inference as TFLite does it: the pass `infer_shapes`.

TFLite never trusts the shapes stored for the tensors ops write: each op's Prepare computes its
outputs' shapes from its inputs' shapes, its options and its constant inputs
(ResizeOutputTensor in LiteRT's tflite/kernels/*.cc) and resizes them. Converters rely on that:
a Keras model with a dynamic batch (`keras.Input(shape)`) is converted with placeholder shapes
(batch 1 everywhere, even where a SPACE_TO_BATCH_ND makes it 4). Graph inputs keep the shape
stored for them (TFLite runs a dynamic batch at its stored size, 1).

`infer_shapes` walks the ops in order, as TFLite's Prepare does. For each op it computes the
outputs' shapes with the op's rule (`SHAPE_RULES`, one small function per op family), checks
the op's structure (opchecks.check_op, on the inferred input shapes), and folds the op into
constants if its inputs are constant (folding.evaluate): SHAPE of a tensor is its inferred
shape, so a RESHAPE target or a TRANSPOSE_CONV output_shape computed by a SHAPE ->
STRIDED_SLICE -> PACK chain is known when the op that reads it is reached.

A rule refuses (ModelError naming the op) only what TFLite's Prepare refuses: shapes that do
not broadcast, a reshape to another element count, an uneven split. An index input that is not
constant (TFLite would size the output at run time) leaves the stored shape in place, for the
lowering to judge. Ops without a rule keep their stored shapes; an unsupported op never gets
here (passes.check_supported refuses it first).

Tensors whose stored shape differs from the inferred one are recorded in Graph.shape_changes:
TFLite Micro does not resize tensors and runs the stored shapes, so validation.py gives it the
model with TFLite's shapes written in (references.with_tensor_shapes), or takes TFLite's
reference kernels as the oracle where that cannot be done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from edgeconv.frontend.folding import FOLDABLE, NotFoldable, evaluate
from edgeconv.frontend.ir import Graph, ModelError, Op, Tensor
from edgeconv.frontend.opchecks import check_op
from edgeconv.frontend.slicing import SliceError, strided_slice_plan

Shape = tuple[int, ...]
ShapeRule = Callable[[Graph, Op], list[Shape]]

SHAPE_RULES: dict[str, ShapeRule] = {}

MAX_TENSOR_ELEMENTS = 1 << 28  # as the reader: far beyond any microcontroller model


# Same shape as lowering/ops/base.py's lowering() decorator; kept apart: each fills its own registry with its own type
def shape_rule(*opcodes: str) -> Callable[[ShapeRule], ShapeRule]:
    def register(fn: ShapeRule) -> ShapeRule:
        for code in opcodes:
            SHAPE_RULES[code] = fn
        return fn

    return register


class DynamicShape(Exception):
    """The output's shape depends on an input that is not constant: TFLite sizes it at run time."""


def _fail(graph: Graph, op: Op, message: str) -> ModelError:
    return ModelError(f"{op.describe(graph)}: {message}")


def _input(graph: Graph, op: Op, i: int) -> Tensor:
    if i >= len(op.inputs) or op.inputs[i] < 0:
        raise _fail(graph, op, f"input {i} is missing")
    return graph.tensors[op.inputs[i]]


def _shape(graph: Graph, op: Op, i: int) -> Shape:
    return tuple(int(d) for d in _input(graph, op, i).shape)


def _values(graph: Graph, op: Op, i: int) -> list[int]:
    """The constant integer values of input i (an index input: axes, sizes, paddings...)."""
    t = _input(graph, op, i)
    if t.data is None:
        raise DynamicShape
    return [int(v) for v in np.asarray(t.data).reshape(-1)]


def _fmt(shape) -> str:
    return str([int(d) for d in shape])


def _cdiv(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _norm_axis(graph: Graph, op: Op, axis: int, rank: int, what: str = "axis") -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise _fail(graph, op, f"{what} {axis} is out of range for rank {rank}")
    return a


# ---------------------------------------------------------------------------------------------
# Element-wise ops


@shape_rule(
    "LOGISTIC",
    "TANH",
    "RELU",
    "RELU6",
    "RELU_N1_TO_1",
    "RELU_0_TO_1",
    "HARD_SWISH",
    "LEAKY_RELU",
    "QUANTIZE",
    "DEQUANTIZE",
    "SOFTMAX",
    "LOG_SOFTMAX",
    "L2_NORMALIZATION",
    "LOCAL_RESPONSE_NORMALIZATION",
    "RSQRT",
    "SQRT",
    "SQUARE",
    "ABS",
    "EXP",
    "LOG",
    "NEG",
    "CAST",
    "ELU",
    "GELU",
    "FLOOR",
    "CEIL",
    "ROUND",
    "SIN",
    "COS",
    "SIGN",
    "LOGICAL_NOT",
    "ZEROS_LIKE",
    "ONES_LIKE",
    "REVERSE_V2",
)
def _same_as_input(graph: Graph, op: Op) -> list[Shape]:
    return [_shape(graph, op, 0)]


def broadcast_shape(graph: Graph, op: Op, *shapes: Shape) -> Shape:
    """TFLite's CalculateShapeForBroadcast (two or three inputs): shapes aligned at the right,
    each dimension equal or 1."""
    if all(s == shapes[0] for s in shapes):
        return shapes[0]
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] if i >= rank - len(s) else 1 for s in shapes]
        top = max(dims)
        if min(dims) == 0:
            top = 0
        if any(d not in (1, top) for d in dims):
            raise _fail(graph, op, f"input shapes {', '.join(_fmt(s) for s in shapes)} are not broadcastable")
        out.append(top)
    return tuple(out)


@shape_rule(
    "ADD",
    "SUB",
    "MUL",
    "DIV",
    "MAXIMUM",
    "MINIMUM",
    "SQUARED_DIFFERENCE",
    "FLOOR_DIV",
    "FLOOR_MOD",
    "POW",
    "EQUAL",
    "NOT_EQUAL",
    "LESS",
    "LESS_EQUAL",
    "GREATER",
    "GREATER_EQUAL",
    "LOGICAL_AND",
    "LOGICAL_OR",
    "PRELU",
)
def _broadcast_binary(graph: Graph, op: Op) -> list[Shape]:
    return [broadcast_shape(graph, op, _shape(graph, op, 0), _shape(graph, op, 1))]


def _stored_scalar_select(graph: Graph, op: Op) -> Shape | None:
    """TFLite's SelectPrepare keeps the stored output shape when every input and the output
    hold one value ("mixed shapes to represent a scalar")."""
    out = graph.tensors[op.outputs[0]].shape
    if all(int(np.prod(s, dtype=np.int64)) == 1 for s in (*(_shape(graph, op, i) for i in range(3)), out)):
        return tuple(out)
    return None


@shape_rule("SELECT_V2")
def _select_v2(graph: Graph, op: Op) -> list[Shape]:
    scalar = _stored_scalar_select(graph, op)
    if scalar is not None:
        return [scalar]
    return [broadcast_shape(graph, op, _shape(graph, op, 0), _shape(graph, op, 1), _shape(graph, op, 2))]


@shape_rule("SELECT")
def _select(graph: Graph, op: Op) -> list[Shape]:
    scalar = _stored_scalar_select(graph, op)
    if scalar is not None:
        return [scalar]
    c, x, y = _shape(graph, op, 0), _shape(graph, op, 1), _shape(graph, op, 2)
    if not (c == x == y):
        low_rank = len(c) == 0 or (len(c) == 1 and len(x) >= 1 and c[0] == x[0])
        if not low_rank or x != y:
            raise _fail(graph, op, f"condition {_fmt(c)} and inputs {_fmt(x)}, {_fmt(y)} do not fit SELECT")
    return [x]


# ---------------------------------------------------------------------------------------------
# Windows: convolutions and pools


def window_output_size(
    graph: Graph, op: Op, padding: int, in_size: int, filter_size: int, stride: int, dilation: int, what: str
) -> int:
    """TFLite's ComputeOutSizeChecked (padding 0 SAME, 1 VALID). TFLite refuses a negative size
    and gives an empty tensor for 0; edgeconv refuses both."""
    if padding not in (0, 1) or filter_size <= 0 or stride <= 0 or dilation <= 0:
        raise _fail(
            graph,
            op,
            f"padding {padding}, filter {filter_size}, stride {stride} and dilation {dilation} are not a valid window",
        )
    effective = (filter_size - 1) * dilation + 1
    out = _cdiv(in_size + stride - 1, stride) if padding == 0 else _cdiv(in_size + stride - effective, stride)
    if out <= 0:
        raise _fail(
            graph,
            op,
            f"the window of {effective} (filter {filter_size}, dilation {dilation}) does not fit "
            f"the input's {what} {in_size} with VALID padding: the output would be empty",
        )
    return out


def _spatial(graph: Graph, op: Op, x: Shape, fh: int, fw: int, dilated: bool) -> tuple[int, int]:
    o = op.options
    padding = int(o.get("padding", 0) or 0)
    dh = int(o.get("dilation_h_factor", 1) or 0) if dilated else 1
    dw = int(o.get("dilation_w_factor", 1) or 0) if dilated else 1
    oh = window_output_size(graph, op, padding, x[1], fh, int(o.get("stride_h", 0) or 0), dh, "height")
    ow = window_output_size(graph, op, padding, x[2], fw, int(o.get("stride_w", 0) or 0), dw, "width")
    return oh, ow


def _four_d(graph: Graph, op: Op, i: int, what: str) -> Shape:
    s = _shape(graph, op, i)
    if len(s) != 4:
        raise _fail(graph, op, f"{what} has shape {_fmt(s)}; TFLite's {op.opcode} needs 4-D")
    return s


@shape_rule("CONV_2D")
def _conv(graph: Graph, op: Op) -> list[Shape]:
    x, w = _four_d(graph, op, 0, "input"), _four_d(graph, op, 1, "filter")
    return [(x[0], *_spatial(graph, op, x, w[1], w[2], True), w[0])]


@shape_rule("DEPTHWISE_CONV_2D")
def _depthwise(graph: Graph, op: Op) -> list[Shape]:
    x, w = _four_d(graph, op, 0, "input"), _four_d(graph, op, 1, "filter")
    return [(x[0], *_spatial(graph, op, x, w[1], w[2], True), w[3])]


@shape_rule("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")
def _pool(graph: Graph, op: Op) -> list[Shape]:
    x = _four_d(graph, op, 0, "input")
    o = op.options
    return [
        (
            x[0],
            *_spatial(graph, op, x, int(o.get("filter_height", 0) or 0), int(o.get("filter_width", 0) or 0), False),
            x[3],
        )
    ]


@shape_rule("TRANSPOSE_CONV")
def _transpose_conv(graph: Graph, op: Op) -> list[Shape]:
    """The output is what the constant output_shape input (input 0) says."""
    t = _input(graph, op, 0)
    if t.dtype != "int32" or len(t.shape) != 1:
        raise _fail(
            graph,
            op,
            f"output_shape {t.describe()} is {t.dtype.upper()} of shape {_fmt(t.shape)}; TFLite "
            "needs a 1-D INT32 tensor",
        )
    return [tuple(_values(graph, op, 0))]


@shape_rule("FULLY_CONNECTED")
def _fully_connected(graph: Graph, op: Op) -> list[Shape]:
    x, w = _shape(graph, op, 0), _shape(graph, op, 1)
    if len(w) != 2:
        raise _fail(graph, op, f"weights have shape {_fmt(w)}; TFLite's FULLY_CONNECTED needs 2-D")
    units, depth = w
    if op.options.get("keep_num_dims", False):
        if not x:
            raise _fail(graph, op, "the input is a scalar; keep_num_dims needs a dimension to replace")
        return [x[:-1] + (units,)]
    return [(int(np.prod(x, dtype=np.int64)) // depth, units)]


@shape_rule("BATCH_MATMUL")
def _batch_matmul(graph: Graph, op: Op) -> list[Shape]:
    a, b = _shape(graph, op, 0), _shape(graph, op, 1)
    if not (2 <= len(a) <= 5 and 2 <= len(b) <= 5):
        raise _fail(graph, op, f"inputs {_fmt(a)} and {_fmt(b)}: TFLite's BATCH_MATMUL takes ranks 2 to 5")
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + a
    b = (1,) * (rank - len(b)) + b
    adj_x, adj_y = bool(op.options.get("adj_x", False)), bool(op.options.get("adj_y", False))
    batch = []
    for da, db in zip(a[:-2], b[:-2]):
        if da != db and da != 1 and db != 1:
            raise _fail(graph, op, f"batch dimensions of {_fmt(a)} and {_fmt(b)} do not broadcast")
        batch.append(db if da == 1 else da)
    depth_a = a[-2] if adj_x else a[-1]
    depth_b = b[-1] if adj_y else b[-2]
    if depth_a != depth_b:
        raise _fail(
            graph,
            op,
            f"inputs {_fmt(a)} and {_fmt(b)} (adj_x {adj_x}, adj_y {adj_y}) do not multiply: "
            f"depths {depth_a} and {depth_b}",
        )
    return [(*batch, a[-1] if adj_x else a[-2], b[-2] if adj_y else b[-1])]


# ---------------------------------------------------------------------------------------------
# Reshapes


def reshape_target(graph: Graph, op: Op) -> list[int]:
    """TFLite's GetOutputShape: a 1-D INT32 shape input if there is one, else the options'
    new_shape ([0] meaning a scalar, as legacy models write it)."""
    if len(op.inputs) == 2 and op.inputs[1] >= 0:
        s = graph.tensors[op.inputs[1]]
        if len(s.shape) == 1 and s.dtype == "int32":
            return _values(graph, op, 1)
    new_shape = [int(v) for v in (op.options.get("new_shape") or [])]
    return [] if new_shape == [0] else new_shape


@shape_rule("RESHAPE")
def _reshape(graph: Graph, op: Op) -> list[Shape]:
    """TFLite's ResolveOutputShape: at most one -1 (the stretch dimension), no other negative."""
    x = _shape(graph, op, 0)
    target = reshape_target(graph, op)
    n = int(np.prod(x, dtype=np.int64))
    if target.count(-1) > 1:
        raise _fail(graph, op, f"new shape {target} has more than one -1")
    if any(d < -1 for d in target):
        raise _fail(graph, op, f"new shape {target} has a negative dimension")
    known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
    if -1 in target:
        nonzero_in = int(np.prod([d for d in x if d != 0], dtype=np.int64))
        nonzero_out = int(np.prod([d for d in target if d not in (-1, 0)], dtype=np.int64))
        stretch = 0 if n == 0 and known != 0 else nonzero_in // nonzero_out
        target = [stretch if d == -1 else d for d in target]
    if int(np.prod(target, dtype=np.int64)) != n:
        raise _fail(
            graph,
            op,
            f"reshapes {_fmt(x)} ({n} elements) to {target} ({int(np.prod(target, dtype=np.int64))} elements)",
        )
    return [tuple(target)]


@shape_rule("SQUEEZE")
def _squeeze(graph: Graph, op: Op) -> list[Shape]:
    x = _shape(graph, op, 0)
    dims = [int(d) for d in (op.options.get("squeeze_dims") or [])]
    if not dims:
        return [tuple(d for d in x if d != 1)]
    drop = set()
    for d in dims:
        a = d + len(x) if d < 0 else d
        if not 0 <= a < len(x) or x[a] != 1:
            raise _fail(graph, op, f"squeeze_dims {d} does not name a dimension of size 1 of input shape {_fmt(x)}")
        drop.add(a)
    return [tuple(v for i, v in enumerate(x) if i not in drop)]


@shape_rule("EXPAND_DIMS")
def _expand_dims(graph: Graph, op: Op) -> list[Shape]:
    x = _shape(graph, op, 0)
    axis = _values(graph, op, 1)
    if len(axis) != 1:
        raise _fail(graph, op, f"axis has {len(axis)} values; EXPAND_DIMS takes one")
    a = _norm_axis(graph, op, axis[0], len(x) + 1)
    return [x[:a] + (1,) + x[a:]]


# ---------------------------------------------------------------------------------------------
# Data movement


@shape_rule("TRANSPOSE")
def _transpose(graph: Graph, op: Op) -> list[Shape]:
    x = _shape(graph, op, 0)
    perm = _values(graph, op, 1)
    if len(perm) != len(x) or sorted(perm) != list(range(len(x))):
        raise _fail(graph, op, f"perm {perm} is not a permutation of the {len(x)} input dimensions")
    return [tuple(x[p] for p in perm)]


@shape_rule("CONCATENATION")
def _concatenation(graph: Graph, op: Op) -> list[Shape]:
    shapes = [_shape(graph, op, i) for i in range(len(op.inputs))]
    first = shapes[0]
    axis = int(op.options.get("axis", 0) or 0)
    if not first and axis == 0 and all(_input(graph, op, i).data is not None for i in range(len(op.inputs))):
        if any(s for s in shapes):
            raise _fail(graph, op, "concatenates scalars with tensors")
        return [(len(shapes),)]
    a = _norm_axis(graph, op, axis, len(first))
    for s in shapes[1:]:
        if len(s) != len(first) or any(d != e for i, (d, e) in enumerate(zip(s, first)) if i != a):
            raise _fail(graph, op, f"input shapes {', '.join(_fmt(s) for s in shapes)} differ outside axis {axis}")
    return [first[:a] + (sum(s[a] for s in shapes),) + first[a + 1 :]]


@shape_rule("PACK")
def _pack(graph: Graph, op: Op) -> list[Shape]:
    shapes = [_shape(graph, op, i) for i in range(len(op.inputs))]
    count = int(op.options.get("values_count", 0) or 0)
    if count != len(shapes):
        raise _fail(graph, op, f"values_count {count} but {len(shapes)} inputs")
    if any(s != shapes[0] for s in shapes):
        raise _fail(graph, op, f"input shapes {', '.join(_fmt(s) for s in shapes)} differ")
    a = _norm_axis(graph, op, int(op.options.get("axis", 0) or 0), len(shapes[0]) + 1)
    return [shapes[0][:a] + (count,) + shapes[0][a:]]


@shape_rule("UNPACK")
def _unpack(graph: Graph, op: Op) -> list[Shape]:
    x = _shape(graph, op, 0)
    a = _norm_axis(graph, op, int(op.options.get("axis", 0) or 0), len(x))
    num = int(op.options.get("num", 0) or 0)
    if num != len(op.outputs) or num != x[a]:
        raise _fail(graph, op, f"num {num}, {len(op.outputs)} outputs and dimension {a} of {_fmt(x)} must agree")
    return [x[:a] + x[a + 1 :]] * num


@shape_rule("SPLIT")
def _split(graph: Graph, op: Op) -> list[Shape]:
    """Inputs: axis, then the tensor; num_splits equal parts."""
    axis = _values(graph, op, 0)
    x = _shape(graph, op, 1)
    a = _norm_axis(graph, op, axis[0] if axis else 0, len(x))
    n = int(op.options.get("num_splits", 0) or 0)
    if n != len(op.outputs) or n == 0:
        raise _fail(graph, op, f"num_splits {n} but {len(op.outputs)} outputs")
    if x[a] % n:
        raise _fail(graph, op, f"dimension {a} of {_fmt(x)} does not split evenly into {n}")
    return [x[:a] + (x[a] // n,) + x[a + 1 :]] * n


@shape_rule("SPLIT_V")
def _split_v(graph: Graph, op: Op) -> list[Shape]:
    """Inputs: the tensor, size_splits, axis; one size may be -1 (the rest)."""
    x = _shape(graph, op, 0)
    sizes = _values(graph, op, 1)
    axis = _values(graph, op, 2)
    a = _norm_axis(graph, op, axis[0] if axis else 0, len(x))
    if len(sizes) != len(op.outputs):
        raise _fail(graph, op, f"{len(sizes)} size_splits but {len(op.outputs)} outputs")
    if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
        raise _fail(graph, op, f"size_splits {sizes}: at most one -1 and no other negative size")
    known = sum(s for s in sizes if s != -1)
    if -1 in sizes:
        if known > x[a]:
            raise _fail(graph, op, f"size_splits {sizes} sum past dimension {a} of {_fmt(x)}")
        sizes = [x[a] - known if s == -1 else s for s in sizes]
    elif known != x[a]:
        raise _fail(graph, op, f"size_splits {sizes} do not sum to dimension {a} of {_fmt(x)}")
    return [x[:a] + (s,) + x[a + 1 :] for s in sizes]


@shape_rule("SLICE")
def _slice(graph: Graph, op: Op) -> list[Shape]:
    x = _shape(graph, op, 0)
    begin, size = _values(graph, op, 1), _values(graph, op, 2)
    if len(begin) != len(x) or len(size) != len(x):
        raise _fail(graph, op, f"begin {begin} and size {size} must have one value per dimension of {_fmt(x)}")
    out = []
    for d, (b, s) in enumerate(zip(begin, size)):
        if b < 0:
            # TFLite does not check it and reads before the input.
            raise _fail(graph, op, f"begin {b} of dimension {d} is negative")
        if s < 0:
            if s != -1:
                raise _fail(graph, op, f"size {s} of dimension {d} is invalid (-1 means the rest)")
            s = x[d] - b
        elif x[d] < b + s:
            raise _fail(graph, op, f"begin {b} and size {s} pass dimension {d} of {_fmt(x)}")
        out.append(s)
    return [tuple(out)]


@shape_rule("STRIDED_SLICE")
def _strided_slice(graph: Graph, op: Op) -> list[Shape]:
    x = _shape(graph, op, 0)
    begin, end, strides = _values(graph, op, 1), _values(graph, op, 2), _values(graph, op, 3)
    try:
        return [strided_slice_plan(x, begin, end, strides, op.options).output_shape]
    except SliceError as exc:
        raise _fail(graph, op, str(exc)) from None


@shape_rule("GATHER")
def _gather(graph: Graph, op: Op) -> list[Shape]:
    x, idx = _shape(graph, op, 0), _shape(graph, op, 1)
    axis = _norm_axis(graph, op, int(op.options.get("axis", 0) or 0), len(x))
    batch_dims = int(op.options.get("batch_dims", 0) or 0)
    batch_dims += len(idx) if batch_dims < 0 else 0
    if (
        not (0 <= batch_dims <= axis and batch_dims < len(x) and batch_dims <= len(idx))
        or x[:batch_dims] != idx[:batch_dims]
    ):
        raise _fail(
            graph, op, f"batch_dims {batch_dims} does not fit input {_fmt(x)}, positions {_fmt(idx)} and axis {axis}"
        )
    return [x[:axis] + idx[batch_dims:] + x[axis + 1 :]]


def _paddings(graph: Graph, op: Op, rank: int) -> list[tuple[int, int]]:
    values = _values(graph, op, 1)
    shape = _shape(graph, op, 1)
    if shape != (rank, 2):
        raise _fail(graph, op, f"paddings have shape {_fmt(shape)}; an input of rank {rank} needs [{rank}, 2]")
    pairs = list(zip(values[0::2], values[1::2]))
    if any(p < 0 for pair in pairs for p in pair):
        raise _fail(graph, op, f"paddings {[list(p) for p in pairs]} have a negative value")
    return pairs


@shape_rule("PAD", "PADV2")
def _pad(graph: Graph, op: Op) -> list[Shape]:
    x = _shape(graph, op, 0)
    return [tuple(d + lo + hi for d, (lo, hi) in zip(x, _paddings(graph, op, len(x))))]


@shape_rule("MIRROR_PAD")
def _mirror_pad(graph: Graph, op: Op) -> list[Shape]:
    """REFLECT (mode 0) pads at most dimension - 1, SYMMETRIC (mode 1) at most the dimension."""
    x = _shape(graph, op, 0)
    pairs = _paddings(graph, op, len(x))
    offset = 1 if int(op.options.get("mode", 0) or 0) == 0 else 0
    for d, (lo, hi) in zip(x, pairs):
        if max(lo, hi) > d - offset:
            raise _fail(
                graph,
                op,
                f"paddings {[list(p) for p in pairs]} are larger than {_fmt(x)} allows "
                f"({'REFLECT' if offset else 'SYMMETRIC'})",
            )
    return [tuple(d + lo + hi for d, (lo, hi) in zip(x, pairs))]


@shape_rule("TILE")
def _tile(graph: Graph, op: Op) -> list[Shape]:
    x = _shape(graph, op, 0)
    m = _values(graph, op, 1)
    if len(m) != len(x) or min(m, default=0) < 0:
        raise _fail(graph, op, f"multiples {m} must be one non-negative value per dimension of {_fmt(x)}")
    return [tuple(d * k for d, k in zip(x, m))]


@shape_rule("BROADCAST_TO")
def _broadcast_to(graph: Graph, op: Op) -> list[Shape]:
    x = _shape(graph, op, 0)
    target = _values(graph, op, 1)
    extra = len(target) - len(x)
    if extra < 0 or any(d != 1 and d != target[extra + i] for i, d in enumerate(x)):
        raise _fail(graph, op, f"shape {target} is not broadcastable from input {_fmt(x)}")
    return [tuple(target)]


def _block_op(graph: Graph, op: Op) -> tuple[Shape, list[int], list[int], int]:
    x = _shape(graph, op, 0)
    spatial = len(x) - 2
    block, pads = _values(graph, op, 1), _values(graph, op, 2)
    if spatial < 1 or len(block) != spatial or _shape(graph, op, 2) != (spatial, 2):
        raise _fail(
            graph,
            op,
            f"block_shape {block} and paddings/crops of shape {_fmt(_shape(graph, op, 2))} do not fit input {_fmt(x)}",
        )
    if min(block) < 1:
        raise _fail(graph, op, f"block_shape {block} has a value below 1")
    return x, block, pads, spatial


@shape_rule("SPACE_TO_BATCH_ND")
def _space_to_batch(graph: Graph, op: Op) -> list[Shape]:
    x, block, pads, spatial = _block_op(graph, op)
    out = [x[0] * int(np.prod(block, dtype=np.int64))]
    for d in range(spatial):
        padded = x[d + 1] + pads[2 * d] + pads[2 * d + 1]
        if padded % block[d]:
            raise _fail(
                graph,
                op,
                f"padded dimension {d + 1} ({padded}) of input {_fmt(x)} is not a multiple of block {block[d]}",
            )
        out.append(padded // block[d])
    return [tuple(out) + (x[-1],)]


@shape_rule("BATCH_TO_SPACE_ND")
def _batch_to_space(graph: Graph, op: Op) -> list[Shape]:
    x, block, crops, spatial = _block_op(graph, op)
    if min(crops) < 0:
        raise _fail(graph, op, f"crops {crops} have a negative value")
    batch = x[0]
    out = []
    for d in range(spatial):
        if batch % block[d]:
            raise _fail(graph, op, f"batch {x[0]} of input {_fmt(x)} is not a multiple of block {block}")
        batch //= block[d]
        out.append(x[d + 1] * block[d] - crops[2 * d] - crops[2 * d + 1])
    return [(batch, *out, x[-1])]


@shape_rule("DEPTH_TO_SPACE")
def _depth_to_space(graph: Graph, op: Op) -> list[Shape]:
    x = _four_d(graph, op, 0, "input")
    b = int(op.options.get("block_size", 0) or 0)
    if b < 1 or x[3] % (b * b):
        raise _fail(graph, op, f"block_size {b} does not divide the {x[3]} channels into blocks of {b}x{b}")
    return [(x[0], x[1] * b, x[2] * b, x[3] // (b * b))]


@shape_rule("SPACE_TO_DEPTH")
def _space_to_depth(graph: Graph, op: Op) -> list[Shape]:
    x = _four_d(graph, op, 0, "input")
    b = int(op.options.get("block_size", 0) or 0)
    if b < 1 or x[1] % b or x[2] % b:
        raise _fail(graph, op, f"block_size {b} does not divide height {x[1]} and width {x[2]}")
    return [(x[0], x[1] // b, x[2] // b, x[3] * b * b)]


@shape_rule("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
def _resize(graph: Graph, op: Op) -> list[Shape]:
    x = _four_d(graph, op, 0, "input")
    size = _values(graph, op, 1)
    if len(size) != 2 or min(size) <= 0:
        raise _fail(graph, op, f"size {size} must be two positive values")
    return [(x[0], size[0], size[1], x[3])]


# ---------------------------------------------------------------------------------------------
# Reductions


@shape_rule("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "REDUCE_ANY", "REDUCE_ALL")
def _reduce(graph: Graph, op: Op) -> list[Shape]:
    """TFLite's reduce GetOutputShape: axes resolved (negative from the end, duplicates once);
    keep_dims leaves 1s, otherwise the axes go."""
    x = _shape(graph, op, 0)
    axes = [_norm_axis(graph, op, a, len(x)) for a in _values(graph, op, 1)] if x else []
    if op.options.get("keep_dims", False):
        return [tuple(1 if i in axes else d for i, d in enumerate(x))]
    return [tuple(d for i, d in enumerate(x) if i not in axes)]


@shape_rule("ARG_MAX", "ARG_MIN")
def _arg(graph: Graph, op: Op) -> list[Shape]:
    x = _shape(graph, op, 0)
    axis = _values(graph, op, 1)
    if len(axis) != 1:
        raise _fail(graph, op, f"axis has {len(axis)} values; {op.opcode} takes one")
    a = _norm_axis(graph, op, axis[0], len(x))
    return [x[:a] + x[a + 1 :]]


# ---------------------------------------------------------------------------------------------
# Shape arithmetic (folded to constants)


@shape_rule("SHAPE")
def _shape_op(graph: Graph, op: Op) -> list[Shape]:
    return [(len(_shape(graph, op, 0)),)]


@shape_rule("FILL")
def _fill(graph: Graph, op: Op) -> list[Shape]:
    dims = _values(graph, op, 0)
    if len(_shape(graph, op, 0)) != 1 or min(dims, default=0) < 0:
        raise _fail(graph, op, f"dims {dims} must be a 1-D tensor of non-negative sizes")
    return [tuple(dims)]


@shape_rule("RANGE")
def _range(graph: Graph, op: Op) -> list[Shape]:
    start, limit, delta = (_input(graph, op, i) for i in range(3))
    if any(t.data is None for t in (start, limit, delta)):
        raise DynamicShape
    s, lim, d = (np.asarray(t.data).reshape(-1)[0].item() for t in (start, limit, delta))
    if d == 0 or (s > lim and d > 0) or (s < lim and d < 0):
        raise _fail(graph, op, f"start {s}, limit {lim} and delta {d} do not make a range")
    if isinstance(s, int) and isinstance(lim, int) and isinstance(d, int):
        return [((abs(lim - s) + abs(d) - 1) // abs(d),)]
    return [(int(np.ceil(abs((lim - s) / d))),)]


# ---------------------------------------------------------------------------------------------
# The pass


def _output_problem(t: Tensor) -> str | None:
    if any(d < 0 for d in t.shape):
        return f"has a negative dimension in shape {_fmt(t.shape)}"
    if any(d == 0 for d in t.shape):
        return f"is zero-sized (shape {_fmt(t.shape)})"
    n = int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
    if n > MAX_TENSOR_ELEMENTS:
        return f"has an absurd shape {_fmt(t.shape)} ({n} elements)"
    return None


def output_shapes(graph: Graph, op: Op) -> list[Shape] | None:
    """The op's output shapes by its rule, given its inputs' shapes in `graph`; None where
    there is no rule, an index input is not constant, or the op is too malformed for the rule
    (opchecks and the lowering say what is wrong). A ModelError is a shape TFLite refuses."""
    rule = SHAPE_RULES.get(op.opcode)
    if rule is None or not op.outputs:
        return None
    try:
        shapes = rule(graph, op)
    except DynamicShape:
        return None
    except (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError):
        return None
    if len(shapes) != len(op.outputs):
        return None
    return [tuple(int(d) for d in s) for s in shapes]


def _foldable(graph: Graph, op: Op) -> bool:
    if op.opcode not in FOLDABLE or not op.outputs:
        return False
    outs = [graph.tensors[t] for t in op.outputs]
    if any(t.quant is not None for t in outs):
        return False  # quantized arithmetic is left to the kernels
    if op.opcode == "SHAPE":
        return True
    ins = [graph.tensors[i] for i in op.inputs if i >= 0]
    return bool(ins) and all(t.data is not None and t.quant is None for t in ins)


def _fold(graph: Graph, op: Op) -> dict[int, Tensor] | None:
    """The op's outputs as constant tensors, or None if it does not fold."""
    if not _foldable(graph, op):
        return None
    outs = [graph.tensors[t] for t in op.outputs]
    if op.opcode == "SHAPE":
        src = graph.tensors[op.inputs[0]] if op.inputs and op.inputs[0] >= 0 else None
        if src is None or len(outs) != 1 or outs[0].dtype not in ("int32", "int64"):
            return None
        args = [np.array(src.shape, dtype=np.int64)]
    else:
        args = [graph.tensors[i].data if i >= 0 else None for i in op.inputs]
    try:
        values = evaluate(op, args, [t.shape for t in outs], [t.dtype for t in outs])
    except (NotFoldable, ValueError, IndexError, TypeError, OverflowError):
        return None
    return {t.index: replace(t, data=v) for t, v in zip(outs, values)}


def infer_shapes(graph: Graph) -> Graph:
    """The pass: every op's outputs get the shapes TFLite's Prepare gives them, each op is
    checked (opchecks.check_op) on its inputs' inferred shapes, and ops on constants are folded
    into constants. Graph inputs keep their stored shapes."""
    tensors = dict(graph.tensors)
    changes = dict(graph.shape_changes)
    kept: list[Op] = []
    for op in graph.ops:
        current = replace(graph, tensors=tensors)
        refused: ModelError | None = None
        try:
            shapes = output_shapes(current, op)
        except ModelError as exc:  # TFLite refuses the shapes; opchecks' structural rules speak first
            refused, shapes = exc, None
        if shapes is not None:
            for t, s in zip(op.outputs, shapes):
                old = tensors[t]
                if old.shape != s:
                    changes[t] = (changes[t][0] if t in changes else old.shape, s)
                    tensors[t] = replace(old, shape=s)
            current = replace(graph, tensors=tensors)
        if refused is not None:
            # The op's structural rules speak first, but not about the output's stored shape,
            # which TFLite never reads: there the output stands in with its input's shape.
            first = tensors[op.inputs[0]].shape if op.inputs and op.inputs[0] in tensors else ()
            stand_in = {t: replace(tensors[t], shape=first) for t in op.outputs if t in tensors}
            check_op(replace(graph, tensors={**tensors, **stand_in}), op)
            raise refused
        check_op(current, op)
        for t in op.outputs:
            problem = _output_problem(tensors[t]) if t in tensors else None
            if problem:
                raise _fail(current, op, f"output {tensors[t].describe()} {problem}")
        folded = _fold(current, op)
        if folded is not None:
            tensors.update(folded)
            continue
        kept.append(op)
    return replace(graph, tensors=tensors, shape_changes=changes).with_ops(kept)
