"""opchecks and the reader's structural rules: every model TFLite's Prepare refuses is refused
in one sentence naming the op (or tensor) and the rule; the near misses still compile.

Each case is a one-field edit of a one-op model built with TFLite's flatbuffer object API.
Which reference refuses each case (found by asking TFLite Micro and TFLite's reference
kernels, each in its own process) is noted beside it."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import compile_bytes

S = pytest.importorskip("tensorflow.lite.python.schema_py_generated")
BO, OP, TT = S.BuiltinOptions, S.BuiltinOperator, S.TensorType

PYTHON_NAMES = re.compile(r"Error\b|Exception|Traceback|unpack|broadcast together|object is not|NoneType")


def _tensor(name, shape, dtype=TT.INT8, scale=None, zp=0, axis=0):
    t = S.TensorT()
    t.name, t.shape, t.type, t.buffer = name.encode(), np.array(shape, np.int32), dtype, 0
    if scale is not None:
        q = S.QuantizationParametersT()
        q.scale = np.atleast_1d(np.array(scale, np.float32))
        q.zeroPoint = np.full(len(q.scale), zp, np.int64)
        q.quantizedDimension = axis
        t.quantization = q
    return t


def _options(cls, **fields):
    o = getattr(S, cls + "T")()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


class OneOp:
    """x [+ x1] + constants -> y, one op, as a ModelT the test edits before packing."""

    def __init__(
        self,
        code,
        in_shape,
        out_shape,
        options=None,
        consts=(),
        second=None,
        out_scale=0.05,
        out_zp=0,
        in_type=TT.INT8,
        out_type=TT.INT8,
    ):
        m = self.model = S.ModelT()
        m.version, m.buffers, m.operatorCodes = 3, [S.BufferT()], []
        sg = self.sg = S.SubGraphT()
        sg.tensors, sg.operators, m.subgraphs = [], [], [sg]
        quantized = lambda t: t in (TT.INT8, TT.UINT8)  # noqa: E731
        inputs = [self.add(_tensor("x", in_shape, in_type, 0.05 if quantized(in_type) else None))]
        if second is not None:
            inputs.append(self.add(_tensor("x1", second, in_type, 0.05)))
        graph_inputs = list(inputs)
        for i, (shape, dtype, data, *scale) in enumerate(consts):
            inputs.append(
                self.add(
                    _tensor(f"c{i}", shape, dtype, scale[0] if scale else None, axis=scale[1] if len(scale) > 1 else 0),
                    data,
                )
            )
        y = self.add(_tensor("y", out_shape, out_type, out_scale if quantized(out_type) else None, out_zp))
        oc = S.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
        m.operatorCodes.append(oc)
        op = self.op = S.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, np.array(inputs, np.int32), np.array([y], np.int32)
        if options is not None:
            op.builtinOptionsType = getattr(BO, type(options).__name__[:-1])
            op.builtinOptions = options
        sg.operators.append(op)
        sg.inputs, sg.outputs = np.array(graph_inputs, np.int32), np.array([y], np.int32)

    def add(self, t, data=None) -> int:
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            self.model.buffers.append(b)
            t.buffer = len(self.model.buffers) - 1
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def tensor(self, position: int):
        return self.sg.tensors[self.op.inputs[position]]

    def bytes(self) -> bytes:
        import flatbuffers

        builder = flatbuffers.Builder(1024)
        builder.Finish(self.model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def i32(*v):
    return np.array(v, np.int32)


RNG = np.random.default_rng(8)


def conv(**fields) -> OneOp:
    opts = dict(padding=S.Padding.VALID, strideW=1, strideH=1, dilationWFactor=1, dilationHFactor=1) | fields
    return OneOp(
        OP.CONV_2D,
        [1, 5, 5, 2],
        [1, 3, 3, 3],
        _options("Conv2DOptions", **opts),
        consts=[
            ([3, 3, 3, 2], TT.INT8, RNG.integers(-127, 128, (3, 3, 3, 2)).astype(np.int8), [0.01, 0.02, 0.03]),
            ([3], TT.INT32, i32(10, -20, 30), [0.0005, 0.001, 0.0015]),
        ],
        out_scale=0.1,
    )


# Its option list only looks like test_ops_transpose_conv.py's _one_op and test_validation.py's _report
# (name=value lines): a shape match, no shared code
def depthwise(multiplier=2) -> OneOp:
    return OneOp(
        OP.DEPTHWISE_CONV_2D,
        [1, 5, 5, 2],
        [1, 3, 3, 4],
        _options(
            "DepthwiseConv2DOptions",
            padding=1,
            strideW=1,
            strideH=1,
            depthMultiplier=multiplier,
            dilationWFactor=1,
            dilationHFactor=1,
        ),
        consts=[
            ([1, 3, 3, 4], TT.INT8, RNG.integers(-127, 128, (1, 3, 3, 4)).astype(np.int8), [0.02]),
            ([4], TT.INT32, i32(1, 2, 3, 4), [0.001]),
        ],
        out_scale=0.1,
    )


def fully_connected(bias_scale=0.05 * 0.02) -> OneOp:
    return OneOp(
        OP.FULLY_CONNECTED,
        [1, 8],
        [1, 4],
        _options("FullyConnectedOptions"),
        consts=[
            ([4, 8], TT.INT8, RNG.integers(-127, 128, (4, 8)).astype(np.int8), [0.02]),
            ([4], TT.INT32, i32(1, 2, 3, 4), [bias_scale]),
        ],
        out_scale=0.1,
    )


def pool() -> OneOp:
    return OneOp(
        OP.MAX_POOL_2D,
        [1, 4, 4, 2],
        [1, 2, 2, 2],
        _options("Pool2DOptions", padding=1, strideW=2, strideH=2, filterWidth=2, filterHeight=2),
    )


MODELS = {
    "CONV_2D": conv,
    "DEPTHWISE_CONV_2D": depthwise,
    "FULLY_CONNECTED": fully_connected,
    "MAX_POOL_2D": pool,
    "ADD": lambda: OneOp(OP.ADD, [1, 4], [1, 4], _options("AddOptions"), second=[1, 4], out_scale=0.1),
    "SOFTMAX": lambda: OneOp(
        OP.SOFTMAX, [1, 4], [1, 4], _options("SoftmaxOptions", beta=1.0), out_scale=1 / 256, out_zp=-128
    ),
    "LOGISTIC": lambda: OneOp(OP.LOGISTIC, [1, 4], [1, 4], out_scale=1 / 256, out_zp=-128),
    "LEAKY_RELU": lambda: OneOp(OP.LEAKY_RELU, [1, 4], [1, 4], _options("LeakyReluOptions", alpha=0.2)),
    "MEAN": lambda: OneOp(
        OP.MEAN, [1, 2, 2, 4], [1, 4], _options("ReducerOptions"), consts=[([2], TT.INT32, i32(1, 2))]
    ),
    "PAD": lambda: OneOp(OP.PAD, [1, 4], [1, 6], _options("PadOptions"), consts=[([2, 2], TT.INT32, i32(0, 0, 1, 1))]),
    "TRANSPOSE": lambda: OneOp(
        OP.TRANSPOSE, [1, 2, 3], [1, 3, 2], _options("TransposeOptions"), consts=[([3], TT.INT32, i32(0, 2, 1))]
    ),
    "RESHAPE": lambda: OneOp(
        OP.RESHAPE, [1, 4], [2, 2], _options("ReshapeOptions", newShape=[2, 2]), consts=[([2], TT.INT32, i32(2, 2))]
    ),
    "RESIZE_NEAREST_NEIGHBOR": lambda: OneOp(
        OP.RESIZE_NEAREST_NEIGHBOR,
        [1, 2, 2, 1],
        [1, 4, 4, 1],
        _options("ResizeNearestNeighborOptions"),
        consts=[([2], TT.INT32, i32(4, 4))],
    ),
    "SPACE_TO_BATCH_ND": lambda: OneOp(
        OP.SPACE_TO_BATCH_ND,
        [1, 4, 4, 1],
        [4, 2, 2, 1],
        _options("SpaceToBatchNDOptions"),
        consts=[([2], TT.INT32, i32(2, 2)), ([2, 2], TT.INT32, i32(0, 0, 0, 0))],
    ),
    "QUANTIZE": lambda: OneOp(OP.QUANTIZE, [1, 4], [1, 4], in_type=TT.FLOAT32),
}


def refused(model: OneOp, *words: str) -> str:
    """The model is refused with one sentence that names the op or tensor and every word."""
    with pytest.raises(ModelError) as info:
        compile_bytes(model.bytes(), "m")
    message = str(info.value)
    assert "\n" not in message and not PYTHON_NAMES.search(message), message
    for w in words:
        assert w in message, message
    return message


def compiles(model: OneOp):
    return compile_bytes(model.bytes(), "m")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_unedited_one_op_models_compile(name):
    compiles(MODELS[name]())


# --- inputs and outputs: both references refuse every extra input or output (TFLite always,
# TFLite Micro for most ops); an omitted required input is refused by both.


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"CONCATENATION"}))
def test_extra_input_refused(name):
    m = MODELS[name]()
    m.op.inputs = np.append(m.op.inputs, m.op.inputs[0]).astype(np.int32)
    refused(m, f"op 0 {name}", "inputs; TFLite's")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_extra_output_refused(name):
    m = MODELS[name]()
    extra = copy.deepcopy(m.sg.tensors[m.op.outputs[0]])
    extra.name = b"extra"
    m.op.outputs = np.append(m.op.outputs, m.add(extra)).astype(np.int32)
    refused(m, f"op 0 {name}", "has 2 outputs", "has 1")


def test_omitted_required_input_refused():
    m = conv()
    m.op.inputs = np.array([m.op.inputs[0], -1, m.op.inputs[2]], np.int32)
    refused(m, "op 0 CONV_2D", "input 1 is omitted")


def test_omitted_bias_is_fine():
    m = conv()
    m.op.inputs = np.array([m.op.inputs[0], m.op.inputs[1], -1], np.int32)
    compiles(m)


# --- builtin options: a missing or wrong-type table reads as all zeros in both references.


@pytest.mark.parametrize(
    "name,table",
    [
        ("CONV_2D", "Conv2DOptions"),
        ("DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions"),
        ("MAX_POOL_2D", "Pool2DOptions"),
        ("SOFTMAX", "SoftmaxOptions"),
    ],
)
def test_missing_required_options_refused(name, table):
    # TFLite: stride/dilation > 0 fails in Prepare (SOFTMAX: both references abort on beta 0).
    m = MODELS[name]()
    m.op.builtinOptionsType, m.op.builtinOptions = 0, None
    refused(m, f"op 0 {name}", f"has no {table}")


@pytest.mark.parametrize("name", ["CONV_2D", "ADD", "LOGISTIC", "MEAN"])
def test_wrong_options_type_refused(name):
    m = MODELS[name]()
    m.op.builtinOptionsType = BO.CallOptions
    m.op.builtinOptions = _options("CallOptions")
    refused(m, f"op 0 {name}", "builtin options of type CallOptions")


def test_optional_options_may_be_missing():
    for name in ("ADD", "FULLY_CONNECTED", "MEAN", "PAD", "RESHAPE"):
        m = MODELS[name]()
        m.op.builtinOptionsType, m.op.builtinOptions = 0, None
        compiles(m)


def test_leaky_relu_without_options_is_alpha_zero():
    """Both references read a missing LeakyReluOptions as alpha 0 (negatives become 0)."""
    m = MODELS["LEAKY_RELU"]()
    m.op.builtinOptionsType, m.op.builtinOptions = 0, None
    kernel = compiles(m).steps[0].kernel
    assert kernel.params["alpha_multiplier"] == 0


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("padding", 2, ["padding 2 is not a valid value", "0 SAME, 1 VALID"]),  # TFLite refuses CONV_2D
        ("padding", -1, ["padding -1"]),
        ("fusedActivationFunction", 6, ["fused_activation_function 6 is not a valid value"]),
        ("strideH", 0, ["stride_h is 0", "at least 1"]),  # TFLite: stride_height > 0
        ("dilationWFactor", 0, ["dilation_w_factor is 0"]),  # TFLite: dilation > 0
    ],
)
def test_conv_option_values_refused(field, value, words):
    refused(conv(**{field: value}), "op 0 CONV_2D", *words)


def test_pool_filter_zero_refused():
    m = pool()
    m.op.builtinOptions.filterWidth = 0
    refused(m, "op 0 MAX_POOL_2D", "filter_width is 0")


def test_fully_connected_weights_format_out_of_range():
    m = fully_connected()
    m.op.builtinOptions.weightsFormat = 5
    refused(m, "op 0 FULLY_CONNECTED", "weights_format 5")


# --- index tensors (axes, sizes, block shapes) of a type the kernel does not read.


@pytest.mark.parametrize("name", ["MEAN", "RESIZE_NEAREST_NEIGHBOR", "SPACE_TO_BATCH_ND", "TRANSPOSE"])
def test_int64_index_tensor_refused(name):
    # MEAN, RESIZE_*: both references require INT32; SPACE_TO_BATCH_ND: TFLite reads the
    # int64 bytes as int32 (block 0) and refuses, TFLite Micro aborts; TRANSPOSE: TFLite Micro
    # runs it but reads the int64 perm's bytes as int32, another permutation.
    m = MODELS[name]()
    _to_int64(m, 1)
    refused(m, f"op 0 {name}", "has type INT64", "reads INT32 there")


@pytest.mark.parametrize("name", ["PAD", "RESHAPE"])
def test_int64_index_tensor_accepted_where_tflite_reads_it(name):
    # TFLite's reference reads int64 paddings and shapes (TFLite Micro refuses the paddings and
    # ignores RESHAPE's shape input); edgeconv reads the values exactly: TFLite's result.
    m = MODELS[name]()
    _to_int64(m, 1)
    compiles(m)


def _to_int64(m: OneOp, position: int) -> None:
    t = m.tensor(position)
    buf = m.model.buffers[t.buffer]
    buf.data = np.frombuffer(np.frombuffer(buf.data.tobytes(), np.int32).astype(np.int64).tobytes(), np.uint8)
    t.type = TT.INT64


def test_float_index_tensor_refused():
    m = MODELS["TRANSPOSE"]()
    t = m.tensor(1)
    m.model.buffers[t.buffer].data = np.frombuffer(np.array([0, 2, 1], np.float32).tobytes(), np.uint8)
    t.type = TT.FLOAT32
    refused(m, "op 0 TRANSPOSE", "has type FLOAT32")


# --- values that disagree with the tensors.


@pytest.mark.parametrize("multiplier", [0, 1, 3])
def test_depth_multiplier_inconsistent_with_channels_refused(multiplier):
    # Both references run it; their depthwise loops then compute depth_multiplier outputs per
    # input channel, so the output is not what the weights describe.
    refused(depthwise(multiplier), "op 0 DEPTHWISE_CONV_2D", f"depth_multiplier {multiplier}", "need 2")


def test_fully_connected_bias_scale_far_from_product_refused():
    # Both references: GetQuantizedConvolutionMultipler, scale_diff / output_scale <= 0.02.
    refused(fully_connected(bias_scale=0.05 * 0.02 * 4), "op 0 FULLY_CONNECTED", "bias", "2% of the output scale")


def test_fully_connected_bias_scale_within_tolerance_compiles():
    compiles(fully_connected(bias_scale=0.05 * 0.02 * 1.5))  # both references run this one


def test_conv_input_not_4d_refused():
    m = conv()
    m.tensor(0).shape = np.array([5, 5, 2], np.int32)
    refused(m, "op 0 CONV_2D", "input 0", "needs 4-D")


# --- the reader's structural rules.


def test_schema_version_refused():
    # TFLite: "Model provided is schema version 2 not equal to supported version 3".
    for version in (0, 2, 4):
        m = conv()
        m.model.version = version
        refused(m, f"schema version {version}")


def test_non_empty_buffer_zero_refused():
    # TFLite Micro crashes on it; TFLite would make every activation a constant.
    m = conv()
    m.model.buffers[0].data = np.array([1, 2, 3, 4], np.uint8)
    refused(m, "buffer 0 holds 4 bytes", "empty buffer")


def test_sparse_tensor_refused():
    m = conv()
    sparsity = S.SparsityParametersT()
    sparsity.traversalOrder = np.arange(4, dtype=np.int32)
    sparsity.dimMetadata = []
    for size in (3, 3, 3, 2):
        d = S.DimensionMetadataT()
        d.format, d.denseSize = 0, size
        sparsity.dimMetadata.append(d)
    m.tensor(1).sparsity = sparsity
    refused(m, "tensor 1 'c0'", "sparse")


# Like test_variable_graph_input_refused below, but on a constant: one test per refusal, so a failure names the rule
def test_variable_constant_refused():
    # TFLite: "Tensor 1 is a variable tensor with buffer ... not supported".
    m = conv()
    m.tensor(1).isVariable = True
    refused(m, "tensor 1 'c0'", "is_variable")


# Like test_sparse_tensor_refused and test_variable_constant_refused above, but on the model input: one test per
# refusal, so a failure names the rule
def test_constant_graph_input_refused():
    m = conv()
    m.model.buffers.append(S.BufferT())
    m.model.buffers[-1].data = np.zeros(50, np.uint8)
    m.tensor(0).buffer = len(m.model.buffers) - 1
    refused(m, "model input tensor 0 'x'", "is a constant")


def test_variable_graph_input_refused():
    m = conv()
    m.tensor(0).isVariable = True
    refused(m, "model input tensor 0 'x'", "is_variable")


def test_corrupt_flatbuffer_message_is_a_sentence():
    data = conv().bytes()
    with pytest.raises(ModelError) as info:
        compile_bytes(data[: len(data) // 2], "m")
    assert not PYTHON_NAMES.search(str(info.value)), info.value


def test_lowering_safety_net_hides_python_names(monkeypatch):
    """An unexpected error inside a lowering becomes a sentence about the op."""
    from edgeconv.lowering.ops import base

    def broken(graph, op):
        return {}[-1]

    monkeypatch.setitem(base.LOWERINGS, "CONV_2D", broken)
    message = refused(conv(), "op 0 CONV_2D", "malformed op")
    assert "-1" not in message


@pytest.mark.parametrize("name,size", [("CONV_2D", 1), ("CONV_2D", 2), ("FULLY_CONNECTED", 1)])
def test_bias_size_must_match_output_channels(name, size):
    # TFLite: NumElements(bias) != SizeOfDimension(filter, 0); TFLite Micro reads past it.
    m = MODELS[name]()
    b = m.tensor(2)
    b.shape = np.array([size], np.int32)
    m.model.buffers[b.buffer].data = np.frombuffer(np.arange(size, dtype=np.int32).tobytes(), np.uint8)
    b.quantization.scale = b.quantization.scale[:size]
    b.quantization.zeroPoint = b.quantization.zeroPoint[:size]
    refused(m, f"op 0 {name}", f"has {size} values", "output channels")


@pytest.mark.parametrize("dims", [[7], [1], [-1]])
def test_squeeze_dims_must_name_a_size_1_dimension(dims):
    # Both references: "input_dims->data[current] == 1 was not true".
    m = OneOp(OP.SQUEEZE, [1, 4], [4], _options("SqueezeOptions", squeezeDims=dims))
    refused(m, "op 0 SQUEEZE", f"squeeze_dims {dims[0]}")


def test_squeeze_of_size_1_dimension_compiles():
    compiles(OneOp(OP.SQUEEZE, [1, 4], [4], _options("SqueezeOptions", squeezeDims=[-2])))


def expand_dims(*axis) -> OneOp:
    return OneOp(
        OP.EXPAND_DIMS, [1, 4], [1, 1, 4], _options("ExpandDimsOptions"), consts=[([len(axis)], TT.INT32, i32(*axis))]
    )


@pytest.mark.parametrize(
    "axis,words",
    [
        ((3,), ["axis 3 is out of range"]),  # both references
        ((-4,), ["axis -4 is out of range"]),  # both references
        ((1, 1), ["has 2 values"]),  # TFLite
    ],
)
def test_expand_dims_axis_refused(axis, words):
    refused(expand_dims(*axis), "op 0 EXPAND_DIMS", *words)


def test_expand_dims_output_shape_is_computed_not_read():
    """The stored output [1, 1, 4] is a hint: TFLite's Prepare resizes it to [1, 4, 1] for axis 2
    (TFLite Micro, which does not resize, refuses the model), and so does edgeconv."""
    model = compiles(expand_dims(2))
    assert model.graph.tensors[model.graph.outputs[0]].shape == (1, 4, 1)


@pytest.mark.parametrize("axis", [1, -2])
def test_expand_dims_valid_axis_compiles(axis):
    compiles(expand_dims(axis))


@pytest.mark.parametrize("name", ["CONV_2D", "FULLY_CONNECTED"])
def test_quantized_bias_type_outside_the_enum_refused(name):
    # Both references: "Unsupported data type 30 in tensor".
    m = MODELS[name]()
    m.op.builtinOptions.quantizedBiasType = 30
    refused(m, f"op 0 {name}", "quantized_bias_type 30 is not a valid value")
    m.op.builtinOptions.quantizedBiasType = TT.INT32  # what newer converters write
    compiles(m)


@pytest.mark.parametrize(
    "name,shape,words",
    [
        ("TRANSPOSE", [1, 3], ["has shape [1, 3]", "needs it 1-D"]),  # both references
        ("RESIZE_NEAREST_NEIGHBOR", [1, 2], ["needs it 1-D"]),  # both references
        ("PAD", [4], ["needs it 2-D"]),  # TFLite (TFLite Micro reads it flat)
        ("SPACE_TO_BATCH_ND", [1, 2], ["needs it 1-D"]),  # TFLite
    ],
)
def test_index_tensor_rank_refused(name, shape, words):
    m = MODELS[name]()
    m.tensor(1).shape = np.array(shape, np.int32)
    refused(m, f"op 0 {name}", *words)


def test_graph_input_written_by_an_op_refused():
    m = OneOp(OP.RELU, [1, 4], [1, 4])
    m.sg.inputs = np.array([0, 1], np.int32)  # y, which the RELU writes, is also a model input
    refused(m, "model input tensor 1 'y'", "written by op 0 RELU")
