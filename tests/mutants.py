"""Test support: tiny one-op int8 models assembled with TFLite's flatbuffer object API, and a
structure-aware mutator that edits ONE semantic field of a model at a time.

A base model is one op of one family edgeconv supports (README "Supported"), with graph inputs,
constants and quantization as the TFLite converter would write them, small enough to compile,
build and run in well under a second. A Mutation names the base, the target (op, tensor,
subgraph or model), the field and the value, so a failing mutant is reproducible by its id:
`python -m pytest tests/frontend/test_hostile_fields.py -k <id>`.

Mutations are enumerated exhaustively per base (every field of the op's options class found by
introspection, every tensor's type, quantization, shape, buffer, name, flags; the op's inputs,
outputs, opcode and options union; the subgraph's inputs and outputs; the model's version,
description and buffer 0) and then ordered by a seeded shuffle that takes one mutation of each
base in turn, so any prefix of the order covers every op family.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)


@functools.cache
def schema() -> Any:
    """tensorflow.lite.python.schema_py_generated, loaded from its file so that TensorFlow
    itself (seconds to import) is not imported."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "lite", "python", "schema_py_generated.py")
        if os.path.exists(path):
            file_spec = importlib.util.spec_from_file_location("edgeconv_test_tflite_schema", path)
            module = importlib.util.module_from_spec(file_spec)
            file_spec.loader.exec_module(module)
            return module
    from tensorflow.lite.python import schema_py_generated  # pragma: no cover

    return schema_py_generated


def unpack(data: bytes) -> Any:
    s = schema()
    return s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))


def pack(model: Any) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def type_code(dtype: str) -> int:
    return getattr(schema().TensorType, dtype.upper())


def type_name(code: int) -> str:
    names = {v: k for k, v in vars(schema().TensorType).items() if not k.startswith("_")}
    return names.get(code, f"TYPE{code}")


NUMPY_OF = {
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FLOAT32": np.float32,
    "BOOL": np.bool_,
}

# op name -> the BuiltinOptions union member its options live in (None: the op has none)
OPTIONS_OF = {
    "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "SOFTMAX": "SoftmaxOptions",
    "MEAN": "ReducerOptions",
    "ADD": "AddOptions",
    "SUB": "SubOptions",
    "MUL": "MulOptions",
    "CONCATENATION": "ConcatenationOptions",
    "PAD": "PadOptions",
    "PADV2": "PadV2Options",
    "RESHAPE": "ReshapeOptions",
    "SQUEEZE": "SqueezeOptions",
    "EXPAND_DIMS": "ExpandDimsOptions",
    "TRANSPOSE": "TransposeOptions",
    "RESIZE_BILINEAR": "ResizeBilinearOptions",
    "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions",
    "SPACE_TO_BATCH_ND": "SpaceToBatchNDOptions",
    "BATCH_TO_SPACE_ND": "BatchToSpaceNDOptions",
    "LEAKY_RELU": "LeakyReluOptions",
    "HARD_SWISH": "HardSwishOptions",
    "MAXIMUM": "MaximumMinimumOptions",
    "MINIMUM": "MaximumMinimumOptions",
    "DEQUANTIZE": "DequantizeOptions",
    "QUANTIZE": "QuantizeOptions",
    "RELU": None,
    "RELU6": None,
    "LOGISTIC": None,
    "TANH": None,
    "PRELU": None,
    "TRANSPOSE_CONV": "TransposeConvOptions",
    "BATCH_MATMUL": "BatchMatMulOptions",
    "EXP": "ExpOptions",
}


class Net:
    """Assembles a one-subgraph model through the object API."""

    def __init__(self) -> None:
        s = schema()
        self.model = s.ModelT()
        self.model.version = 3
        self.model.description = b"edgeconv hostile-suite base"
        self.model.buffers = [s.BufferT()]  # buffer 0: the empty sentinel
        self.model.operatorCodes = []
        self.sg = s.SubGraphT()
        self.sg.tensors, self.sg.operators = [], []
        self.sg.name = b"main"
        self.model.subgraphs = [self.sg]

    def tensor(self, name: str, shape, dtype: str = "int8", scale=None, zp=0, data=None, axis: int = 0) -> int:
        s = schema()
        t = s.TensorT()
        t.name = name.encode()
        t.shape = np.array(shape, dtype=np.int32)
        t.type = type_code(dtype)
        if scale is not None:
            q = s.QuantizationParametersT()
            q.scale = np.atleast_1d(np.array(scale, dtype=np.float32))
            q.zeroPoint = np.broadcast_to(np.array(zp, dtype=np.int64), q.scale.shape).copy()
            q.quantizedDimension = axis
            t.quantization = q
        if data is not None:
            arr = np.asarray(data, dtype=NUMPY_OF[dtype.upper()]).reshape(shape)
            buf = s.BufferT()
            buf.data = np.frombuffer(arr.tobytes(), dtype=np.uint8).copy()
            self.model.buffers.append(buf)
            t.buffer = len(self.model.buffers) - 1
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def op(self, opname: str, inputs: list[int], outputs: list[int], **options) -> None:
        """An op of OPTIONS_OF, its options set by their object-API names."""
        self.add_op(opname, inputs, outputs, OPTIONS_OF[opname], **options)

    def add_op(
        self, opname: str, inputs: list[int], outputs: list[int], member: str | None, version: int = 1, **options
    ) -> None:
        """Any op: `member` names its BuiltinOptions table (None: none); one operator code per
        op and version."""
        s = schema()
        code = getattr(s.BuiltinOperator, opname)
        for i, oc in enumerate(self.model.operatorCodes):
            if oc.builtinCode == code and oc.version == version:
                index = i
                break
        else:
            oc = s.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = version
            self.model.operatorCodes.append(oc)
            index = len(self.model.operatorCodes) - 1
        o = s.OperatorT()
        o.opcodeIndex = index
        o.inputs = np.array(inputs, dtype=np.int32)
        o.outputs = np.array(outputs, dtype=np.int32)
        if member is not None:
            opts = getattr(s, member + "T")()
            for k, v in options.items():
                assert hasattr(opts, k), (member, k)
                setattr(opts, k, v)
            o.builtinOptionsType = getattr(s.BuiltinOptions, member)
            o.builtinOptions = opts
        self.sg.operators.append(o)

    def finish(self, inputs: list[int], outputs: list[int]) -> bytes:
        self.sg.inputs = np.array(inputs, dtype=np.int32)
        self.sg.outputs = np.array(outputs, dtype=np.int32)
        return pack(self.model)


def _rng_int8(rng, shape):
    return rng.integers(-127, 128, size=shape)


# ---- base models: one per op family ------------------------------------------------------

SAME, VALID = 0, 1


# Like _conv_dilated and _conv_grouped below (and other tests' CONV_2D builders): each hand-built model spells out its
# own tensors and options so a case reads whole; kept apart because shapes, scales, seeds and options differ (merging
# them would change the models)
def _conv() -> bytes:
    rng = np.random.default_rng(1)
    n = Net()
    x = n.tensor("input", [1, 5, 5, 2], scale=0.05, zp=-3)
    ws = np.array([0.02, 0.03, 0.01], dtype=np.float32)
    w = n.tensor("weights", [3, 3, 3, 2], scale=ws, zp=[0, 0, 0], data=_rng_int8(rng, (3, 3, 3, 2)), axis=0)
    b = n.tensor("bias", [3], "int32", scale=np.float32(0.05) * ws, zp=[0, 0, 0], data=rng.integers(-300, 300, 3))
    y = n.tensor("output", [1, 3, 3, 3], scale=0.09, zp=5)
    n.op(
        "CONV_2D",
        [x, w, b],
        [y],
        padding=SAME,
        strideW=2,
        strideH=2,
        fusedActivationFunction=1,
        dilationWFactor=1,
        dilationHFactor=1,
    )
    return n.finish([x], [y])


# Like _conv above and _conv_grouped below: each hand-built model spells out its own tensors and options so a case reads
# whole; kept apart because shapes, scales, seeds and options differ (merging them would change the models)
def _conv_dilated() -> bytes:
    rng = np.random.default_rng(2)
    n = Net()
    x = n.tensor("input", [1, 6, 6, 1], scale=0.1, zp=0)
    w = n.tensor("weights", [2, 3, 3, 1], scale=[0.01, 0.02], zp=[0, 0], data=_rng_int8(rng, (2, 3, 3, 1)), axis=0)
    b = n.tensor(
        "bias", [2], "int32", scale=np.float32(0.1) * np.float32([0.01, 0.02]), zp=[0, 0], data=rng.integers(-50, 50, 2)
    )
    y = n.tensor("output", [1, 2, 2, 2], scale=0.05, zp=-10)
    n.op(
        "CONV_2D",
        [x, w, b],
        [y],
        padding=VALID,
        strideW=1,
        strideH=1,
        fusedActivationFunction=3,
        dilationWFactor=2,
        dilationHFactor=2,
    )
    return n.finish([x], [y])


# Like _conv and _conv_dilated above: each hand-built model spells out its own tensors and options so a case reads
# whole; kept apart because shapes, scales, seeds and options differ (merging them would change the models)
def _conv_grouped() -> bytes:
    rng = np.random.default_rng(5)
    n = Net()
    x = n.tensor("input", [1, 4, 4, 4], scale=0.05, zp=1)
    ws = np.array([0.02, 0.01, 0.03, 0.02], dtype=np.float32)
    w = n.tensor("weights", [4, 3, 3, 2], scale=ws, zp=[0] * 4, data=_rng_int8(rng, (4, 3, 3, 2)), axis=0)
    b = n.tensor("bias", [4], "int32", scale=np.float32(0.05) * ws, zp=[0] * 4, data=rng.integers(-99, 99, 4))
    y = n.tensor("output", [1, 4, 4, 4], scale=0.1, zp=0)
    n.op(
        "CONV_2D",
        [x, w, b],
        [y],
        padding=SAME,
        strideW=1,
        strideH=1,
        fusedActivationFunction=0,
        dilationWFactor=1,
        dilationHFactor=1,
    )
    return n.finish([x], [y])


def _fully_connected_3d() -> bytes:
    rng = np.random.default_rng(6)
    n = Net()
    x = n.tensor("input", [1, 3, 8], scale=0.04, zp=2)
    w = n.tensor(
        "weights", [5, 8], scale=[0.02, 0.01, 0.03, 0.02, 0.05], zp=[0] * 5, data=_rng_int8(rng, (5, 8)), axis=0
    )
    y = n.tensor("output", [1, 3, 5], scale=0.05, zp=-3)
    n.op("FULLY_CONNECTED", [x, w, -1], [y], fusedActivationFunction=3, keepNumDims=True)
    return n.finish([x], [y])


# Like test_kernel_params.py's _depthwise_m1 and _mac_16x8, but depth multiplier 2 (test_api.py's tiny_model and
# test_int16_elementwise.py's pool share only the option-list shape): kept apart, each model reads whole
def _depthwise() -> bytes:
    rng = np.random.default_rng(3)
    n = Net()
    x = n.tensor("input", [1, 4, 4, 2], scale=0.05, zp=2)
    ws = np.array([0.02, 0.01, 0.03, 0.015], dtype=np.float32)
    w = n.tensor("weights", [1, 3, 3, 4], scale=ws, zp=[0] * 4, data=_rng_int8(rng, (1, 3, 3, 4)), axis=3)
    b = n.tensor("bias", [4], "int32", scale=np.float32(0.05) * ws, zp=[0] * 4, data=rng.integers(-200, 200, 4))
    y = n.tensor("output", [1, 4, 4, 4], scale=0.07, zp=-1)
    n.op(
        "DEPTHWISE_CONV_2D",
        [x, w, b],
        [y],
        padding=SAME,
        strideW=1,
        strideH=1,
        depthMultiplier=2,
        fusedActivationFunction=0,
        dilationWFactor=1,
        dilationHFactor=1,
    )
    return n.finish([x], [y])


def _fully_connected() -> bytes:
    rng = np.random.default_rng(4)
    n = Net()
    x = n.tensor("input", [1, 8], scale=0.04, zp=-7)
    w = n.tensor("weights", [5, 8], scale=0.02, zp=0, data=_rng_int8(rng, (5, 8)))
    b = n.tensor("bias", [5], "int32", scale=np.float32(0.04) * np.float32(0.02), zp=0, data=rng.integers(-500, 500, 5))
    y = n.tensor("output", [1, 5], scale=0.06, zp=3)
    n.op("FULLY_CONNECTED", [x, w, b], [y], fusedActivationFunction=0, keepNumDims=False)
    return n.finish([x], [y])


def _pool(opname: str) -> Callable[[], bytes]:
    def build() -> bytes:
        n = Net()
        x = n.tensor("input", [1, 4, 5, 2], scale=0.05, zp=-4)
        y = n.tensor("output", [1, 2, 3, 2], scale=0.05, zp=-4)
        n.op(
            opname,
            [x],
            [y],
            padding=SAME,
            strideW=2,
            strideH=2,
            filterWidth=2,
            filterHeight=3,
            fusedActivationFunction=0,
        )
        return n.finish([x], [y])

    return build


def _softmax(depth: int) -> Callable[[], bytes]:
    def build() -> bytes:
        n = Net()
        x = n.tensor("logits", [1, depth], scale=0.1, zp=-2)
        y = n.tensor("probs", [1, depth], scale=1 / 256, zp=-128)
        n.op("SOFTMAX", [x], [y], beta=1.0)
        return n.finish([x], [y])

    return build


def _mean() -> bytes:
    n = Net()
    x = n.tensor("input", [1, 3, 4, 2], scale=0.05, zp=1)
    a = n.tensor("axis", [2], "int32", data=[1, 2])
    y = n.tensor("output", [1, 1, 1, 2], scale=0.03, zp=-2)
    n.op("MEAN", [x, a], [y], keepDims=True)
    return n.finish([x], [y])


def _binary(opname: str, same_quant: bool = False, **options) -> Callable[[], bytes]:
    def build() -> bytes:
        n = Net()
        a = n.tensor("a", [1, 2, 2, 3], scale=0.05, zp=-3)
        b = n.tensor("b", [1, 1, 1, 3], scale=0.05 if same_quant else 0.02, zp=-3 if same_quant else 4)
        y = n.tensor("output", [1, 2, 2, 3], scale=0.05 if same_quant else 0.08, zp=-3 if same_quant else 1)
        n.op(opname, [a, b], [y], **options)
        return n.finish([a, b], [y])

    return build


def _concatenation() -> bytes:
    n = Net()
    a = n.tensor("a", [1, 2, 2, 2], scale=0.05, zp=0)
    b = n.tensor("b", [1, 2, 2, 3], scale=0.05, zp=0)
    y = n.tensor("output", [1, 2, 2, 5], scale=0.05, zp=0)
    n.op("CONCATENATION", [a, b], [y], axis=3, fusedActivationFunction=0)
    return n.finish([a, b], [y])


def _pad(v2: bool) -> Callable[[], bytes]:
    def build() -> bytes:
        n = Net()
        x = n.tensor("input", [1, 2, 3, 2], scale=0.05, zp=-5)
        p = n.tensor("paddings", [4, 2], "int32", data=[[0, 0], [1, 2], [0, 1], [0, 0]])
        ins = [x, p]
        if v2:
            ins.append(n.tensor("constant", [1], scale=0.05, zp=-5, data=[7]))
        y = n.tensor("output", [1, 5, 4, 2], scale=0.05, zp=-5)
        n.op("PADV2" if v2 else "PAD", ins, [y])
        return n.finish([x], [y])

    return build


def _reshape() -> bytes:
    n = Net()
    x = n.tensor("input", [1, 2, 2, 2], scale=0.05, zp=1)
    s = n.tensor("new_shape", [2], "int32", data=[1, 8])
    y = n.tensor("output", [1, 8], scale=0.05, zp=1)
    n.op("RESHAPE", [x, s], [y], newShape=[1, 8])
    return n.finish([x], [y])


def _squeeze() -> bytes:
    n = Net()
    x = n.tensor("input", [1, 1, 4, 2], scale=0.05, zp=1)
    y = n.tensor("output", [1, 4, 2], scale=0.05, zp=1)
    n.op("SQUEEZE", [x], [y], squeezeDims=[1])
    return n.finish([x], [y])


def _expand_dims() -> bytes:
    n = Net()
    x = n.tensor("input", [1, 4, 2], scale=0.05, zp=1)
    a = n.tensor("axis", [1], "int32", data=[1])
    y = n.tensor("output", [1, 1, 4, 2], scale=0.05, zp=1)
    n.op("EXPAND_DIMS", [x, a], [y])
    return n.finish([x], [y])


def _transpose() -> bytes:
    n = Net()
    x = n.tensor("input", [1, 2, 3, 4], scale=0.05, zp=1)
    p = n.tensor("perm", [4], "int32", data=[0, 2, 1, 3])
    y = n.tensor("output", [1, 3, 2, 4], scale=0.05, zp=1)
    n.op("TRANSPOSE", [x, p], [y])
    return n.finish([x], [y])


def _resize(opname: str, align: bool, half: bool) -> Callable[[], bytes]:
    def build() -> bytes:
        n = Net()
        x = n.tensor("input", [1, 2, 3, 2], scale=0.05, zp=-2)
        s = n.tensor("size", [2], "int32", data=[4, 5])
        y = n.tensor("output", [1, 4, 5, 2], scale=0.05, zp=-2)
        n.op(opname, [x, s], [y], alignCorners=align, halfPixelCenters=half)
        return n.finish([x], [y])

    return build


def _space_to_batch() -> bytes:
    n = Net()
    # Zero paddings: TFLite Micro pads with an uninitialized value (validation.tflm_undefined_ops)
    x = n.tensor("input", [1, 4, 4, 1], scale=0.05, zp=0)
    b = n.tensor("block_shape", [2], "int32", data=[2, 2])
    p = n.tensor("paddings", [2, 2], "int32", data=[[0, 0], [0, 0]])
    y = n.tensor("output", [4, 2, 2, 1], scale=0.05, zp=0)
    n.op("SPACE_TO_BATCH_ND", [x, b, p], [y])
    return n.finish([x], [y])


def _batch_to_space() -> bytes:
    n = Net()
    x = n.tensor("input", [4, 2, 2, 1], scale=0.05, zp=0)
    b = n.tensor("block_shape", [2], "int32", data=[2, 2])
    c = n.tensor("crops", [2, 2], "int32", data=[[0, 0], [1, 1]])
    y = n.tensor("output", [1, 4, 2, 1], scale=0.05, zp=0)
    n.op("BATCH_TO_SPACE_ND", [x, b, c], [y])
    return n.finish([x], [y])


def _unary(opname: str, out_scale: float, out_zp: int, **options) -> Callable[[], bytes]:
    def build() -> bytes:
        n = Net()
        x = n.tensor("input", [1, 2, 6], scale=0.06, zp=-4)
        y = n.tensor("output", [1, 2, 6], scale=out_scale, zp=out_zp)
        n.op(opname, [x], [y], **options)
        return n.finish([x], [y])

    return build


def _prelu() -> bytes:
    n = Net()
    x = n.tensor("input", [1, 2, 2, 3], scale=0.05, zp=-3)
    a = n.tensor("alpha", [1, 1, 3], scale=0.01, zp=0, data=[25, -10, 60])
    y = n.tensor("output", [1, 2, 2, 3], scale=0.04, zp=2)
    n.op("PRELU", [x, a], [y])
    return n.finish([x], [y])


def _quantize_float() -> bytes:
    n = Net()
    x = n.tensor("input", [1, 8], "float32")
    y = n.tensor("output", [1, 8], scale=0.03, zp=-6)
    n.op("QUANTIZE", [x], [y])
    return n.finish([x], [y])


def _requantize() -> bytes:
    n = Net()
    x = n.tensor("input", [1, 8], scale=0.03, zp=-6)
    y = n.tensor("output", [1, 8], scale=0.05, zp=4)
    n.op("QUANTIZE", [x], [y])
    return n.finish([x], [y])


def _quantize_uint8() -> bytes:
    n = Net()
    x = n.tensor("input", [1, 8], "uint8", scale=0.03, zp=128)
    y = n.tensor("output", [1, 8], scale=0.03, zp=0)
    n.op("QUANTIZE", [x], [y])
    return n.finish([x], [y])


def _quantize_to_uint8() -> bytes:
    n = Net()
    x = n.tensor("input", [1, 8], scale=0.03, zp=-2)
    y = n.tensor("output", [1, 8], "uint8", scale=0.04, zp=130)
    n.op("QUANTIZE", [x], [y])
    return n.finish([x], [y])


def _dequantize() -> bytes:
    n = Net()
    x = n.tensor("input", [1, 8], scale=0.03, zp=-6)
    y = n.tensor("output", [1, 8], "float32")
    n.op("DEQUANTIZE", [x], [y])
    return n.finish([x], [y])


def _transpose_conv() -> bytes:
    rng = np.random.default_rng(7)
    n = Net()
    x = n.tensor("input", [1, 3, 2, 3], scale=0.05, zp=-4)
    shape = n.tensor("output_shape", [4], "int32", data=[1, 6, 2, 2])
    ws = np.array([0.02, 0.03], dtype=np.float32)
    w = n.tensor("weights", [2, 3, 2, 3], scale=ws, zp=[0, 0], data=_rng_int8(rng, (2, 3, 2, 3)), axis=0)
    b = n.tensor("bias", [2], "int32", scale=np.float32(0.05) * ws, zp=[0, 0], data=rng.integers(-300, 300, 2))
    y = n.tensor("output", [1, 6, 2, 2], scale=0.08, zp=3)
    n.op("TRANSPOSE_CONV", [shape, w, x, b], [y], padding=SAME, strideH=2, strideW=1, fusedActivationFunction=1)
    return n.finish([x], [y])


def _batch_matmul() -> bytes:
    n = Net()
    a = n.tensor("lhs", [2, 3, 5], scale=0.04, zp=2)
    b = n.tensor("rhs", [1, 2, 5], scale=0.03, zp=-3)
    y = n.tensor("output", [2, 3, 2], scale=0.1, zp=-1)
    n.op("BATCH_MATMUL", [a, b], [y], adjX=False, adjY=True)
    return n.finish([a, b], [y])


BASES: dict[str, Callable[[], bytes]] = {
    "conv": _conv,
    "conv_dilated": _conv_dilated,
    "conv_grouped": _conv_grouped,
    "depthwise": _depthwise,
    "fully_connected": _fully_connected,
    "fully_connected_3d": _fully_connected_3d,
    "avg_pool": _pool("AVERAGE_POOL_2D"),
    "max_pool": _pool("MAX_POOL_2D"),
    "softmax": _softmax(10),
    "softmax_1000": _softmax(1000),  # issue 8: a 1000-class head on a flat input
    "mean": _mean,
    "add": _binary("ADD", fusedActivationFunction=0),
    "sub": _binary("SUB", fusedActivationFunction=0),
    "mul": _binary("MUL", fusedActivationFunction=0),
    "maximum": _binary("MAXIMUM", same_quant=True),
    "minimum": _binary("MINIMUM", same_quant=True),
    "concatenation": _concatenation,
    "pad": _pad(False),
    "padv2": _pad(True),
    "reshape": _reshape,
    "squeeze": _squeeze,
    "expand_dims": _expand_dims,
    "transpose": _transpose,
    "resize_bilinear": _resize("RESIZE_BILINEAR", False, True),
    "resize_nearest": _resize("RESIZE_NEAREST_NEIGHBOR", False, False),
    "space_to_batch": _space_to_batch,
    "batch_to_space": _batch_to_space,
    "relu": _unary("RELU", 0.03, -128),
    "relu6": _unary("RELU6", 6 / 255, -128),
    "leaky_relu": _unary("LEAKY_RELU", 0.05, 10, alpha=0.2),
    "logistic": _unary("LOGISTIC", 1 / 256, -128),
    "tanh": _unary("TANH", 1 / 128, 0),
    "hard_swish": _unary("HARD_SWISH", 0.04, -20),
    "prelu": _prelu,
    "quantize": _quantize_float,
    "requantize": _requantize,
    "quantize_uint8": _quantize_uint8,
    "quantize_to_uint8": _quantize_to_uint8,
    "dequantize": _dequantize,
    "transpose_conv": _transpose_conv,
    "batch_matmul": _batch_matmul,
}


@functools.cache
def base_bytes(name: str) -> bytes:
    return BASES[name]()


# ---- the mutator -----------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    base: str  # a BASES key, or "shared_<model stem>" for a shared model
    target: str  # e.g. "op0_CONV_2D", "t1_weights", "subgraph", "model"
    field: str  # e.g. "options.strideW", "zero_point", "shape[2]"
    label: str  # the value, spelled for an id
    edit: Callable[[Any], None]  # edits a freshly unpacked ModelT in place

    @property
    def id(self) -> str:
        return f"{self.base}.{self.target}.{self.field}.{self.label}"

    def describe(self) -> str:
        return f"base {self.base}, {self.target}, field {self.field} = {self.label}"


def _label(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        if np.isnan(v):
            return "nan"
        if np.isinf(v):
            return "inf" if v > 0 else "minf"
        return {0.0: "0.0", 1e-30: "tiny", 1e30: "huge", -1.0: "m1.0", 2.0: "2.0", 1.0: "1.0", 1e-3: "0.001"}.get(
            v, f"{v:g}".replace("-", "m").replace("+", "")
        )
    if isinstance(v, int):
        return {
            INT32_MAX: "i32max",
            INT32_MIN: "i32min",
            2**31: "2p31",
            -(2**31) - 1: "i32min_m1",
            2**63 - 1: "i64max",
        }.get(v, str(v).replace("-", "m"))
    return str(v)


INT_VALUES = [0, -1, 1, 2, 3, 5, 6, 99, 2**15, 2**30, INT32_MAX, INT32_MIN]
FLOAT_VALUES = [0.0, -1.0, 1e-30, 1e30, float("inf"), float("nan"), 2.0, 1e-3]


@functools.cache
def _options_field_fits(member: str, field: str, value: Any) -> bool:
    """Whether the flatbuffer field can hold the value (padding is a byte, strides int32...)."""
    import flatbuffers

    opts = getattr(schema(), member + "T")()
    setattr(opts, field, value)
    try:
        opts.Pack(flatbuffers.Builder(64))
        return True
    except Exception:
        return False


def _set(path: Callable[[Any], Any], attr: str, value: Any) -> Callable[[Any], None]:
    def edit(m):
        setattr(path(m), attr, value() if callable(value) else value)

    return edit


def _op(i):
    return lambda m: m.subgraphs[0].operators[i]


def _tensor(i):
    return lambda m: m.subgraphs[0].tensors[i]


def _quant(i):
    return lambda m: m.subgraphs[0].tensors[i].quantization


def _op_name(m, op) -> str:
    names = {v: k for k, v in vars(schema().BuiltinOperator).items() if not k.startswith("_")}
    oc = m.operatorCodes[op.opcodeIndex]
    return names.get(max(oc.builtinCode, oc.deprecatedBuiltinCode), str(oc.builtinCode))


# Ops that take the same operands, for opcode swaps (a valid opcode on the wrong op).
SWAP_OPCODE = {
    "CONV_2D": "DEPTHWISE_CONV_2D",
    "DEPTHWISE_CONV_2D": "CONV_2D",
    "FULLY_CONNECTED": "CONV_2D",
    "AVERAGE_POOL_2D": "MAX_POOL_2D",
    "MAX_POOL_2D": "AVERAGE_POOL_2D",
    "ADD": "MUL",
    "SUB": "ADD",
    "MUL": "SUB",
    "MAXIMUM": "MINIMUM",
    "MINIMUM": "MAXIMUM",
    "PAD": "PADV2",
    "PADV2": "PAD",
    "RESHAPE": "SQUEEZE",
    "SQUEEZE": "RESHAPE",
    "EXPAND_DIMS": "RESHAPE",
    "TRANSPOSE": "RESHAPE",
    "RESIZE_BILINEAR": "RESIZE_NEAREST_NEIGHBOR",
    "RESIZE_NEAREST_NEIGHBOR": "RESIZE_BILINEAR",
    "SPACE_TO_BATCH_ND": "BATCH_TO_SPACE_ND",
    "BATCH_TO_SPACE_ND": "SPACE_TO_BATCH_ND",
    "RELU": "RELU6",
    "RELU6": "LOGISTIC",
    "LOGISTIC": "TANH",
    "TANH": "LOGISTIC",
    "LEAKY_RELU": "RELU",
    "HARD_SWISH": "RELU",
    "PRELU": "MUL",
    "QUANTIZE": "DEQUANTIZE",
    "DEQUANTIZE": "QUANTIZE",
    "SOFTMAX": "LOGISTIC",
    "MEAN": "RESHAPE",
    "CONCATENATION": "ADD",
}


def _op_mutations(m, oi: int, op) -> list[tuple[str, str, Callable]]:
    s = schema()
    opname = _op_name(m, op)
    out: list[tuple[str, str, Callable]] = []
    member = OPTIONS_OF.get(opname)
    opts = op.builtinOptions
    # every field of the op's options class, each to interesting values
    if opts is not None and member is not None:
        for field, current in sorted(vars(opts).items()):
            if isinstance(current, bool):
                values: list[Any] = [not current]
            elif isinstance(current, float):
                values = [v for v in FLOAT_VALUES if v != current]
            elif isinstance(current, int):
                values = [v for v in INT_VALUES if v != current]
            elif field in ("newShape", "squeezeDims"):
                values = ["empty", "m1", "wrong", "huge"]
            else:
                continue
            for v in values:
                if field in ("newShape", "squeezeDims"):
                    arr = {
                        "empty": [],
                        "m1": [-1] * max(len(current), 1),
                        "wrong": list(current) + [3],
                        "huge": [INT32_MAX] * max(len(current), 1),
                    }[v]
                    out.append(
                        (
                            f"options.{field}",
                            v,
                            _set(lambda m, i=oi: m.subgraphs[0].operators[i].builtinOptions, field, arr),
                        )
                    )
                    continue
                if not _options_field_fits(member, field, v):
                    continue
                out.append(
                    (
                        f"options.{field}",
                        _label(v),
                        _set(lambda m, i=oi: m.subgraphs[0].operators[i].builtinOptions, field, v),
                    )
                )

    # the options union: removed, another type, a type code that disagrees with the table
    def remove(m, i=oi):
        o = m.subgraphs[0].operators[i]
        o.builtinOptionsType, o.builtinOptions = 0, None

    out.append(("options_union", "none", remove))
    for other in ("Conv2DOptions", "Pool2DOptions", "SoftmaxOptions"):
        if other == member:
            continue

        def swap(m, i=oi, other=other):
            o = m.subgraphs[0].operators[i]
            o.builtinOptionsType = getattr(s.BuiltinOptions, other)
            o.builtinOptions = getattr(s, other + "T")()
            if other == "Conv2DOptions":
                o.builtinOptions.strideW = o.builtinOptions.strideH = 1

        out.append(("options_union", other, swap))
    if opts is not None:
        out.append(
            (
                "options_union",
                "type_mismatch",
                _set(
                    _op(oi),
                    "builtinOptionsType",
                    s.BuiltinOptions.ReshapeOptions if member != "ReshapeOptions" else s.BuiltinOptions.Conv2DOptions,
                ),
            )
        )
        out.append(("options_union", "type_out_of_range", _set(_op(oi), "builtinOptionsType", 250)))
    # the opcode
    code_path = lambda m, i=oi: m.operatorCodes[m.subgraphs[0].operators[i].opcodeIndex]  # noqa: E731
    for v in (0, 2, 99, -1):
        out.append(("opcode.version", _label(v), _set(code_path, "version", v)))
    swapped = getattr(s.BuiltinOperator, SWAP_OPCODE.get(opname, "ADD"))

    def swap_code(m, code=swapped, i=oi):
        oc = code_path(m, i)
        oc.builtinCode, oc.deprecatedBuiltinCode = code, min(code, 127)

    out.append(("opcode.builtin", SWAP_OPCODE.get(opname, "ADD"), swap_code))

    def unknown_code(m, i=oi):
        oc = code_path(m, i)
        oc.builtinCode, oc.deprecatedBuiltinCode = 999, 127

    out.append(("opcode.builtin", "999", unknown_code))
    out.append(
        (
            "opcode.deprecated_builtin",
            "disagrees",
            _set(
                code_path, "deprecatedBuiltinCode", s.BuiltinOperator.ADD if opname != "ADD" else s.BuiltinOperator.SUB
            ),
        )
    )
    out.append(("opcode.custom_code", "set", _set(code_path, "customCode", b"EVIL")))
    out.append(("opcode_index", "1", _set(_op(oi), "opcodeIndex", 1)))
    # operand counts and indices
    n_in, n_out = len(op.inputs), len(op.outputs)

    def rewire(kind: str, how: str, pos: int = 0):
        def edit(m, i=oi):
            o = m.subgraphs[0].operators[i]
            arr = list(getattr(o, kind))
            sg = m.subgraphs[0]
            if how == "drop_last":
                arr = arr[:-1]
            elif how == "drop_first":
                arr = arr[1:]
            elif how == "add_same":
                arr = arr + [arr[0]]
            elif how == "add_new":
                t = s.TensorT()
                t.name, t.type, t.shape = b"extra", s.TensorType.INT8, np.array([1, 4], dtype=np.int32)
                q = s.QuantizationParametersT()
                q.scale, q.zeroPoint = np.array([0.05], dtype=np.float32), np.array([0], dtype=np.int64)
                t.quantization = q
                sg.tensors.append(t)
                arr = arr + [len(sg.tensors) - 1]
            elif how == "omitted":
                arr[pos] = -1
            elif how == "out_of_range":
                arr[pos] = len(sg.tensors)
            elif how == "self":  # an op reading its own output
                arr[pos] = list(o.outputs)[0]
            setattr(o, kind, np.array(arr, dtype=np.int32))

        return edit

    for how in ("drop_last", "drop_first", "add_same", "add_new"):
        out.append((f"inputs({n_in})", how, rewire("inputs", how)))
        out.append((f"outputs({n_out})", how, rewire("outputs", how)))
    for pos in range(n_in):
        out.append((f"inputs[{pos}]", "m1", rewire("inputs", "omitted", pos)))
        out.append((f"inputs[{pos}]", "self", rewire("inputs", "self", pos)))
    out.append(("outputs[0]", "m1", rewire("outputs", "omitted", 0)))
    out.append(("inputs[0]", "out_of_range", rewire("inputs", "out_of_range", 0)))

    def duplicated_op(m, i=oi):
        import copy

        m.subgraphs[0].operators.append(copy.deepcopy(m.subgraphs[0].operators[i]))

    out.append(("operators", "duplicated", duplicated_op))
    return out


TYPE_SWAPS = ["FLOAT32", "INT32", "UINT8", "INT64", "INT16", "INT8", "BOOL", "FLOAT16", "STRING", "INT4"]
NAMES = {
    "comment_end": b"x */ int injected = 1; /* y",
    "newline": b"line1\nline2\r\n#define EVIL 1",
    "non_ascii": "tensør_✓_名前".encode(),
    "invalid_utf8": b"bad\xff\xfe\x80name",
    "very_long": b"n" * 100_000,
    "empty": b"",
    "nul": b"a\x00b",
    "quote_backslash": b"a\"b\\c'??/",
}


def _tensor_mutations(m, ti: int, t) -> list[tuple[str, str, Callable]]:
    s = schema()
    out: list[tuple[str, str, Callable]] = []
    tname = type_name(t.type)
    sg = m.subgraphs[0]
    is_const = t.buffer > 0 and m.buffers[t.buffer].data is not None and len(m.buffers[t.buffer].data) > 0
    shape = [int(d) for d in (t.shape if t.shape is not None else [])]
    # type
    for ty in TYPE_SWAPS:
        if hasattr(s.TensorType, ty) and getattr(s.TensorType, ty) != t.type:
            out.append(("type", ty, _set(_tensor(ti), "type", getattr(s.TensorType, ty))))
    out.append(("type", "99", _set(_tensor(ti), "type", 99)))
    # quantization
    q = t.quantization
    if q is not None and q.scale is not None and len(q.scale):
        n = len(q.scale)
        lo, hi = {"INT8": (-128, 127), "UINT8": (0, 255), "INT16": (-32768, 32767)}.get(tname, (INT32_MIN, INT32_MAX))
        zps = [lo, hi, lo - 1, hi + 1, INT32_MAX, INT32_MIN, 1]
        if (lo, hi) == (INT32_MIN, INT32_MAX):
            zps = [1, -1, INT32_MAX, INT32_MIN, 2**31, -(2**31) - 1]
        for z in dict.fromkeys(zps):
            out.append(
                ("zero_point", _label(z), _set(_quant(ti), "zeroPoint", lambda z=z, n=n: np.full(n, z, dtype=np.int64)))
            )
        for v in FLOAT_VALUES:
            out.append(
                ("scale", _label(v), _set(_quant(ti), "scale", lambda v=v, n=n: np.full(n, v, dtype=np.float32)))
            )
        out.append(
            ("scale", "one_huge_ratio", _set(_quant(ti), "scale", lambda n=n: np.full(n, 3e-38, dtype=np.float32)))
        )

        def extra_scale(m, i=ti):
            qq = m.subgraphs[0].tensors[i].quantization
            qq.scale = np.append(qq.scale, np.float32(0.01)).astype(np.float32)
            qq.zeroPoint = np.append(qq.zeroPoint, 0).astype(np.int64)

        out.append(("scale_count", "plus_one", extra_scale))

        def zp_count(m, i=ti):
            qq = m.subgraphs[0].tensors[i].quantization
            qq.zeroPoint = np.zeros(len(qq.scale) + 2, dtype=np.int64)

        out.append(("zero_point_count", "mismatch", zp_count))
        if n > 1:
            out.append(("scale_count", "two", _set(_quant(ti), "scale", lambda: np.array([0.01, 0.02], np.float32))))
            out.append(
                (
                    "zero_point",
                    "per_channel_nonzero",
                    _set(_quant(ti), "zeroPoint", lambda n=n: np.arange(n, dtype=np.int64)),
                )
            )
        elif shape:
            last_axis = len(shape) - 1

            def per_channel(m, i=ti, last=last_axis, c=shape[-1]):
                qq = m.subgraphs[0].tensors[i].quantization
                qq.scale = np.linspace(float(qq.scale[0]), 2 * float(qq.scale[0]), c).astype(np.float32)
                qq.zeroPoint = np.full(c, int(qq.zeroPoint[0]), dtype=np.int64)
                qq.quantizedDimension = last

            out.append(("scale_count", "per_channel_last_axis", per_channel))
        for ax in (-1, 1, 3, 99):
            if ax != q.quantizedDimension:
                out.append(("quantized_dimension", _label(ax), _set(_quant(ti), "quantizedDimension", ax)))
        out.append(("quantization", "removed", _set(_tensor(ti), "quantization", None)))
        out.append(("quantization", "empty", _set(_tensor(ti), "quantization", s.QuantizationParametersT)))

        def min_max(m, i=ti):
            qq = m.subgraphs[0].tensors[i].quantization
            qq.min, qq.max = np.array([-1e30], np.float32), np.array([float("nan")], np.float32)

        out.append(("quantization.min_max", "absurd", min_max))
    else:

        def add_quant(m, i=ti):
            qq = s.QuantizationParametersT()
            qq.scale, qq.zeroPoint = np.array([0.5], np.float32), np.array([3], np.int64)
            m.subgraphs[0].tensors[i].quantization = qq

        out.append(("quantization", "added", add_quant))
    # shape
    for d in range(len(shape)):
        for v in (0, 1, -1, 2, 1 << 16, INT32_MAX):
            if v != shape[d]:
                new = list(shape)
                new[d] = v
                out.append(
                    (f"shape[{d}]", _label(v), _set(_tensor(ti), "shape", lambda new=new: np.array(new, np.int32)))
                )
    for how, new in (
        ("append_1", shape + [1]),
        ("prepend_1", [1] + shape),
        ("drop_last", shape[:-1]),
        ("scalar", []),
        ("rank_6", [1] * (6 - len(shape)) + shape if len(shape) < 6 else shape + [1]),
    ):
        out.append(("rank", how, _set(_tensor(ti), "shape", lambda new=new: np.array(new, np.int32))))
    if shape:
        sig = list(shape)
        sig[0] = -1
        out.append(
            (
                "shape_signature",
                "dynamic_batch",
                _set(_tensor(ti), "shapeSignature", lambda sig=sig: np.array(sig, np.int32)),
            )
        )
        sig2 = list(shape)
        sig2[-1] = -1
        out.append(
            (
                "shape_signature",
                "dynamic_last",
                _set(_tensor(ti), "shapeSignature", lambda sig=sig2: np.array(sig, np.int32)),
            )
        )
        out.append(
            ("shape_signature", "rank_mismatch", _set(_tensor(ti), "shapeSignature", lambda: np.array([1], np.int32)))
        )
    # buffers
    if is_const:

        def buf(m, i=ti):
            return m.buffers[m.subgraphs[0].tensors[i].buffer]

        def data_edit(how: str):
            def edit(m, i=ti):
                b = buf(m, i)
                d = np.array(b.data, dtype=np.uint8)
                if how == "empty":
                    b.data = None
                elif how == "truncated":
                    b.data = d[:-1]
                elif how == "one_short":
                    b.data = d[: max(len(d) - int(np.dtype(NUMPY_OF.get(tname, np.int8)).itemsize), 0)]
                elif how == "extra":
                    b.data = np.concatenate([d, np.zeros(4, np.uint8)])
                else:
                    dt = NUMPY_OF.get(tname, np.int8)
                    vals = np.frombuffer(d.tobytes(), dtype=dt).copy()
                    info = np.iinfo(dt) if np.issubdtype(dt, np.integer) else np.finfo(dt)
                    v = {"min": info.min, "max": info.max, "zero": 0, "m1": -1, "one": 1, "first_huge": None}[how]
                    if v is None:
                        vals[0] = info.max
                    else:
                        vals[:] = v
                    b.data = np.frombuffer(vals.tobytes(), dtype=np.uint8).copy()

            return edit

        for how in ("empty", "truncated", "one_short", "extra", "min", "max", "zero", "m1", "one", "first_huge"):
            out.append(("buffer.data", how, data_edit(how)))
        old = np.frombuffer(np.array(m.buffers[t.buffer].data, np.uint8).tobytes(), dtype=NUMPY_OF.get(tname, np.int8))
        # the same values in another type (a well-formed buffer: the type rule itself is tested)
        for ty in ("INT64", "INT32", "INT16", "INT8", "UINT8", "FLOAT32"):
            if ty != tname:

                def retype(m, i=ti, ty=ty, old=old):
                    t2 = m.subgraphs[0].tensors[i]
                    t2.type = getattr(s.TensorType, ty)
                    vals = (
                        old.astype(np.float64).clip(np.iinfo(NUMPY_OF[ty]).min, np.iinfo(NUMPY_OF[ty]).max)
                        if ty != "FLOAT32"
                        else old.astype(np.float64)
                    )
                    m.buffers[t2.buffer].data = np.frombuffer(vals.astype(NUMPY_OF[ty]).tobytes(), np.uint8).copy()

                out.append(("type_with_data", ty, retype))
        # each element of a small integer constant (axes, paddings, permutations, sizes, blocks, biases)
        if old.size <= 8 and np.issubdtype(old.dtype, np.integer):
            info = np.iinfo(old.dtype)
            for k in range(old.size):
                for v in (-1, 0, 1, 3, 4, 99, info.max, info.min):
                    if v == old[k]:
                        continue

                    def element(m, i=ti, k=k, v=v, old=old):
                        vals = old.copy()
                        vals[k] = v
                        m.buffers[m.subgraphs[0].tensors[i].buffer].data = np.frombuffer(
                            vals.tobytes(), np.uint8
                        ).copy()

                    label = {info.max: "max", info.min: "min"}.get(v, _label(int(v)))
                    out.append((f"element[{k}]", label, element))
        out.append(("buffer", "index_0", _set(_tensor(ti), "buffer", 0)))
        out.append(("is_variable", "true", _set(_tensor(ti), "isVariable", True)))

        def sparsity(m, i=ti):
            sp = s.SparsityParametersT()
            rank = len(m.subgraphs[0].tensors[i].shape)
            sp.traversalOrder = np.arange(rank, dtype=np.int32)
            dims = []
            for d in m.subgraphs[0].tensors[i].shape:
                dm = s.DimensionMetadataT()
                dm.format, dm.denseSize = 0, int(d)
                dims.append(dm)
            sp.dimMetadata = dims
            m.subgraphs[0].tensors[i].sparsity = sp

        out.append(("sparsity", "dense_params", sparsity))
    else:

        def give_data(m, i=ti):
            t2 = m.subgraphs[0].tensors[i]
            size = (
                int(np.prod([int(d) for d in t2.shape])) * np.dtype(NUMPY_OF.get(type_name(t2.type), np.int8)).itemsize
            )
            b = s.BufferT()
            b.data = np.full(size, 3, dtype=np.uint8)
            m.buffers.append(b)
            t2.buffer = len(m.buffers) - 1

        out.append(("buffer", "made_constant", give_data))
        out.append(("is_variable", "true", _set(_tensor(ti), "isVariable", True)))

        def sparsity(m, i=ti):
            sp = s.SparsityParametersT()
            sp.traversalOrder = np.arange(len(m.subgraphs[0].tensors[i].shape), dtype=np.int32)
            m.subgraphs[0].tensors[i].sparsity = sp

        out.append(("sparsity", "traversal_only", sparsity))
    out.append(("buffer", "out_of_range", _set(_tensor(ti), "buffer", len(m.buffers) + 5)))
    other = next((j for j, u in enumerate(sg.tensors) if j != ti and u.buffer > 0), None)
    if other is not None:
        out.append(("buffer", "shared_with_other", _set(_tensor(ti), "buffer", sg.tensors[other].buffer)))
    # names
    for label, raw in NAMES.items():
        out.append(("name", label, _set(_tensor(ti), "name", raw)))
    return out


def _graph_mutations(m) -> list[tuple[str, str, str, Callable]]:
    sg = m.subgraphs[0]
    out: list[tuple[str, str, str, Callable]] = []
    consts = [j for j, t in enumerate(sg.tensors) if t.buffer > 0]

    def io(kind: str, how: str):
        def edit(m):
            g = m.subgraphs[0]
            arr = list(getattr(g, kind))
            if how == "drop_last":
                arr = arr[:-1]
            elif how == "add_same":
                arr = arr + [arr[0]]
            elif how == "m1":
                arr = arr + [-1]
            elif how == "out_of_range":
                arr = arr + [len(g.tensors) + 3]
            elif how == "add_const" and consts:
                arr = arr + [consts[0]]
            elif how == "swap_io":
                arr = list(g.outputs if kind == "inputs" else g.inputs)
            elif how == "reversed":
                arr = arr[::-1]
            setattr(g, kind, np.array(arr, dtype=np.int32))

        return edit

    for kind in ("inputs", "outputs"):
        hows = ["drop_last", "add_same", "m1", "out_of_range", "swap_io"]
        if consts:
            hows.append("add_const")
        if len(getattr(sg, kind)) > 1:
            hows.append("reversed")
        for how in hows:
            out.append(("subgraph", kind, how, io(kind, how)))
    for label, raw in NAMES.items():
        out.append(("subgraph", "name", label, _set(lambda m: m.subgraphs[0], "name", raw)))
    for v in (0, 1, 2, 4, 99, 2**32 - 1):
        out.append(("model", "version", _label(v), _set(lambda m: m, "version", v)))
    for label, raw in NAMES.items():
        out.append(("model", "description", label, _set(lambda m: m, "description", raw)))

    def buffer0(m):
        m.buffers[0].data = np.arange(16, dtype=np.uint8)

    out.append(("model", "buffer0", "filled", buffer0))

    def second_subgraph(m):
        import copy

        m.subgraphs.append(copy.deepcopy(m.subgraphs[0]))

    out.append(("model", "subgraphs", "two", second_subgraph))

    def no_subgraph(m):
        m.subgraphs = []

    out.append(("model", "subgraphs", "none", no_subgraph))

    def no_opcodes(m):
        m.operatorCodes = []

    out.append(("model", "operator_codes", "none", no_opcodes))

    def no_ops(m):
        m.subgraphs[0].operators = []

    out.append(("subgraph", "operators", "none", no_ops))
    return out


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_+-:" else "_" for c in text)


def mutations_of(base: str, data: bytes) -> list[Mutation]:
    """Every single-field mutation of one model, in a fixed order."""
    m = unpack(data)
    sg = m.subgraphs[0]
    found: list[Mutation] = []
    for oi, op in enumerate(sg.operators):
        target = f"op{oi}_{_op_name(m, op)}"
        for field, label, edit in _op_mutations(m, oi, op):
            found.append(Mutation(base, target, _slug(field), _slug(label), edit))
    for ti, t in enumerate(sg.tensors):
        tname = (t.name or b"").decode(errors="replace")
        target = f"t{ti}_{_slug(tname)[:24]}"
        for field, label, edit in _tensor_mutations(m, ti, t):
            found.append(Mutation(base, target, _slug(field), _slug(label), edit))
    for target, field, label, edit in _graph_mutations(m):
        found.append(Mutation(base, target, _slug(field), _slug(label), edit))
    seen: dict[str, int] = {}
    unique = []
    for mu in found:  # ids must be unique for -k; a repeated one gets a suffix
        k = seen.get(mu.id, 0)
        seen[mu.id] = k + 1
        unique.append(mu if k == 0 else Mutation(mu.base, mu.target, mu.field, f"{mu.label}_{k}", mu.edit))
    return unique


def apply(mutation: Mutation, data: bytes) -> bytes:
    m = unpack(data)
    mutation.edit(m)
    return pack(m)


def category(mutation: Mutation) -> str:
    """The kind of field a mutation edits, so that a short run still edits every kind."""
    f = mutation.field
    if mutation.target in ("model", "subgraph"):
        return "graph"
    for prefix, kind in (
        ("options_union", "options_union"),
        ("options", "options"),
        ("opcode", "opcode"),
        ("inputs", "operands"),
        ("outputs", "operands"),
        ("operators", "operands"),
        ("type", "type"),
        ("element", "values"),
        ("zero_point", "quant"),
        ("scale", "quant"),
        ("quant", "quant"),
        ("shape", "shape"),
        ("rank", "shape"),
        ("buffer", "buffer"),
        ("name", "name"),
    ):
        if f.startswith(prefix):
            return kind
    return "flags"


def _round_robin(groups: dict[str, list[Mutation]], rng: np.random.Generator) -> list[Mutation]:
    names = sorted(groups)
    order = [names[i] for i in rng.permutation(len(names))]
    result: list[Mutation] = []
    depth = max((len(groups[n]) for n in order), default=0)
    for r in range(depth):
        for n in order:
            if r < len(groups[n]):
                result.append(groups[n][r])
    return result


def interleaved(groups: dict[str, list[Mutation]], seed: int) -> list[Mutation]:
    """A seeded order of all mutations that takes one of each group (base model) in turn, and
    within a group one of each category of field in turn (each category shuffled), so every
    prefix spreads over every op family and every kind of field."""
    rng = np.random.default_rng(seed)
    by_group = {}
    for name in sorted(groups):
        cats: dict[str, list[Mutation]] = {}
        for mu in groups[name]:
            cats.setdefault(category(mu), []).append(mu)
        cats = {c: [v[i] for i in rng.permutation(len(v))] for c, v in cats.items()}
        if "options" in cats:  # the op's own fields: twice the share of any other kind
            opts = cats.pop("options")
            cats["options"], cats["options2"] = opts[0::2], opts[1::2]
        by_group[name] = _round_robin(cats, rng)
    return _round_robin(by_group, rng)
