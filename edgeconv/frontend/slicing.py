"""TFLite's STRIDED_SLICE index arithmetic, transcribed from LiteRT (tflite/kernels/strided_slice.cc
BuildStridedSliceParams and ResizeOutputTensor; tflite/kernels/internal/reference/strided_slice.h
StartForAxis and EndForAxis), for compile time.

One module because three users need the same numbers: shape inference (the output shape TFLite's
Prepare computes), constant folding (numpy evaluation of a slice of a constant) and the
STRIDED_SLICE lowering (the index tables of the copy).

The masks are resolved as LiteRT resolves them: an ellipsis spans the dimensions the indices do
not name, a new axis is a dimension of 1 inserted into the input (the "effective input shape"),
and dimensions beyond the indices are taken whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class SliceError(ValueError):
    """A slice TFLite refuses (or would compute from out-of-range indices): the message says why."""


@dataclass(frozen=True)
class StridedSlicePlan:
    """Per dimension of the effective input shape: where the copy starts, where it stops (one
    past the last index, C style: -1 for a backward slice that runs down to index 0) and its
    step; `shrink` marks the dimensions TFLite removes from the output."""

    effective_shape: tuple[int, ...]  # the input's shape with new axes (1) inserted
    starts: tuple[int, ...]
    stops: tuple[int, ...]
    strides: tuple[int, ...]
    shrink: tuple[bool, ...]
    output_shape: tuple[int, ...]  # what TFLite's ResizeOutputTensor gives (shrunk axes removed)

    def indices(self, axis: int) -> np.ndarray:
        """The input indices the copy reads along `axis` of the effective shape, in order."""
        return np.arange(self.starts[axis], self.stops[axis], self.strides[axis], dtype=np.int64)


def _count(begin: int, end: int, stride: int) -> int:
    n = end - begin
    if (n < 0) != (stride < 0):
        return 0
    if stride < 0:
        return (n + 1) // stride + 1 if n < 0 else 0
    return 0 if n == 0 else (n - 1) // stride + 1


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else lo if v < lo else v


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1) if i >= 0 else False


def strided_slice_plan(input_shape: tuple[int, ...], begin, end, strides, options: dict) -> StridedSlicePlan:
    """The plan of a STRIDED_SLICE of a tensor of `input_shape` with the given begin, end and
    strides vectors and StridedSliceOptions fields (begin_mask, end_mask, ellipsis_mask,
    new_axis_mask, shrink_axis_mask, offset). Raises SliceError where TFLite refuses."""
    begin = [int(v) for v in np.asarray(begin).reshape(-1)]
    end = [int(v) for v in np.asarray(end).reshape(-1)]
    strides = [int(v) for v in np.asarray(strides).reshape(-1)]
    if len(begin) != len(end):
        raise SliceError(f"begin has {len(begin)} values and end {len(end)}; TFLite needs as many")
    if len(strides) < len(begin):
        raise SliceError(f"strides has {len(strides)} values for {len(begin)} begin indices")
    if len(begin) > 31:
        raise SliceError("TFLite's STRIDED_SLICE takes at most 31 indices")
    begin_mask = int(options.get("begin_mask", 0) or 0)
    end_mask = int(options.get("end_mask", 0) or 0)
    ellipsis_mask = int(options.get("ellipsis_mask", 0) or 0)
    new_axis_mask = int(options.get("new_axis_mask", 0) or 0)
    shrink_mask = int(options.get("shrink_axis_mask", 0) or 0)
    offset = bool(options.get("offset", False))
    rank = len(input_shape)
    count = len(begin)

    # BuildStridedSliceParams: new axes (not under an ellipsis) add dimensions of 1.
    num_add_axis = sum(1 for i in range(count) if not _bit(ellipsis_mask, i) and _bit(new_axis_mask, i))
    dims = rank + num_add_axis
    eff_ellipsis = [False] * dims
    eff_new_axis = [False] * dims
    ellipsis_start, expanded = dims, 0
    i = 0
    while i < dims:
        if _bit(ellipsis_mask, i):
            ellipsis_start = i
            ellipsis_end = max(i + 1, min(i + 1 + num_add_axis + rank - count, dims))
            expanded = ellipsis_end - ellipsis_start - 1
            while i < ellipsis_end:
                eff_ellipsis[i] = True
                i += 1
            continue
        if _bit(new_axis_mask, i - expanded):
            eff_new_axis[i] = True
        i += 1

    eff_shape: list[int] = []
    starts_in = [0] * dims
    stops_in = [0] * dims
    steps = [1] * dims
    bmask = [False] * dims
    emask = [False] * dims
    shrink = [False] * dims
    added_ellipsis = added_axes = 0
    for i in range(dims):
        if eff_ellipsis[i]:
            added_ellipsis = max(0, i - ellipsis_start)
            bmask[i] = emask[i] = True
            eff_shape.append(int(input_shape[i - added_axes]))
        elif eff_new_axis[i]:
            stops_in[i] = 1
            eff_shape.append(1)
            added_axes += 1
        elif i >= count + expanded:
            bmask[i] = emask[i] = True
            eff_shape.append(int(input_shape[i - added_axes]))
        else:
            k = i - added_ellipsis
            starts_in[i], stops_in[i], steps[i] = begin[k], end[k], strides[k]
            bmask[i], emask[i], shrink[i] = _bit(begin_mask, k), _bit(end_mask, k), _bit(shrink_mask, k)
            eff_shape.append(int(input_shape[i - added_axes]))

    starts, stops, out = [], [], []
    for i in range(dims):
        size, stride = eff_shape[i], steps[i]
        if stride == 0:
            raise SliceError("stride value has to be non-zero")
        if stride == -(1 << 31):
            raise SliceError("stride value INT32_MIN is not supported")
        # StartForAxis
        start = starts_in[i] + (size if starts_in[i] < 0 else 0)
        start = _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)
        if bmask[i]:
            start = 0 if stride > 0 else size - 1
        # EndForAxis
        if shrink[i]:
            if not 0 <= start < size:
                raise SliceError(f"shrink_axis index {starts_in[i]} is outside dimension {i} of size {size}")
            stop = start + 1
        else:
            stop = stops_in[i] + (start if offset else 0)
            stop += size if stop < 0 else 0
            stop = _clamp(stop, 0, size) if stride > 0 else _clamp(stop, -1, size - 1)
            if emask[i]:
                stop = size if stride > 0 else -1
        starts.append(start)
        stops.append(stop)
        if shrink[i]:
            continue
        # ResizeOutputTensor: with offset, the dimension is end[i] itself (TFLite reads the end
        # vector at the effective index).
        if offset:
            if i >= len(end):
                raise SliceError("offset slicing with an ellipsis or new axis is not supported")
            n = end[i]
        else:
            n = stop - start
        dim = _count(0, n, stride)
        if dim > (1 << 31) - 1:
            raise SliceError(f"output dimension {i} overflows int32")
        out.append(dim)
    return StridedSlicePlan(tuple(eff_shape), tuple(starts), tuple(stops), tuple(steps), tuple(shrink), tuple(out))


def strided_slice_values(x: np.ndarray, plan: StridedSlicePlan) -> np.ndarray:
    """What TFLite's reference StridedSlice writes for input `x`, shaped as plan.output_shape."""
    y = np.asarray(x).reshape(plan.effective_shape)
    for axis in range(len(plan.effective_shape)):
        y = np.take(y, plan.indices(axis), axis=axis)
    if y.size != int(np.prod(plan.output_shape, dtype=np.int64)):
        raise SliceError("the slice's elements do not fill its output shape")
    return y.reshape(plan.output_shape)
