"""Per-op structural rules, checked on the Graph as read, before any pass or lowering.

TFLite's and TFLite Micro's Prepare functions refuse an op whose input or output count is
wrong, whose builtin options table is missing where the kernel needs it (both read a missing
or wrong-type table as all zeros: stride 0, padding SAME, beta 0), whose enum fields are out
of range, or whose index tensors (axes, sizes, shapes, paddings) have a type they do not read.
edgeconv refuses the same models, one line naming the op and the rule. What an op computes
(shapes, scales, the quantization each kernel needs) is checked where it is lowered
(edgeconv/ops); passes fold the Keras converter's constant shape subgraphs only after this.

The rules were found by editing one field of a one-op model and asking both references; a
rule is stricter than a reference only where edgeconv cannot compute what that reference
computes (say CONV_2D without options: TFLite Micro runs it with stride 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tflite

from edgeconv.frontend.ir import Graph, ModelError, Op

PADDINGS = {0: "SAME", 1: "VALID"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
WEIGHTS_FORMATS = {0: "DEFAULT", 1: "SHUFFLED4x16INT8"}
TENSOR_TYPES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
INT32 = ("int32",)
INT32_OR_64 = ("int32", "int64")


@dataclass(frozen=True)
class OpRule:
    """What TFLite's Prepare requires of one builtin op's structure."""

    inputs: tuple[int, int | None]  # least and most inputs (None: any number)
    options: str = ""  # the BuiltinOptions table TFLite parses for the op ("" if none)
    options_required: bool = False  # TFLite's zeroed defaults make the op invalid or different
    optional: tuple[int, ...] = ()  # input positions that may be omitted (-1)
    index_types: tuple[tuple[int, tuple[str, ...]], ...] = ()  # (position, types TFLite reads there)
    index_ranks: tuple[tuple[int, int], ...] = ()  # (position, the rank both references require)
    outputs: int | None = 1  # None: any number, at least 1 (SPLIT, SPLIT_V, UNPACK)
    four_d: tuple[int, ...] = ()  # input positions TFLite requires 4-D (NHWC); the output too if any


RULES: dict[str, OpRule] = {
    "CONV_2D": OpRule((2, 3), "Conv2DOptions", True, optional=(2,), four_d=(0, 1)),
    # No omitted (-1) bias: TFLite refuses it ("optional but was expected") and TFLite Micro
    # crashes loading it; a depthwise without bias has two inputs.
    "DEPTHWISE_CONV_2D": OpRule((2, 3), "DepthwiseConv2DOptions", True, four_d=(0, 1)),
    "FULLY_CONNECTED": OpRule((2, 3), "FullyConnectedOptions", optional=(2,)),
    "AVERAGE_POOL_2D": OpRule((1, 1), "Pool2DOptions", True, four_d=(0,)),
    "MAX_POOL_2D": OpRule((1, 1), "Pool2DOptions", True, four_d=(0,)),
    # Same shape as the comparisons below (one row per two-input op), but kept apart: each row is its own op's rule
    "ADD": OpRule((2, 2), "AddOptions"),
    "SUB": OpRule((2, 2), "SubOptions"),
    "MUL": OpRule((2, 2), "MulOptions"),
    "DIV": OpRule((2, 2), "DivOptions"),
    "MAXIMUM": OpRule((2, 2), "MaximumMinimumOptions"),
    "MINIMUM": OpRule((2, 2), "MaximumMinimumOptions"),
    "CONCATENATION": OpRule((1, None), "ConcatenationOptions"),
    # Without SoftmaxOptions beta is 0: both references abort in Prepare.
    "SOFTMAX": OpRule((1, 1), "SoftmaxOptions", True),
    "LOGISTIC": OpRule((1, 1)),
    "TANH": OpRule((1, 1)),
    "RELU": OpRule((1, 1)),
    "RELU6": OpRule((1, 1)),
    "RELU_N1_TO_1": OpRule((1, 1)),
    "HARD_SWISH": OpRule((1, 1), "HardSwishOptions"),
    "LEAKY_RELU": OpRule((1, 1), "LeakyReluOptions"),
    "PRELU": OpRule((2, 2)),
    "QUANTIZE": OpRule((1, 1), "QuantizeOptions"),
    "DEQUANTIZE": OpRule((1, 1), "DequantizeOptions"),
    "RESHAPE": OpRule((1, 2), "ReshapeOptions", optional=(1,), index_types=((1, INT32_OR_64),)),
    "SQUEEZE": OpRule((1, 1), "SqueezeOptions"),
    "EXPAND_DIMS": OpRule((2, 2), "ExpandDimsOptions", index_types=((1, INT32_OR_64),)),
    "MEAN": OpRule((2, 2), "ReducerOptions", index_types=((1, INT32),)),
    # REDUCE_MAX/MIN, SUM: TFLite Micro's PrepareSimple requires an INT32 axis, as MEAN.
    "SUM": OpRule((2, 2), "ReducerOptions", index_types=((1, INT32),)),
    "REDUCE_MAX": OpRule((2, 2), "ReducerOptions", index_types=((1, INT32),)),
    "REDUCE_MIN": OpRule((2, 2), "ReducerOptions", index_types=((1, INT32),)),
    # ARG_MAX/MIN: TFLite Micro reads an INT32 axis, TFLite's reference INT32 or INT64 (the
    # oracle where TFLite Micro lacks the type); the output type is checked by the lowering.
    "ARG_MAX": OpRule((2, 2), "ArgMaxOptions", index_types=((1, INT32_OR_64),)),
    "ARG_MIN": OpRule((2, 2), "ArgMinOptions", index_types=((1, INT32_OR_64),)),
    # Same shape as ADD..MINIMUM above (one row per two-input op), but kept apart: each row is its own op's rule
    "EQUAL": OpRule((2, 2), "EqualOptions"),
    "NOT_EQUAL": OpRule((2, 2), "NotEqualOptions"),
    "LESS": OpRule((2, 2), "LessOptions"),
    "LESS_EQUAL": OpRule((2, 2), "LessEqualOptions"),
    "GREATER": OpRule((2, 2), "GreaterOptions"),
    "GREATER_EQUAL": OpRule((2, 2), "GreaterEqualOptions"),
    "SELECT_V2": OpRule((3, 3), "SelectV2Options"),
    "SELECT": OpRule((3, 3), "SelectOptions"),
    "SQUARED_DIFFERENCE": OpRule((2, 2), "SquaredDifferenceOptions"),
    # TFLite's PAD also takes a third constant-value input; edgeconv pads PAD with the zero
    # point, so a PAD with three inputs is refused rather than given other semantics.
    "PAD": OpRule((2, 2), "PadOptions", index_types=((1, INT32_OR_64),), index_ranks=((1, 2),)),
    "PADV2": OpRule((2, 3), "PadV2Options", optional=(2,), index_types=((1, INT32_OR_64),), index_ranks=((1, 2),)),
    # TFLite Micro runs an INT64 perm but reads its bytes as int32 (another permutation).
    "TRANSPOSE": OpRule((2, 2), "TransposeOptions", index_types=((1, INT32),), index_ranks=((1, 1),)),
    "RESIZE_BILINEAR": OpRule(
        (2, 2), "ResizeBilinearOptions", index_types=((1, INT32),), index_ranks=((1, 1),), four_d=(0,)
    ),
    "RESIZE_NEAREST_NEIGHBOR": OpRule(
        (2, 2), "ResizeNearestNeighborOptions", index_types=((1, INT32),), index_ranks=((1, 1),), four_d=(0,)
    ),
    "SPACE_TO_BATCH_ND": OpRule(
        (3, 3), "SpaceToBatchNDOptions", index_types=((1, INT32), (2, INT32)), index_ranks=((1, 1), (2, 2))
    ),
    "BATCH_TO_SPACE_ND": OpRule(
        (3, 3), "BatchToSpaceNDOptions", index_types=((1, INT32), (2, INT32)), index_ranks=((1, 1), (2, 2))
    ),
    # Data movement (ops/slice.py, concatenation.py, gather.py, tile.py, depth_space.py, pad.py,
    # cast.py). TFLite Micro reads STRIDED_SLICE's begin/end/strides, SPLIT's and SPLIT_V's axis
    # and GATHER's indices as int32 only.
    "STRIDED_SLICE": OpRule(
        (4, 4),
        "StridedSliceOptions",
        index_types=((1, INT32), (2, INT32), (3, INT32)),
        index_ranks=((1, 1), (2, 1), (3, 1)),
    ),
    "SLICE": OpRule(
        (3, 3), "SliceOptions", index_types=((1, INT32_OR_64), (2, INT32_OR_64)), index_ranks=((1, 1), (2, 1))
    ),
    "SPLIT": OpRule((2, 2), "SplitOptions", index_types=((0, INT32),), outputs=None),
    "SPLIT_V": OpRule(
        (3, 3), "SplitVOptions", index_types=((1, INT32_OR_64), (2, INT32)), index_ranks=((1, 1),), outputs=None
    ),
    "PACK": OpRule((1, None), "PackOptions"),
    "UNPACK": OpRule((1, 1), "UnpackOptions", outputs=None),
    "GATHER": OpRule((2, 2), "GatherOptions", index_types=((1, INT32),)),
    # Without options block_size is 0: both references refuse it.
    "DEPTH_TO_SPACE": OpRule((1, 1), "DepthToSpaceOptions", True, four_d=(0,)),
    "SPACE_TO_DEPTH": OpRule((1, 1), "SpaceToDepthOptions", True, four_d=(0,)),
    "MIRROR_PAD": OpRule((2, 2), "MirrorPadOptions", index_types=((1, INT32_OR_64),), index_ranks=((1, 2),)),
    "BROADCAST_TO": OpRule((2, 2), "BroadcastToOptions", index_types=((1, INT32_OR_64),), index_ranks=((1, 1),)),
    "TILE": OpRule((2, 2), "TileOptions", index_types=((1, INT32_OR_64),), index_ranks=((1, 1),)),
    "CAST": OpRule((1, 1), "CastOptions"),
    # TRANSPOSE_CONV: (output_shape, weights, input[, bias]); without options both references
    # run strides 0 (every input pixel onto the same outputs). TFLite reads output_shape as a
    # 1-D INT32 tensor and needs input and weights 4-D; the bias type (INT32 for int8, INT64
    # or INT16 for 16x8) and size are checked by the lowering.
    "TRANSPOSE_CONV": OpRule(
        (3, 4),
        "TransposeConvOptions",
        True,
        optional=(3,),
        index_types=((0, INT32),),
        index_ranks=((0, 1),),
        four_d=(1, 2),
    ),
    "BATCH_MATMUL": OpRule((2, 2), "BatchMatMulOptions"),
    # Unary math (ops/unary.py, exp.py, lut_activations.py, log_softmax.py, l2_normalization.py):
    # one input, one output; missing options read as TFLite's defaults (GELU approximate false,
    # L2_NORMALIZATION activation NONE), which are valid.
    "ABS": OpRule((1, 1), "AbsOptions"),
    "RSQRT": OpRule((1, 1)),
    "SQRT": OpRule((1, 1)),
    "EXP": OpRule((1, 1), "ExpOptions"),
    "LOG": OpRule((1, 1)),
    "ELU": OpRule((1, 1)),
    "GELU": OpRule((1, 1), "GeluOptions"),
    "LOG_SOFTMAX": OpRule((1, 1), "LogSoftmaxOptions"),
    "L2_NORMALIZATION": OpRule((1, 1), "L2NormOptions"),
}

# Option fields that are enums in the schema: (field, allowed values).
_ENUMS = {
    "padding": PADDINGS,
    "fused_activation_function": ACTIVATIONS,
    "weights_format": WEIGHTS_FORMATS,
    "quantized_bias_type": TENSOR_TYPES,  # both references: "Unsupported data type" outside the enum
}
# Option fields that must be at least 1, per options table.
_POSITIVE = {
    "Conv2DOptions": ("stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor"),
    "DepthwiseConv2DOptions": ("stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor"),
    "Pool2DOptions": ("stride_h", "stride_w", "filter_height", "filter_width"),
    "TransposeConvOptions": ("stride_h", "stride_w"),
    "DepthToSpaceOptions": ("block_size",),
    "SpaceToDepthOptions": ("block_size",),
}


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def check_op(graph: Graph, op: Op) -> None:
    """Refuse `op` if TFLite's Prepare would; ops without a rule are left to the passes and
    to lower_op, which refuses what it cannot compile."""
    rule = RULES.get(op.opcode)
    if rule is None:
        return
    where = op.describe(graph) if op.outputs and op.outputs[0] in graph.tensors else f"op {op.index} {op.opcode}"

    def refuse(message: str) -> ModelError:
        return ModelError(f"{where}: {message}")

    least, most = rule.inputs
    n_in = len(op.inputs)
    if n_in < least or (most is not None and n_in > most):
        expected = (
            f"{least}"
            if least == most
            else f"{least} or {most}"
            if most == least + 1
            else f"{least} to {most}"
            if most is not None
            else f"at least {least}"
        )
        raise refuse(f"has {_count(n_in, 'input')}; TFLite's {op.opcode} takes {expected}")
    if (len(op.outputs) != rule.outputs) if rule.outputs is not None else not op.outputs:
        raise refuse(
            f"has {_count(len(op.outputs), 'output')}; TFLite's {op.opcode} has "
            f"{rule.outputs if rule.outputs is not None else 'at least 1'}"
        )
    for position, t in enumerate(op.inputs):
        if t < 0 and position not in rule.optional:
            raise refuse(f"input {position} is omitted (-1), but {op.opcode} needs it")

    if op.options_type and op.options_type != rule.options:
        takes = f"takes {rule.options}" if rule.options else "takes no options"
        raise refuse(
            f"has builtin options of type {op.options_type}, but {op.opcode} {takes} (TFLite would read it as missing)"
        )
    if rule.options_required and not op.options_type:
        zeroed = {"SOFTMAX": "beta", "DEPTH_TO_SPACE": "block_size", "SPACE_TO_DEPTH": "block_size"}.get(
            op.opcode, "strides"
        )
        raise refuse(f"has no {rule.options}; TFLite needs them (without them it reads {zeroed} 0)")
    if op.options_type:
        _check_option_values(op, rule, refuse)

    for position, allowed in rule.index_types:
        if position < n_in and op.inputs[position] >= 0:
            t = graph.tensors[op.inputs[position]]
            if t.dtype not in allowed:
                raise refuse(
                    f"input {position} {t.describe()} has type {t.dtype.upper()}; TFLite's {op.opcode} "
                    f"reads {' or '.join(a.upper() for a in allowed)} there"
                )
    for position, rank in rule.index_ranks:
        if position < n_in and op.inputs[position] >= 0:
            t = graph.tensors[op.inputs[position]]
            if len(t.shape) != rank:
                raise refuse(
                    f"input {position} {t.describe()} has shape {list(t.shape)}; TFLite's {op.opcode} needs it {rank}-D"
                )

    shaped = [(f"input {p}", op.inputs[p]) for p in rule.four_d if p < n_in and op.inputs[p] >= 0]
    if rule.four_d:
        shaped.append(("output", op.outputs[0]))
    for what, index in shaped:
        t = graph.tensors[index]
        if len(t.shape) != 4:
            raise refuse(f"{what} {t.describe()} has shape {list(t.shape)}; TFLite's {op.opcode} needs 4-D (NHWC)")

    if op.opcode in _FILTER_OUTPUT_AXIS:
        _check_bias_size(graph, op, refuse)
        _check_bias_type(graph, op, refuse)
    if op.opcode == "DEPTHWISE_CONV_2D":
        _check_depth_multiplier(graph, op, refuse)
    if op.opcode == "FULLY_CONNECTED":
        _check_bias_scale(graph, op, refuse)
    if op.opcode == "SQUEEZE":
        _check_squeeze_dims(graph, op, refuse)
    if op.opcode == "EXPAND_DIMS":
        _check_expand_dims(graph, op, refuse)


# The filter dimension that counts output channels: the bias must hold one value for each.
_FILTER_OUTPUT_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}


# The bias types the references accept per activation type: int8 models' bias is INT32;
# int16 (16x8) models' is INT64, or INT32 where TFLite Micro has an int32-accumulator kernel
# (CONV_2D, FULLY_CONNECTED; its DEPTHWISE_CONV_2D reads an int16 model's bias as int64
# whatever its type, and TFLite refuses anything else).
_BIAS_TYPES = {
    ("CONV_2D", "int8"): INT32,
    ("CONV_2D", "int16"): INT32_OR_64,
    ("DEPTHWISE_CONV_2D", "int8"): INT32,
    ("DEPTHWISE_CONV_2D", "int16"): ("int64",),
    ("FULLY_CONNECTED", "int8"): INT32,
    ("FULLY_CONNECTED", "int16"): INT32_OR_64,
}


def _check_bias_type(graph: Graph, op: Op, refuse) -> None:
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return
    x, b = graph.tensors.get(op.inputs[0]), graph.tensors.get(op.inputs[2])
    if x is None or b is None:
        return
    allowed = _BIAS_TYPES.get((op.opcode, x.dtype))
    if allowed and b.dtype not in allowed:
        raise refuse(
            f"bias {b.describe()} has type {b.dtype.upper()}; with {x.dtype.upper()} activations "
            f"TFLite's {op.opcode} takes {' or '.join(t.upper() for t in allowed)}"
        )


def _check_bias_size(graph: Graph, op: Op, refuse) -> None:
    """TFLite: NumElements(bias) == SizeOfDimension(filter, out axis). (TFLite Micro does not
    check, and reads past a short bias.)"""
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return
    w, b = graph.tensors[op.inputs[1]], graph.tensors[op.inputs[2]]
    axis = _FILTER_OUTPUT_AXIS[op.opcode]
    if len(w.shape) <= axis:
        return  # the lowering names the filter's shape
    if b.size != w.shape[axis]:
        raise refuse(
            f"bias {b.describe()} has {b.size} values but the filter {w.describe()} has {w.shape[axis]} output channels"
        )


def _check_squeeze_dims(graph: Graph, op: Op, refuse) -> None:
    """Both references: every squeeze_dims entry names an input dimension of size 1."""
    x = graph.tensors[op.inputs[0]]
    rank = len(x.shape)
    for d in op.options.get("squeeze_dims", []) or []:
        axis = int(d) + rank if int(d) < 0 else int(d)
        if not 0 <= axis < rank or x.shape[axis] != 1:
            raise refuse(f"squeeze_dims {int(d)} does not name a dimension of size 1 of input shape {list(x.shape)}")


def _check_option_values(op: Op, rule: OpRule, refuse) -> None:
    for field, names in _ENUMS.items():
        if field in op.options:
            value = int(op.options[field])
            if value not in names:
                known = (
                    f"TFLite knows {', '.join(f'{k} {v}' for k, v in names.items())}"
                    if len(names) <= 8
                    else f"TFLite knows {min(names)} to {max(names)}"
                )
                raise refuse(f"{field} {value} is not a valid value ({known})")
    for field in _POSITIVE.get(rule.options, ()):
        if int(op.options.get(field, 0)) < 1:
            raise refuse(f"{field} is {int(op.options.get(field, 0))}; TFLite requires at least 1")
    if op.opcode == "SOFTMAX":
        beta = float(op.options.get("beta", 0.0))
        if not math.isfinite(beta):
            raise refuse(f"beta {beta} is not finite")


def _check_depth_multiplier(graph: Graph, op: Op, refuse) -> None:
    """TFLite's depthwise kernels loop over depth_multiplier outputs per input channel, so an
    option that disagrees with the weights computes garbage (both references run it)."""
    x, w = graph.tensors.get(op.inputs[0]), graph.tensors.get(op.inputs[1])
    if x is None or w is None or len(x.shape) != 4 or len(w.shape) != 4:
        return  # the lowering names the shape problem
    in_c, out_c = x.shape[3], w.shape[3]
    dm = int(op.options.get("depth_multiplier", 0))
    if dm * in_c != out_c:
        raise refuse(
            f"depth_multiplier {dm} does not match the channels: {in_c} input channels and "
            f"{out_c} filter channels need {out_c // in_c if in_c and out_c % in_c == 0 else 'a whole number'}"
        )


def _check_bias_scale(graph: Graph, op: Op, refuse) -> None:
    """GetQuantizedConvolutionMultipler's bias check (kernel_util.cc), which both references run
    for per-tensor FULLY_CONNECTED: |double(s_in) * double(s_w) - s_bias| / s_out must be at most
    0.02 (the product in double here; the multiplier's own product is the one its source forms
    in float32, see ops/fully_connected.py)."""
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return
    x, w, b, y = (graph.tensors.get(i) for i in (op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]))
    if any(t is None or t.quant is None for t in (x, w, b, y)) or w.quant.per_channel:
        return
    product = float(x.quant.s) * float(w.quant.s)
    diff = abs(product - float(b.quant.s))
    if diff / float(y.quant.s) > 0.02:
        raise refuse(
            f"bias {b.describe()} has scale {b.quant.s:g}, but input scale x weight scale is "
            f"{product:g}; TFLite requires them to differ by at most 2% of the output scale"
        )


def _check_expand_dims(graph: Graph, op: Op, refuse) -> None:
    """One axis in [-(rank + 1), rank] (both references), and the output is the input with a 1
    inserted there (TFLite Micro). A non-constant axis is left alone: the copy is the same."""
    x, a, y = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]]
    if a.data is None:
        return
    if a.size != 1:
        raise refuse(f"axis {a.describe()} has {a.size} values; EXPAND_DIMS takes one")
    rank = len(x.shape)
    axis = int(np.asarray(a.data).reshape(-1)[0])
    if not -(rank + 1) <= axis <= rank:
        raise refuse(f"axis {axis} is out of range for an input of rank {rank}")
    at = axis + rank + 1 if axis < 0 else axis
    expected = list(x.shape[:at]) + [1] + list(x.shape[at:])
    if list(y.shape) != expected:
        raise refuse(
            f"output shape {list(y.shape)} is not input {list(x.shape)} with a 1 inserted at axis {axis} ({expected})"
        )
