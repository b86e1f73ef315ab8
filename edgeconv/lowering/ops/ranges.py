"""Compile-time proofs that a kernel's int32 arithmetic stays in range.

The C runtime does its index and fixed-point arithmetic in int32_t, where overflow is
undefined behaviour. A lowering computes the extreme value of each such step from the
model's constants (shapes, strides, dilations, padding, multipliers, shifts) with Python's
unbounded integers and hands it here; a step that could leave int32 refuses the model with
one line naming the op, the step and the value.
"""

from __future__ import annotations

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import fail

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def require_int32(graph: Graph, op: Op, **steps: int) -> None:
    """Refuse the op unless every named extreme value fits int32.

    Each name describes the step, e.g. `**{"(k_h - 1) * dilation_h": span}`; the message
    quotes it."""
    for what, value in steps.items():
        if not INT32_MIN <= int(value) <= INT32_MAX:
            raise fail(
                graph, op, f"{what} = {int(value):,} does not fit int32, so the kernel's arithmetic would overflow"
            )


INT16_MAX = (1 << 15) - 1


def require_tflite_int16(graph: Graph, op: Op, **params: int) -> None:
    """Refuse the op unless each named parameter fits int16_t.

    TFLite's ConvParams, DepthwiseParams and PoolParams hold padding (and, for convolutions,
    stride, dilation and depth multiplier) in int16_t fields: a larger value is silently
    truncated there, and TFLite Micro computes another operation than the model describes
    (with dilation 2^20 it runs dilation 0). No such model is meaningful, so none is accepted."""
    for what, value in params.items():
        if int(value) > INT16_MAX:
            raise fail(
                graph,
                op,
                f"its {what} {int(value):,} exceeds 32767: TFLite keeps it in an int16_t "
                "and would compute a different operation",
            )


def requantized_bound(worst_abs: int, multiplier: int, shift: int) -> int:
    """The largest |ec_requantize(x, multiplier, shift)| over |x| <= worst_abs.

    ec_requantize shifts left by max(shift, 0) (the caller proves that this does not wrap),
    takes round(x * multiplier / 2^31) and divides by 2^max(-shift, 0) rounding half away
    from zero: each rounding adds at most 1/2, so ceil of the exact quotient bounds it."""
    left = max(shift, 0)
    right = max(-shift, 0)
    high = (worst_abs * (1 << left) * multiplier + (1 << 31) - 1) >> 31  # ceil(x * m / 2^31)
    return (high + (1 << right) - 1) >> right


def check_requantize(
    graph: Graph, op: Op, worst_abs: list[int], multipliers: list[int], shifts: list[int], output_zp: int
) -> None:
    """Prove ec_requantize(acc) + output_zp cannot overflow for every |acc| <= worst_abs[ch].

    Two steps can leave int32: the left shift of acc by a positive shift (TFLite's
    x * (1 << shift), undefined on overflow) and the addition of the output zero point to
    the requantized value. Both are refused here: neither can happen in a model whose scales
    fit together, since its outputs then saturate far below 2^31."""
    if len(multipliers) == 1:  # one multiplier for the whole tensor
        multipliers, shifts = list(multipliers) * len(worst_abs), list(shifts) * len(worst_abs)
    for ch, (worst, m, s) in enumerate(zip(worst_abs, multipliers, shifts)):
        if s > 0 and worst * (1 << s) > INT32_MAX:
            raise fail(
                graph,
                op,
                f"its requantization shifts the accumulator (up to {worst:,}) left by {s} "
                f"at output channel {ch}, which overflows int32; the input, weight and "
                "output scales do not fit together",
            )
        bound = requantized_bound(worst, m, s)
        if bound + abs(output_zp) > INT32_MAX:
            raise fail(
                graph,
                op,
                f"its requantized accumulator (up to {bound:,}) plus the output zero point "
                f"{output_zp} overflows int32 at output channel {ch}",
            )


def check_spatial_indices(
    graph: Graph,
    op: Op,
    in_h: int,
    in_w: int,
    out_h: int,
    out_w: int,
    k_h: int,
    k_w: int,
    stride_h: int,
    stride_w: int,
    dil_h: int,
    dil_w: int,
    pad_h: int,
    pad_w: int,
) -> None:
    """The window arithmetic of CONV_2D, DEPTHWISE_CONV_2D and the pooling kernels.

    Per axis the kernels form oy * stride (oy < out), iy0 = oy * stride - pad, the kernel
    span (k - 1) * dil, ky * dil (ky < k), and iy = iy0 + ky * dil; iy0 >= -pad, so the largest
    magnitudes are (out - 1) * stride, pad and (out - 1) * stride - pad + (k - 1) * dil (the
    last also bounds in - iy0, which pooling forms). Everything multiplied by the input width
    or channel count is a position inside the input tensor, below its element count."""
    for axis, n_in, n_out, k, stride, dil, pad in (
        ("h", in_h, out_h, k_h, stride_h, dil_h, pad_h),
        ("w", in_w, out_w, k_w, stride_w, dil_w, pad_w),
    ):
        span = (k - 1) * dil
        first_origin = -pad
        last_origin = (n_out - 1) * stride - pad
        require_int32(
            graph,
            op,
            **{
                f"kernel span (k_{axis} - 1) * dilation_{axis}": span,
                f"padding_{axis}": pad,
                f"(out_{axis} - 1) * stride_{axis}": (n_out - 1) * stride,
                f"last window end along {axis}": last_origin + span,
                f"first window start along {axis}": first_origin,
                f"in_{axis} minus first window start": n_in - first_origin,
            },
        )
