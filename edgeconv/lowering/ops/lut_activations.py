"""ELU and GELU: activations that TFLite computes from a table of a float function.

ELU (int8): TFLite Micro's elu.cc builds its table with expf(x) - 1.0f for x < 0 (TFLite's
own kernel uses expm1f, which differs in a few entries at tiny scales; TFLite's reference
resolver does not register ELU at all, so TFLite Micro is the oracle). int16 ELU is refused:
neither runs it.
GELU (int8, int16): TFLite Micro lacks the op; TFLite's reference kernel (activations.cc
GeluPrepare) tabulates reference_ops::GeluTransform (0.5 x erfc(-x / sqrt 2)) or, with
`approximate`, GeluTransformApproximate (the tanh form), all in float32.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import Kernel, lowering
from edgeconv.lowering.ops.lut import int8_table, int16_table, lut_kernel, same_shape_io
from quantize.fixedpoint import libm_float

_F = np.float32
_M_SQRT1_2 = 0.70710678118654752440  # M_SQRT1_2
_M_2_SQRTPI = 1.12837916709551257390  # M_2_SQRTPI
_SQRT_2_OVER_PI = _F(_M_2_SQRTPI * _M_SQRT1_2)  # gelu_internal::kSqrt2dPi: the double product as a float


def elu_transform(v: np.float32) -> np.float32:
    """TFLite Micro's ELU lambda: value < 0.0f ? std::exp(value) - 1.0f : value."""
    return libm_float("expf")(v) - _F(1) if v < 0 else _F(v)


def gelu_transform(v: np.float32) -> np.float32:
    """reference_ops::GeluTransform: 0.5f * in * std::erfc(in * static_cast<float>(-M_SQRT1_2))."""
    return _F(0.5) * v * libm_float("erfcf")(v * _F(-_M_SQRT1_2))


def gelu_transform_approximate(v: np.float32) -> np.float32:
    """reference_ops::GeluTransformApproximate:
    0.5f * in * (1.f + std::tanh(kSqrt2dPi * (in + 0.044715f * in * in * in)))."""
    return _F(0.5) * v * (_F(1) + libm_float("tanhf")(_SQRT_2_OVER_PI * (v + _F(0.044715) * v * v * v)))


@lowering("ELU")
def lower_elu(graph: Graph, op: Op) -> Kernel:
    x, y = same_shape_io(graph, op, ("int8",))
    with np.errstate(all="ignore"):
        table = int8_table(graph, op, x, y, elu_transform)
    return lut_kernel(x, y, table, "table of elu")


@lowering("GELU")
def lower_gelu(graph: Graph, op: Op) -> Kernel:
    x, y = same_shape_io(graph, op, ("int8", "int16"))
    approximate = bool(op.options.get("approximate", False))
    transform = gelu_transform_approximate if approximate else gelu_transform
    make = int16_table if x.dtype == "int16" else int8_table
    with np.errstate(all="ignore"):
        table = make(graph, op, x, y, transform)
    return lut_kernel(x, y, table, "table of gelu" + (" (tanh approximation)" if approximate else ""))
