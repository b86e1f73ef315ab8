"""int8 tables of TFLite Micro's float kernels: DEQUANTIZE -> unary float ops -> QUANTIZE.

The TFLite converter leaves an op it cannot quantize in float32 between a DEQUANTIZE and a
QUANTIZE (Keras ELU in int8 models; the SQUARE of Keras UnitNormalization; tf.sin, tf.cos,
tf.floor, tf.math.ceil, tf.round, tf.negative). When the island
reads an int8 tensor and writes an int8 tensor, its result depends on the input value alone,
so edgeconv.float_islands fuses each such path into one op (opcode "DEQUANTIZE+ELU+QUANTIZE",
"DEQUANTIZE+ELU+SQUARE+QUANTIZE", ...)
and this lowering tabulates the 256 outputs exactly as TFLite Micro computes them:
dequantize float(double(scale) * (q - zp)) (reference Dequantize), the float op in float32
(ELU: x < 0 ? expm1f(x) : x, reference elu.h; SQUARE: x * x; NEG, FLOOR, CEIL, ROUND (half
to even), SIN, COS), quantize
(int32)roundf(x / scale) + zp clamped (AffineQuantize). The kernel is ec_lut_s8.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import LOWERINGS, Kernel, fail, lowering
from edgeconv.lowering.ops.lut import lut_kernel, same_shape_io
from quantize.fixedpoint import libm_float, tflite_round

_F = np.float32


def _elu(v: np.float32) -> np.float32:
    return libm_float("expm1f")(v) if v < 0 else _F(v)


def _square(v: np.float32) -> np.float32:
    return _F(v) * _F(v)


def _round(v: np.float32) -> np.float32:
    """reference_ops::RoundToNearest: half to even, in float32."""
    floor_val = _F(math.floor(float(v)))
    diff = _F(v) - floor_val
    if diff < _F(0.5) or (diff == _F(0.5) and int(floor_val) % 2 == 0):
        return floor_val
    return floor_val + _F(1)


# float op -> its TFLite Micro float32 arithmetic (reference elu.h, neg.h, floor.h, ceil.h,
# round.h; SQUARE, SIN and COS in elementwise.cc)
FLOAT_FUNCTIONS: dict[str, Callable[[np.float32], np.float32]] = {
    "ELU": _elu,
    "SQUARE": _square,
    "NEG": lambda v: -_F(v),
    "FLOOR": lambda v: _F(math.floor(float(v))),
    "CEIL": lambda v: _F(math.ceil(float(v))),
    "ROUND": _round,
    "SIN": lambda v: libm_float("sinf")(v),
    "COS": lambda v: libm_float("cosf")(v),
    "ZEROS_LIKE": lambda v: _F(0),  # the shrink activations' other branch, unfolded where the batch is dynamic
    "ONES_LIKE": lambda v: _F(1),
}


MAX_CHAIN = 4  # float ops between a DEQUANTIZE and a QUANTIZE that one table may replace


def fused_opcode(chain: tuple[str, ...]) -> str:
    """The fused op's name, e.g. DEQUANTIZE+ELU+SQUARE+QUANTIZE; its lowering is registered here
    on first use (the chains a model holds are not known in advance)."""
    name = "+".join(("DEQUANTIZE", *chain, "QUANTIZE"))
    if name not in LOWERINGS:
        lowering(name)(_lower_island)
    return name


def float_island_table(
    transforms, input_scale: float, input_zp: int, output_scale: float, output_zp: int
) -> np.ndarray:
    """The 256 int8 outputs (indexed by the input's bits as uint8) of dequantize -> each of
    `transforms` in turn -> quantize. ValueError where TFLite's float-to-int32 conversion is
    undefined (NaN, or a quotient beyond int32)."""
    table = np.zeros(256, dtype=np.int8)
    with np.errstate(all="ignore"):
        s_out = _F(output_scale)
        for v in range(-128, 128):
            x = _F(float(_F(input_scale)) * (v - input_zp))  # double product, then float
            for transform in transforms:
                x = _F(transform(x))
            scaled = x / s_out
            if not (math.isfinite(scaled) and abs(tflite_round(float(scaled))) < 2**31):
                raise ValueError(f"input {v} gives {float(scaled):g} before the conversion to int32")
            q = tflite_round(float(scaled)) + output_zp
            table[v & 0xFF] = min(max(q, -128), 127)
    return table


def _lower_island(graph: Graph, op: Op) -> Kernel:
    x, y = same_shape_io(graph, op, ("int8",))
    chain = op.opcode.split("+")[1:-1]
    try:
        table = float_island_table([FLOAT_FUNCTIONS[c] for c in chain], x.quant.s, x.quant.zp, y.quant.s, y.quant.zp)
    except ValueError as exc:
        raise fail(graph, op, f"the quantized result is undefined in TFLite ({exc})") from None
    return lut_kernel(x, y, table, "table of float " + ", ".join(c.lower() for c in chain))
