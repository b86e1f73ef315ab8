"""Table-driven unary ops: what every lowering of an int8 (or interpolated int16) lookup table
shares. A table is made at compile time with the reference's own arithmetic (TFLite's
LUTPopulate in float32 with the C library's float functions, or an integer kernel evaluated
for each of the 256 int8 inputs) and emitted as a const array; the kernel (c_runtime/ec_lut.c)
only looks values up. No lowering is registered here; see unary.py, exp.py, lut_activations.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor
from edgeconv.lowering.ops.base import CArray, Kernel, fail, quant_io
from quantize.fixedpoint import lut_populate_int8, lut_populate_int16

Transform = Callable[[np.float32], np.float32]


def same_shape_io(graph: Graph, op: Op, dtypes: tuple[str, ...]) -> tuple[Tensor, Tensor]:
    """The input and output of a unary element-wise op: one of `dtypes`, the same type, per-tensor
    quantized, and the output of the input's shape (TFLite's Prepare resizes it to that)."""
    if not op.inputs or op.inputs[0] < 0 or not op.outputs:
        raise fail(graph, op, "needs one input and one output")
    x, y, _, _ = quant_io(graph, op, dtypes)
    if tuple(y.shape) != tuple(x.shape):
        raise fail(graph, op, f"output shape {list(y.shape)} is not the input's {list(x.shape)}")
    return x, y


def int8_table(graph: Graph, op: Op, x: Tensor, y: Tensor, transform: Transform) -> np.ndarray:
    """TFLite's LUTPopulate<int8_t> of `transform` for x's and y's quantization."""
    try:
        return lut_populate_int8(transform, x.quant.s, x.quant.zp, y.quant.s, y.quant.zp)
    except ValueError as exc:
        raise fail(
            graph,
            op,
            f"the quantized table is undefined in TFLite ({exc}; the output scale "
            f"{y.quant.s:g} is too small for the function's range)",
        ) from None


def int16_table(graph: Graph, op: Op, x: Tensor, y: Tensor, transform: Transform) -> np.ndarray:
    """TFLite's LUTPopulate<int16_t> (513 entries) of `transform`; refused where TFLite would
    convert NaN to int16 (undefined)."""
    try:
        return lut_populate_int16(transform, x.quant.s, x.quant.zp, y.quant.s, y.quant.zp)
    except ValueError:  # int(NaN): a NaN reached TFLite's float-to-int16 conversion
        raise fail(
            graph,
            op,
            "the int16 table is undefined in TFLite (NaN where it converts to int16; "
            f"scales {x.quant.s:g} -> {y.quant.s:g})",
        ) from None


def lut_kernel(x: Tensor, y: Tensor, table: np.ndarray, summary: str) -> Kernel:
    """ec_lut_s8 (256 entries) or ec_lut_s16 (513) reading `table`."""
    if x.dtype == "int8":
        assert table.size == 256
        # Like the int16 kernel below, but a 256-entry int8 table and its own struct: kept apart: each C params struct
        # has its own fields, which this dict must match one for one
        return Kernel(
            func="ec_lut_s8",
            unit="ec_lut",
            params_type="ec_lut_s8_params_t",
            params=dict(size=x.size, table=CArray("int8_t", table.astype(np.int8), "table", program_memory=True)),
            inputs=[x.index],
            outputs=[y.index],
            summary=summary,
        )
    assert x.dtype == "int16" and table.size == 513
    # Like the int8 kernel above, but a 513-entry int16 table and its own struct: kept apart: each C params struct has
    # its own fields, which this dict must match one for one
    return Kernel(
        func="ec_lut_s16",
        unit="ec_lut",
        params_type="ec_lut_s16_params_t",
        params=dict(size=x.size, table=CArray("int16_t", table.astype(np.int16), "table", program_memory=True)),
        inputs=[x.index],
        outputs=[y.index],
        summary=summary,
    )
