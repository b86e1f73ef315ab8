"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR, int8 and int16, NHWC (TFLite Micro has no int16
bilinear: TFLite's reference kernel, the same ResizeBilinearInteger template, is its oracle).

All index arithmetic happens here, at compile time, and reaches the C kernels as tables:

- nearest neighbour: TFLite's GetNearestNeighbor computes its scale and source coordinate in
  float32 ((in - 1) / float(out - 1) with align_corners, in / float(out) otherwise; then
  (i + offset) * scale, rounded (align_corners) or floored); numpy float32 reproduces each
  IEEE single operation exactly.
- bilinear: TFLite Micro runs int8 through reference_ops::ResizeBilinearInteger, whose
  coordinates are Q10 integers (scale_10 rounded to nearest, C division truncating toward
  zero); the tables hold each output row's/column's two source indices and Q10 fraction.

No requantization happens in either op, as in TFLite.
"""

from __future__ import annotations

import math

import numpy as np

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import CArray, Kernel, const_input, fail, lowering, require_dtype
from quantize.fixedpoint import tflite_round


def nearest_source_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """reference_ops::GetNearestNeighbor for every output index, in float32 like TFLite."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    result = []
    for i in range(out_size):
        v = (f32(i) + offset) * scale  # float32 add, float32 multiply
        # std::round on a float is exact (half away from zero); floor + 0.5 in double is too,
        # since every float32 plus 0.5 is representable in double.
        src = tflite_round(float(v)) if align_corners else int(math.floor(float(v)))
        src = min(src, in_size - 1)
        if half_pixel_centers:
            src = max(0, src)
        result.append(src)
    return result


def _c_div(a: int, b: int) -> int:
    """C integer division: truncation toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def bilinear_table(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """ResizeBilinearInteger's (lower, upper, input_q10 - 1024 * lower) per output index."""
    one = 1 << 10
    scale_10 = (one * in_size + out_size // 2) // out_size
    if align_corners and out_size > 1:
        scale_10 = (one * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    table = []
    for i in range(out_size):
        if half_pixel_centers:
            scaled = i * scale_10 + scale_10 // 2 - (1 << 9)
        else:
            scaled = i * scale_10
        lower = max(_c_div(scaled, one), 0)
        upper = min(_c_div(scaled + one - 1, one), in_size - 1)
        table += [lower, upper, scaled - one * lower]
    return table


def _common(graph: Graph, op: Op, dtypes: tuple[str, ...] = ("int8",)):
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x, *dtypes)
    require_dtype(graph, op, y, x.dtype)
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise fail(graph, op, f"expects 4-D input and output, got {list(x.shape)} -> {list(y.shape)}")
    size = [int(v) for v in np.asarray(const_input(graph, op, 1, "size")).reshape(-1)]
    if len(size) != 2:
        raise fail(graph, op, f"size {size} must hold 2 values")
    b, in_h, in_w, c = (int(d) for d in x.shape)
    out_h, out_w = size
    if [int(d) for d in y.shape] != [b, out_h, out_w, c]:
        raise fail(graph, op, f"output {list(y.shape)} does not match input {list(x.shape)} resized to {size}")
    if min(out_h, out_w) < 1 or min(in_h, in_w) < 1:
        raise fail(graph, op, f"cannot resize {list(x.shape)} to {size}")
    align = bool(op.options.get("align_corners", False))
    half = bool(op.options.get("half_pixel_centers", False))
    return x, y, b, in_h, in_w, c, out_h, out_w, align, half


def _flags(align: bool, half: bool) -> str:
    return " ".join(n for n, f in (("align_corners", align), ("half_pixel_centers", half)) if f)


@lowering("RESIZE_NEAREST_NEIGHBOR")
def lower_resize_nearest(graph: Graph, op: Op) -> Kernel:
    x, y, b, in_h, in_w, c, out_h, out_w, align, half = _common(graph, op, ("int8", "int16"))
    ys = nearest_source_indices(in_h, out_h, align, half)
    xs = nearest_source_indices(in_w, out_w, align, half)
    # ec_resize_nearest_params_t's fields; like BILINEAR's below and pooling.py's, but kept apart: each C params struct
    # has its own fields, which this dict must match one for one
    return Kernel(
        func=f"ec_resize_nearest_{'s16' if x.dtype == 'int16' else 's8'}",
        unit="ec_resize",
        params_type="ec_resize_nearest_params_t",
        params=dict(
            batches=b,
            in_h=in_h,
            in_w=in_w,
            depth=c,
            out_h=out_h,
            out_w=out_w,
            y_offset=CArray(
                "int32_t", np.array([v * in_w * c for v in ys], dtype=np.int32), "table", program_memory=True
            ),
            x_offset=CArray("int32_t", np.array([v * c for v in xs], dtype=np.int32), "table", program_memory=True),
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"{in_h}x{in_w}->{out_h}x{out_w} {_flags(align, half)}".rstrip(),
    )


@lowering("RESIZE_BILINEAR")
def lower_resize_bilinear(graph: Graph, op: Op) -> Kernel:
    x, y, b, in_h, in_w, c, out_h, out_w, align, half = _common(graph, op, ("int8", "int16"))
    if align and half:
        # TFLite Micro's ResizeBilinearPrepare refuses this combination.
        raise fail(graph, op, "has both align_corners and half_pixel_centers; TFLite allows at most one")
    if (1 << 10) * max(in_h, in_w) + 2 * max(out_h, out_w) >= (1 << 31):
        # TFLite forms i * scale_10 in int32.
        raise fail(graph, op, f"resize {in_h}x{in_w}->{out_h}x{out_w} overflows TFLite's Q10 coordinates")
    y_table = bilinear_table(in_h, out_h, align, half)
    x_table = bilinear_table(in_w, out_w, align, half)
    for what, table, in_size in (("row", y_table, in_h), ("column", x_table, in_w)):
        # TFLite clamps the upper source index to the input but not the lower one: where the
        # rounded Q10 scale drifts past the last row (strong upscaling such as 5 -> 200), it
        # reads outside the input. Such a resize has no defined result, so it is refused.
        beyond = [i for i in range(0, len(table), 3) if table[i] > in_size - 1]
        if beyond:
            raise fail(
                graph,
                op,
                f"output {what} {beyond[0] // 3} maps to source {what} {table[beyond[0]]} of "
                f"{in_size} in TFLite's Q10 coordinates; TFLite would read outside the input",
            )
    # ec_resize_bilinear_params_t's fields; like NEAREST's above, but kept apart: each C params struct has its own
    # fields, which this dict must match one for one
    return Kernel(
        func=f"ec_resize_bilinear_{'s16' if x.dtype == 'int16' else 's8'}",
        unit="ec_resize",
        params_type="ec_resize_bilinear_params_t",
        params=dict(
            batches=b,
            in_h=in_h,
            in_w=in_w,
            depth=c,
            out_h=out_h,
            out_w=out_w,
            y_table=CArray("int32_t", np.array(y_table, dtype=np.int32), "table", program_memory=True),
            x_table=CArray("int32_t", np.array(x_table, dtype=np.int32), "table", program_memory=True),
        ),
        inputs=[x.index],
        outputs=[y.index],
        macs=b * out_h * out_w * c * 4,
        summary=f"{in_h}x{in_w}->{out_h}x{out_w} {_flags(align, half)}".rstrip(),
    )
