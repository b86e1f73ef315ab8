"""Constant folding: numpy evaluation of an op whose inputs are all constant.

The Keras converter writes shape arithmetic into models with a dynamic batch (SHAPE ->
STRIDED_SLICE -> PACK -> RESHAPE, TRANSPOSE_CONV's output_shape, FILL and RANGE on shapes).
Shape inference (shapes.infer_shapes) calls `evaluate` for every op whose inputs are constant
and unquantized, so that a later op's shape can read the folded values; quantized arithmetic is
always left to the kernels. `evaluate` raises NotFoldable wherever numpy would not compute
exactly what TFLite computes (the op then stays in the graph, to be lowered or refused).
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.dtypes import ELEMENT_TYPES
from edgeconv.frontend.ir import Op
from edgeconv.frontend.slicing import SliceError, strided_slice_plan, strided_slice_values

# Ops `evaluate` knows. SHAPE folds whatever its input (shapes are static after inference).
FOLDABLE = frozenset(
    {
        "SHAPE",
        "STRIDED_SLICE",
        "SLICE",
        "PACK",
        "UNPACK",
        "CONCATENATION",
        "RESHAPE",
        "SQUEEZE",
        "EXPAND_DIMS",
        "CAST",
        "GATHER",
        "ADD",
        "SUB",
        "MUL",
        "FLOOR_DIV",
        "FLOOR_MOD",
        "MAXIMUM",
        "MINIMUM",
        "NEG",
        "ABS",
        "FILL",
        "RANGE",
        "REDUCE_PROD",
        "SUM",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "TRANSPOSE",
        "TILE",
        "BROADCAST_TO",
        "SPLIT",
        "SPLIT_V",
        "ZEROS_LIKE",
        "ONES_LIKE",
    }
)

_INTEGER_ARITHMETIC = {
    "ADD": np.add,
    "SUB": np.subtract,
    "MUL": np.multiply,
    "MAXIMUM": np.maximum,
    "MINIMUM": np.minimum,
}
_REDUCERS = {"REDUCE_PROD": np.prod, "SUM": np.sum, "REDUCE_MAX": np.max, "REDUCE_MIN": np.min}


class NotFoldable(Exception):
    """numpy would not give TFLite's result here (or the op is not one `evaluate` knows)."""


def _ints(a: np.ndarray | None) -> list[int]:
    if a is None:
        raise NotFoldable
    return [int(v) for v in np.asarray(a).reshape(-1)]


def _axis(op: Op, rank: int, extra: int = 0) -> int:
    axis = int(op.options.get("axis", 0) or 0)
    axis += rank + extra if axis < 0 else 0
    if not 0 <= axis < rank + extra:
        raise NotFoldable
    return axis


def evaluate(
    op: Op, args: list[np.ndarray | None], out_shapes: list[tuple[int, ...]], out_dtypes: list[str]
) -> list[np.ndarray]:
    """The values of `op`'s outputs, given its constant inputs (None for an omitted one) and its
    outputs' inferred shapes and types. Raises NotFoldable."""
    values = _evaluate(op, args, out_shapes)
    result = []
    for v, shape, dtype in zip(values, out_shapes, out_dtypes):
        if dtype not in ELEMENT_TYPES:
            raise NotFoldable
        v = np.asarray(v)
        if v.size != int(np.prod(shape, dtype=np.int64)):
            raise NotFoldable
        result.append(
            np.array(v.astype(ELEMENT_TYPES[dtype].numpy).reshape(shape), order="C")
        )  # (ascontiguousarray makes 0-d 1-d)
    if len(result) != len(out_shapes):
        raise NotFoldable
    return result


def _evaluate(op: Op, args: list[np.ndarray | None], out_shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    code, o = op.opcode, op.options
    x = args[0] if args else None
    if x is None:
        raise NotFoldable
    x = np.asarray(x)
    if code == "SHAPE":  # the caller passes the input's (inferred) shape as the argument
        return [x]
    if code == "STRIDED_SLICE":
        try:
            plan = strided_slice_plan(x.shape, args[1], args[2], args[3], o)
            return [strided_slice_values(x, plan)]
        except SliceError:
            raise NotFoldable from None
    if code == "SLICE":
        begin, size = _ints(args[1]), _ints(args[2])
        if len(begin) != x.ndim or len(size) != x.ndim or min(begin, default=0) < 0:
            raise NotFoldable
        return [x[tuple(slice(b, x.shape[d] if s == -1 else b + s) for d, (b, s) in enumerate(zip(begin, size)))]]
    if code == "PACK":
        return [np.stack([np.asarray(a) for a in args], axis=_axis(op, x.ndim, 1))]
    if code == "UNPACK":
        axis = _axis(op, x.ndim)
        return [np.take(x, i, axis=axis) for i in range(x.shape[axis])]
    if code == "CONCATENATION":
        if x.ndim == 0:
            return [np.stack([np.asarray(a) for a in args])]
        return [np.concatenate([np.asarray(a) for a in args], axis=_axis(op, x.ndim))]
    if code in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
        return [x.reshape(out_shapes[0])]
    if code == "CAST":
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            raise NotFoldable
        return [x]  # astype to the output type: truncation toward zero, as static_cast
    if code == "GATHER":
        if int(o.get("batch_dims", 0) or 0) != 0 or args[1] is None:
            raise NotFoldable
        axis = _axis(op, x.ndim)
        idx = np.asarray(args[1]).astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= x.shape[axis]):
            raise NotFoldable  # TFLite refuses out-of-range positions at run time
        return [np.take(x, idx, axis=axis)]
    if code in _INTEGER_ARITHMETIC or code in ("FLOOR_DIV", "FLOOR_MOD"):
        y = np.asarray(args[1]) if args[1] is not None else None
        if y is None or x.dtype.kind != "i" or y.dtype.kind != "i":
            raise NotFoldable
        if code in ("FLOOR_DIV", "FLOOR_MOD"):
            if np.any(y == 0):
                raise NotFoldable
            return [(np.floor_divide if code == "FLOOR_DIV" else np.mod)(x.astype(np.int64), y.astype(np.int64))]
        return [_INTEGER_ARITHMETIC[code](x.astype(np.int64), y.astype(np.int64))]
    if code in ("NEG", "ABS"):
        if x.dtype.kind != "i":
            raise NotFoldable
        return [np.negative(x.astype(np.int64)) if code == "NEG" else np.abs(x.astype(np.int64))]
    if code in ("ZEROS_LIKE", "ONES_LIKE"):
        return [np.full(x.shape, 0 if code == "ZEROS_LIKE" else 1)]
    if code == "FILL":
        if args[1] is None:
            raise NotFoldable
        return [np.full(out_shapes[0], np.asarray(args[1]).reshape(-1)[0])]
    if code == "RANGE":
        if args[1] is None or args[2] is None or x.dtype.kind != "i":
            raise NotFoldable
        start, limit, delta = (int(np.asarray(a).reshape(-1)[0]) for a in args[:3])
        if delta == 0:
            raise NotFoldable
        return [np.arange(start, limit, delta)]
    if code in _REDUCERS:
        if x.dtype.kind not in "iu" or args[1] is None:
            raise NotFoldable
        axes = sorted({a + x.ndim if a < 0 else a for a in _ints(args[1])})
        keep = bool(o.get("keep_dims", False))
        return [_REDUCERS[code](x.astype(np.int64), axis=tuple(axes), keepdims=keep)]
    if code == "TRANSPOSE":
        return [np.transpose(x, _ints(args[1]))]
    if code == "TILE":
        return [np.tile(x, _ints(args[1]))]
    if code == "BROADCAST_TO":
        return [np.broadcast_to(x, out_shapes[0])]
    if code == "SPLIT":  # inputs: axis, value
        value = np.asarray(args[1]) if args[1] is not None else None
        if value is None:
            raise NotFoldable
        return list(np.split(value, len(out_shapes), axis=_ints(x)[0] % max(value.ndim, 1)))
    if code == "SPLIT_V":
        sizes = [s[_ints(args[2])[0] % x.ndim] for s in out_shapes]
        return list(np.split(x, np.cumsum(sizes)[:-1], axis=_ints(args[2])[0] % x.ndim))
    raise NotFoldable
