"""STRIDED_SLICE, SLICE (onto the strided copy, ops/copy.py) and SPLIT, SPLIT_V, UNPACK (one
input into many outputs, c_runtime/ec_concatenation.h), int8, int16 and int32.

Pure data movement: TFLite copies the values whatever the tensors' quantization says (UNPACK
is the exception: TFLite's Prepare requires each output's scale and zero point to equal the
input's, refused here likewise). Indices, sizes and axes are constants (TFLite Micro requires
them so) and are resolved at compile time:

- STRIDED_SLICE follows TFLite's reference StartForAxis/EndForAxis (negative indices count
  from the end, then clamp; begin/end masks take the whole axis; a shrunk axis takes one
  element). TFLite Micro handles at most 4 dimensions, ignores ellipsis_mask and
  new_axis_mask (TFLite honours them: such models are refused) and the `offset` option.
  A shrunk axis whose begin is past the end is refused: TFLite Micro's shape check counts
  one element there, its kernel copies none.
- SLICE: `size` -1 means up to the end; begin and begin + size must lie within the input
  (TFLite's Prepare).
- A slice that reads the whole input, or a prefix of it, in order moves nothing: an alias.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor, UnsupportedOpError
from edgeconv.lowering.ops.base import (
    DTYPE_SUFFIX,
    Alias,
    CArray,
    Kernel,
    const_input,
    fail,
    lowering,
    require_dtype,
    require_quant,
)
from edgeconv.lowering.ops.copy import copy_suffix, row_strides, strided_copy

DTYPES = ("int8", "int16", "int32")
STRIDED_SLICE_MAX_DIMS = 4  # TFLite Micro's strided_slice kMaxDim
SLICE_MAX_DIMS = 5  # TFLite Micro's slice kMaxDim


def _ints(graph: Graph, op: Op, position: int, what: str) -> list[int]:
    return [int(v) for v in np.asarray(const_input(graph, op, position, what)).reshape(-1)]


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else lo if v < lo else v


def strided_slice_axis(
    size: int, begin: int, end: int, stride: int, begin_mask: bool, end_mask: bool, shrink: bool
) -> tuple[int, int]:
    """(start, element count) along one axis, as reference_ops::StridedSlice walks it."""
    start = begin + size if begin < 0 else begin
    start = _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)
    if begin_mask:
        start = 0 if stride > 0 else size - 1
    if shrink:
        stop = start if start >= size else start + 1
    else:
        stop = end + size if end < 0 else end
        stop = _clamp(stop, 0, size) if stride > 0 else _clamp(stop, -1, size - 1)
        if end_mask:
            stop = size if stride > 0 else -1
    if stride > 0:
        count = max(0, -(-(stop - start) // stride))
    else:
        count = max(0, -(-(start - stop) // -stride))
    return start, count


@lowering("STRIDED_SLICE")
def lower_strided_slice(graph: Graph, op: Op):
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    copy_suffix(graph, op, x, y, DTYPES)
    rank = len(x.shape)
    if rank > STRIDED_SLICE_MAX_DIMS:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: input rank {rank} exceeds {STRIDED_SLICE_MAX_DIMS} (TFLite Micro's STRIDED_SLICE)"
        )
    o = op.options
    for field in ("ellipsis_mask", "new_axis_mask"):
        if int(o.get(field, 0)):
            raise UnsupportedOpError(
                f"{op.describe(graph)}: {field} {int(o[field])} is not supported (TFLite Micro "
                "ignores it, TFLite honours it)"
            )
    if o.get("offset", False):
        raise UnsupportedOpError(f"{op.describe(graph)}: the offset option is not supported (TFLite Micro ignores it)")
    begin = _ints(graph, op, 1, "begin")
    end = _ints(graph, op, 2, "end")
    strides = _ints(graph, op, 3, "strides")
    if not len(begin) == len(end) == len(strides) == rank:
        raise fail(
            graph,
            op,
            f"begin, end and strides have {len(begin)}, {len(end)}, {len(strides)} values; "
            f"the input has {rank} dimensions",
        )
    if 0 in strides:
        raise fail(graph, op, "stride value has to be non-zero")
    bm, em, sm = (int(o.get(f, 0)) for f in ("begin_mask", "end_mask", "shrink_axis_mask"))
    row = row_strides(x.shape)
    dims, walk, offset, shape = [], [], 0, []
    for a in range(rank):
        shrink = bool(sm >> a & 1)
        start, count = strided_slice_axis(
            int(x.shape[a]), begin[a], end[a], strides[a], bool(bm >> a & 1), bool(em >> a & 1), shrink
        )
        if shrink and count != 1:
            raise fail(graph, op, f"shrinks axis {a} at index {begin[a]}, outside its size {x.shape[a]}")
        if count == 0:
            raise fail(graph, op, f"axis {a} slices no element; empty tensors are not supported")
        if not shrink:
            shape.append(count)
        dims.append(count)
        walk.append(strides[a] * row[a])
        offset += start * row[a]
    if list(y.shape) != shape:
        raise fail(graph, op, f"output {list(y.shape)} differs from the slice's shape {shape}")
    return strided_copy(
        graph,
        op,
        x,
        y,
        dims,
        walk,
        offset,
        f"begin {begin} end {end} strides {strides}" + (f" masks {bm},{em},{sm}" if bm | em | sm else ""),
    )


@lowering("SLICE")
def lower_slice(graph: Graph, op: Op):
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    copy_suffix(graph, op, x, y, DTYPES)
    rank = len(x.shape)
    if rank > SLICE_MAX_DIMS:
        raise UnsupportedOpError(f"{op.describe(graph)}: input rank {rank} exceeds {SLICE_MAX_DIMS}")
    b, s = graph.tensors[op.inputs[1]], graph.tensors[op.inputs[2]]
    if b.dtype != s.dtype:
        raise fail(graph, op, f"begin is {b.dtype.upper()} but size is {s.dtype.upper()}; TFLite needs one type")
    begin = _ints(graph, op, 1, "begin")
    size = _ints(graph, op, 2, "size")
    if not len(begin) == len(size) == rank:
        raise fail(
            graph, op, f"begin and size have {len(begin)} and {len(size)} values; the input has {rank} dimensions"
        )
    size = [int(d) - bg if sz == -1 else sz for d, bg, sz in zip(x.shape, begin, size)]
    for a in range(rank):
        if begin[a] < 0 or size[a] < 1 or begin[a] + size[a] > x.shape[a]:
            raise fail(graph, op, f"begin {begin[a]} size {size[a]} is outside axis {a} of size {x.shape[a]}")
    if list(y.shape) != size:
        raise fail(graph, op, f"output {list(y.shape)} differs from the slice's size {size}")
    row = row_strides(x.shape)
    return strided_copy(
        graph, op, x, y, size, row, sum(bg * r for bg, r in zip(begin, row)), f"begin {begin} size {size}"
    )


def _split(graph: Graph, op: Op, x: Tensor, ys: list[Tensor], axis: int, summary: str):
    """One input into outputs along `axis`: each output its own run of each outer slice."""
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    if len(ys) == 1 and x.data is None:
        return Alias(source=x.index, target=ys[0].index)
    # ec_split_params_t's fields; like concatenation.py's (its mirror image), but kept apart: each C params struct has
    # its own fields, which this dict must match one for one
    return Kernel(
        func=f"ec_split_{DTYPE_SUFFIX[x.dtype]}",
        unit="ec_concatenation",
        params_type="ec_split_params_t",
        params=dict(
            num_outputs=len(ys),
            outer=outer,
            copy_sizes=CArray(
                "int32_t",
                np.array([int(np.prod(y.shape, dtype=np.int64)) // max(outer, 1) for y in ys], dtype=np.int32),
                "copy_sizes",
                program_memory=True,
            ),
        ),
        inputs=[x.index],
        outputs=[y.index for y in ys],
        outputs_as_array=True,
        summary=summary,
    )


def _split_io(graph: Graph, op: Op, data_position: int) -> tuple[Tensor, list[Tensor]]:
    x = graph.tensors[op.inputs[data_position]]
    ys = [graph.tensors[i] for i in op.outputs]
    require_dtype(graph, op, x, *DTYPES)
    for y in ys:
        require_dtype(graph, op, y, x.dtype)
    return x, ys


def _axis(graph: Graph, op: Op, position: int, rank: int) -> int:
    values = _ints(graph, op, position, "axis")
    if len(values) != 1:
        raise fail(graph, op, f"axis has {len(values)} values; expected one")
    axis = values[0] + rank if values[0] < 0 else values[0]
    if not 0 <= axis < rank:
        raise fail(graph, op, f"axis {values[0]} is out of range for rank {rank}")
    return axis


def _check_parts(graph: Graph, op: Op, x: Tensor, ys: list[Tensor], axis: int, sizes: list[int]) -> None:
    for y, n in zip(ys, sizes):
        expected = list(x.shape[:axis]) + [n] + list(x.shape[axis + 1 :])
        if list(y.shape) != expected:
            raise fail(graph, op, f"output {y.describe()} of shape {list(y.shape)} should be {expected}")


# Like SPLIT_V below (same first checks), but the axis and the sizes come from other inputs: kept apart so each reads as
# TFLite's kernel does
@lowering("SPLIT")
def lower_split(graph: Graph, op: Op):
    x, ys = _split_io(graph, op, 1)
    rank = len(x.shape)
    axis = _axis(graph, op, 0, rank)
    num = int(op.options.get("num_splits", 0))
    if num != len(ys):
        raise fail(graph, op, f"num_splits {num} differs from its {len(ys)} outputs (TFLite requires them equal)")
    if x.shape[axis] % num:
        raise fail(graph, op, f"axis {axis} of size {x.shape[axis]} does not split into {num} equal parts")
    _check_parts(graph, op, x, ys, axis, [int(x.shape[axis]) // num] * num)
    return _split(graph, op, x, ys, axis, f"{num} parts, axis {axis}")


# Like SPLIT above (same first checks), but axis and size_splits are inputs 2 and 1: kept apart so each reads as
# TFLite's kernel does
@lowering("SPLIT_V")
def lower_split_v(graph: Graph, op: Op):
    x, ys = _split_io(graph, op, 0)
    rank = len(x.shape)
    axis = _axis(graph, op, 2, rank)
    num = int(op.options.get("num_splits", 0))
    if num != len(ys):
        raise fail(graph, op, f"num_splits {num} differs from its {len(ys)} outputs (TFLite requires them equal)")
    sizes = _ints(graph, op, 1, "size_splits")
    if len(sizes) != num:
        raise fail(graph, op, f"size_splits has {len(sizes)} values for {num} outputs")
    if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
        raise fail(graph, op, f"size_splits {sizes} may hold at most one -1 and no other negative value")
    if -1 in sizes:
        sizes[sizes.index(-1)] = int(x.shape[axis]) - (sum(sizes) + 1)
    if sum(sizes) != x.shape[axis] or min(sizes) < 1:
        raise fail(
            graph, op, f"size_splits {sizes} do not split axis {axis} of size {x.shape[axis]} into non-empty parts"
        )
    _check_parts(graph, op, x, ys, axis, sizes)
    return _split(graph, op, x, ys, axis, f"sizes {sizes}, axis {axis}")


@lowering("UNPACK")
def lower_unpack(graph: Graph, op: Op):
    x, ys = _split_io(graph, op, 0)
    rank = len(x.shape)
    num = int(op.options.get("num", 0))
    if num != len(ys):
        raise fail(graph, op, f"num {num} differs from its {len(ys)} outputs (TFLite requires them equal)")
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise fail(graph, op, f"axis {op.options.get('axis', 0)} is out of range for rank {rank}")
    if x.shape[axis] != num:
        raise fail(graph, op, f"axis {axis} has size {x.shape[axis]}, not num {num}")
    expected = list(x.shape[:axis]) + list(x.shape[axis + 1 :])
    for y in ys:
        if list(y.shape) != expected:
            raise fail(graph, op, f"output {y.describe()} of shape {list(y.shape)} should be {expected}")
        if x.dtype != "int32":
            xq, yq = require_quant(graph, op, x), require_quant(graph, op, y)
            if (float(xq.s), xq.zp) != (float(yq.s), yq.zp):
                raise UnsupportedOpError(
                    f"{op.describe(graph)}: output {y.describe()} has scale {yq.s!r} and zero "
                    f"point {yq.zp}, the input {xq.s!r} and {xq.zp}; TFLite requires them equal "
                    "(UNPACK never requantizes)"
                )
    return _split(graph, op, x, ys, axis, f"{num} outputs, axis {axis}")
