"""EXP and LOG, int8 and int16, as TFLite's reference kernels compute them (kernels/exp.cc,
elementwise.cc; TFLite Micro runs both in float32 only, so TFLite's reference is the oracle): a
table of expf or logf made at compile time with LUTPopulate (256 entries for int8; 513
interpolated for int16, whose zero points TFLite requires to be 0), looked up by
c_runtime/ec_lut.c. LOG of x <= 0 is the output's lowest value (TFLite's LogLUTPrepare).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor
from edgeconv.lowering.ops.base import Kernel, fail, lowering
from edgeconv.lowering.ops.lut import int8_table, int16_table, lut_kernel, same_shape_io
from quantize.fixedpoint import libm_float


@lowering("EXP")
def lower_exp(graph: Graph, op: Op) -> Kernel:
    x, y = same_shape_io(graph, op, ("int8", "int16"))
    expf = libm_float("expf")  # TFLite's [](float value) { return std::exp(value); }
    return _table_kernel(graph, op, x, y, expf, "table of exp")


@lowering("LOG")
def lower_log(graph: Graph, op: Op) -> Kernel:
    x, y = same_shape_io(graph, op, ("int8", "int16"))
    lowest = -128 if x.dtype == "int8" else -32768
    # LogLUTPrepare: output_min = (lowest - output zero point) * output scale, in float32.
    output_min = np.float32(lowest - y.quant.zp) * np.float32(y.quant.s)
    logf = libm_float("logf")

    def transform(v: np.float32) -> np.float32:
        return output_min if v <= 0 else logf(v)

    return _table_kernel(graph, op, x, y, transform, "table of log")


def _table_kernel(
    graph: Graph, op: Op, x: Tensor, y: Tensor, fn: Callable[[np.float32], np.float32], summary: str
) -> Kernel:
    """EXP's and LOG's shared tail: the int8 or int16 table of fn (int16 zero points must be 0)."""
    if x.dtype == "int16":
        if x.quant.zp != 0 or y.quant.zp != 0:
            raise fail(
                graph,
                op,
                f"int16 zero points must be 0 (has input {x.quant.zp}, output {y.quant.zp}); TFLite requires it",
            )
        return lut_kernel(x, y, int16_table(graph, op, x, y, fn), summary)
    return lut_kernel(x, y, int8_table(graph, op, x, y, fn), summary)
