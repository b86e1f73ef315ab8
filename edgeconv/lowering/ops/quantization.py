"""QUANTIZE and DEQUANTIZE, the ops at a model's float32 or uint8 edges.

- QUANTIZE float32 -> int8/uint8/int16: c_runtime/ec_quantize (float code, only in models with
  float inputs).
- QUANTIZE int8 -> int8, uint8 -> int8, int8 -> uint8, and for 16x8 models int8 -> int16,
  int16 -> int8, int16 -> int16: c_runtime/ec_requantize (integer only, so a model with uint8
  edges stays free of float code).
- DEQUANTIZE int8/uint8/int16 -> float32: c_runtime/ec_dequantize.

Parameters follow TFLite Micro's PrepareQuantizeReference / DequantizePrepare. A float input
whose round(x / scale) leaves int32 (NaN, infinities, 1e30) has no defined result in TFLite;
ec_quantize saturates it (NaN gives the zero point), as an Arm FPU's conversion does.
"""

from __future__ import annotations

import math

from edgeconv.frontend.ir import Graph, Op, Tensor, UnsupportedOpError
from edgeconv.lowering.ops.base import DTYPE_SUFFIX as _SUFFIX
from edgeconv.lowering.ops.base import Kernel, fail, lowering, requantize_multiplier, require_dtype, require_quant

# The integer pairs TFLite Micro's QUANTIZE requantizes (PrepareQuantizeReference) that
# edgeconv runs (the int32 ones are not activations of the models it compiles).
_REQUANTIZE = {
    ("int8", "int8"),
    ("uint8", "int8"),
    ("int8", "uint8"),
    ("int8", "int16"),
    ("int16", "int8"),
    ("int16", "int16"),
}


def _io(graph: Graph, op: Op) -> tuple[Tensor, Tensor]:
    if not op.inputs or op.inputs[0] < 0 or not op.outputs:
        raise fail(graph, op, "needs one input and one output")
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    if x.size != y.size:
        raise fail(graph, op, f"input {list(x.shape)} and output {list(y.shape)} differ in size")
    return x, y


def _positive_scale(graph: Graph, op: Op, t: Tensor) -> float:
    s = float(t.quant.s)
    if not (math.isfinite(s) and s > 0.0):
        raise fail(graph, op, f"{t.describe()} has scale {s}; it must be positive and finite")
    return s


@lowering("QUANTIZE")
def lower_quantize(graph: Graph, op: Op) -> Kernel:
    x, y = _io(graph, op)
    require_dtype(graph, op, x, "float32", "int8", "uint8", "int16")
    require_dtype(graph, op, y, "int8", "uint8", "int16")
    yq = require_quant(graph, op, y)
    out_scale = _positive_scale(graph, op, y)
    if x.dtype == "float32":
        # AffineQuantize: round(x / float(scale)) + zero_point, clamped to the output type
        # (TFLite Micro has no float32 -> uint8 QUANTIZE; TFLite's reference does).
        return Kernel(
            func=f"ec_quantize_f32_{_SUFFIX[y.dtype]}",
            unit="ec_quantize",
            params_type="ec_quantize_params_t",
            params=dict(size=x.size, scale=out_scale, zero_point=yq.zp),
            inputs=[x.index],
            outputs=[y.index],
            summary=f"float32 -> {y.dtype}",
        )
    if (x.dtype, y.dtype) not in _REQUANTIZE:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: QUANTIZE {x.dtype} -> {y.dtype} is not supported (TFLite Micro has no kernel)"
        )
    xq = require_quant(graph, op, x)
    in_scale = _positive_scale(graph, op, x)
    # PrepareQuantizeReference: effective scale in double, QuantizeMultiplier.
    multiplier, shift = requantize_multiplier(graph, op, in_scale / out_scale, "input-to-output")
    return Kernel(
        func=f"ec_requantize_{_SUFFIX[x.dtype]}_{_SUFFIX[y.dtype]}",
        unit="ec_requantize",
        params_type="ec_requantize_params_t",
        params=dict(size=x.size, input_zp=xq.zp, output_zp=yq.zp, multiplier=multiplier, shift=shift),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"{x.dtype} -> {y.dtype}",
    )


@lowering("DEQUANTIZE")
def lower_dequantize(graph: Graph, op: Op) -> Kernel:
    x, y = _io(graph, op)
    require_dtype(graph, op, x, "int8", "uint8", "int16")
    require_dtype(graph, op, y, "float32")
    xq = require_quant(graph, op, x)
    return Kernel(
        func=f"ec_dequantize_{_SUFFIX[x.dtype]}_f32",
        unit="ec_dequantize",
        params_type="ec_dequantize_params_t",
        params=dict(size=x.size, scale=float(xq.s), zero_point=xq.zp),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"{x.dtype} -> float32",
    )
