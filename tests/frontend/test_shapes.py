"""Shape inference (edgeconv/frontend/shapes.py) against TFLite's own.

The oracle for every shape is LiteRT's interpreter with its reference kernels: each op's
Prepare resizes its outputs, so after an inference every tensor has the shape TFLite gives it.
The models store deliberately wrong shapes for every tensor an op writes (placeholders, as the
converter writes for a dynamic batch, or nonsense), so nothing inferred can come from the file.

- Randomized one-op models (tests/mutants.Net, float32: shape rules do not depend on the type)
  for every op family with a shape rule: the inferred shape of every output equals TFLite's.
- Chains of ops with a dynamic batch (SPACE_TO_BATCH_ND makes it 4) and shape arithmetic that
  folds (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE).
- Keras models made without a batch size (keras.Input(shape)) and converted with the plain
  converter: shapes as TFLite's, and the dilated convolutions bit-exact end to end against the
  oracle validation chooses (TFLite's reference kernels: TFLite Micro runs the stored shapes).
- Refusals: an unsupported op is named before the checks its semantics would explain (SVDF and
  its variable state tensor), shapes TFLite refuses are refused naming the op, a graph input
  may have a dynamic batch but no other dynamic dimension.
"""

from __future__ import annotations

import numpy as np
import pytest

import mutants
from edgeconv.checking.references import ReferenceUnavailable, TfliteRefReference
from edgeconv.checking.validation import validate_bytes
from edgeconv.frontend.ir import ModelError, UnsupportedOpError
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.frontend.shapes import SHAPE_RULES, infer_shapes
from edgeconv.lowering.compiler import compile_bytes
from modelgen import cached_model, dynamic_batch_model, seeded_keras, tflite_from_keras

# ---------------------------------------------------------------------------------------------
# Building one-op models with any builtin options table


VERSIONS = {"BROADCAST_TO": 2}  # the lowest version TFLite's resolvers register


def add_op(
    net: mutants.Net, opname: str, inputs: list[int], outputs: list[int], member: str | None = None, **options
) -> None:
    """Net.op for any op: `member` names the BuiltinOptions table (None: no options)."""
    net.add_op(opname, inputs, outputs, member, VERSIONS.get(opname, 1), **options)


class Model:
    """A float32 model under construction: `x(shape)` adds a graph input with a dynamic batch
    signature, `out(dtype)` an op output whose stored shape is a wrong placeholder."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.net = mutants.Net()
        self.rng = rng
        self.inputs: list[int] = []

    def x(self, shape, dtype: str = "float32") -> int:
        t = self.net.tensor(f"x{len(self.inputs)}", list(shape), dtype)
        self.net.sg.tensors[t].shapeSignature = np.array([-1] + list(shape)[1:], np.int32) if shape else None
        self.inputs.append(t)
        return t

    def const(self, values, dtype: str = "int32", shape=None) -> int:
        values = np.asarray(values)
        return self.net.tensor(
            f"c{len(self.net.sg.tensors)}", list(values.shape if shape is None else shape), dtype, data=values
        )

    def out(self, dtype: str = "float32") -> int:
        wrong = [int(v) for v in self.rng.integers(1, 4, size=int(self.rng.integers(0, 4)))]
        t = self.net.tensor(f"y{len(self.net.sg.tensors)}", wrong, dtype)
        # Dynamic, as the converter marks placeholders (TFLite's SLICE trusts a static stored shape).
        self.net.sg.tensors[t].shapeSignature = np.full(len(wrong), -1, np.int32) if wrong else None
        return t

    def op(
        self, opname: str, inputs, n_out: int = 1, member: str | None = None, dtype: str = "float32", **options
    ) -> list[int]:
        outs = [self.out(dtype) for _ in range(n_out)]
        add_op(self.net, opname, list(inputs), outs, member, **options)
        return outs

    def finish(self, outputs) -> bytes:
        return self.net.finish(self.inputs, list(outputs))


def tflite_shapes(data: bytes, tensors: list[int]) -> dict[int, tuple[int, ...]]:
    """The shapes TFLite's reference interpreter gives `tensors` after an inference."""
    graph = read_tflite_bytes(data)
    rng = np.random.default_rng(0)
    sample = [
        rng.uniform(-1, 1, graph.tensors[i].shape).astype(np.float32)
        if graph.tensors[i].dtype == "float32"
        else np.zeros(graph.tensors[i].shape, np.int8)
        for i in graph.inputs
    ]
    with TfliteRefReference(data) as ref:
        ref.run(sample, len(graph.outputs))
        return {t: tuple(int(d) for d in np.shape(ref.tensor(t))) for t in tensors}


def assert_shapes_as_tflite(data: bytes, label: str) -> None:
    """Every tensor an op writes has, after infer_shapes, the shape TFLite gives it."""
    graph = read_tflite_bytes(data)
    written = [t for op in graph.ops for t in op.outputs]
    try:
        inferred = infer_shapes(graph)
    except ModelError as exc:  # TFLite runs empty tensors; edgeconv refuses them
        assert "zero-sized" in str(exc), f"{label}: {exc}"
        theirs = tflite_shapes(data, written)
        assert any(0 in s for s in theirs.values()), f"{label}: refused, but TFLite's shapes are {theirs}: {exc}"
        return
    written = [t for t in written if t in inferred.tensors]
    assert written, label
    theirs = tflite_shapes(data, written)
    for t in written:
        assert inferred.tensors[t].shape == theirs[t], (
            f"{label}: tensor {t} inferred {list(inferred.tensors[t].shape)}, TFLite {list(theirs[t])} "
            f"(stored {list(graph.tensors[t].shape)})"
        )


def dims(rng, rank: int, lo: int = 1, hi: int = 6) -> list[int]:
    return [int(v) for v in rng.integers(lo, hi + 1, size=rank)]


# ---------------------------------------------------------------------------------------------
# One randomized model per (family, seed)


# Like _depthwise below, but CONV_2D's [oc, kh, kw, ic] filter and no depth multiplier: kept apart, the ops' tensors
# differ
def _conv(m: Model, rng) -> list[int]:
    h, w, c, oc = dims(rng, 4, 1, 9)
    kh, kw = dims(rng, 2, 1, 3)
    sh, sw, dh, dw = dims(rng, 4, 1, 3)
    padding = int(rng.integers(0, 2))
    if padding == 1:  # VALID: the dilated window must fit
        h, w = max(h, (kh - 1) * dh + 1), max(w, (kw - 1) * dw + 1)
    x = m.x([1, h, w, c])
    wt = m.const(rng.uniform(-1, 1, (oc, kh, kw, c)), "float32")
    b = m.const(np.zeros(oc), "float32")
    return m.op(
        "CONV_2D",
        [x, wt, b],
        member="Conv2DOptions",
        padding=padding,
        strideH=sh,
        strideW=sw,
        dilationHFactor=dh,
        dilationWFactor=dw,
    )


# Like _conv above, but DEPTHWISE_CONV_2D's [1, kh, kw, c * mult] filter and depthMultiplier: kept apart, the ops'
# tensors differ
def _depthwise(m: Model, rng) -> list[int]:
    h, w, c = dims(rng, 3, 1, 8)
    mult = int(rng.integers(1, 3))
    kh, kw, sh, sw, dh, dw = dims(rng, 6, 1, 3)
    padding = int(rng.integers(0, 2))
    if padding == 1:
        h, w = max(h, (kh - 1) * dh + 1), max(w, (kw - 1) * dw + 1)
    x = m.x([1, h, w, c])
    wt = m.const(rng.uniform(-1, 1, (1, kh, kw, c * mult)), "float32")
    b = m.const(np.zeros(c * mult), "float32")
    return m.op(
        "DEPTHWISE_CONV_2D",
        [x, wt, b],
        member="DepthwiseConv2DOptions",
        padding=padding,
        strideH=sh,
        strideW=sw,
        dilationHFactor=dh,
        dilationWFactor=dw,
        depthMultiplier=mult,
    )


def _pool(m: Model, rng) -> list[int]:
    h, w, c = dims(rng, 3, 1, 9)
    fh, fw, sh, sw = dims(rng, 4, 1, 3)
    padding = int(rng.integers(0, 2))
    if padding == 1:
        h, w = max(h, fh), max(w, fw)
    x = m.x([1, h, w, c])
    return m.op(
        str(rng.choice(["AVERAGE_POOL_2D", "MAX_POOL_2D"])),
        [x],
        member="Pool2DOptions",
        padding=padding,
        strideH=sh,
        strideW=sw,
        filterHeight=fh,
        filterWidth=fw,
    )


def _transpose_conv(m: Model, rng) -> list[int]:
    h, w, c, oc = dims(rng, 4, 1, 5)
    k, s = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    padding = int(rng.integers(0, 2))
    oh, ow = (h * s, w * s) if padding == 0 else ((h - 1) * s + k, (w - 1) * s + k)
    x = m.x([1, h, w, c])
    shape = m.const([1, oh, ow, oc])
    wt = m.const(rng.uniform(-1, 1, (oc, k, k, c)), "float32")
    return m.op("TRANSPOSE_CONV", [shape, wt, x], member="TransposeConvOptions", padding=padding, strideH=s, strideW=s)


def _fully_connected(m: Model, rng) -> list[int]:
    shape = [1] + dims(rng, int(rng.integers(1, 4)), 1, 5)
    units = int(rng.integers(1, 7))
    keep = bool(rng.integers(0, 2))
    depth = shape[-1] if keep or rng.integers(0, 2) else int(np.prod(shape[1:]))
    x = m.x(shape)
    wt = m.const(rng.uniform(-1, 1, (units, depth)), "float32")
    return m.op("FULLY_CONNECTED", [x, wt, -1], member="FullyConnectedOptions", keepNumDims=keep)


def _batch_matmul(m: Model, rng) -> list[int]:
    ra, rb = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    batch = dims(rng, max(ra, rb) - 2, 1, 3)
    rows, depth, cols = dims(rng, 3, 1, 5)
    adj_x, adj_y = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))

    def operand(rank, mat):
        b = [d if rng.integers(0, 3) else 1 for d in batch[len(batch) - (rank - 2) :]] if rank > 2 else []
        return b + mat

    a = m.x(operand(ra, [depth, rows] if adj_x else [rows, depth]))
    b = m.const(rng.uniform(-1, 1, operand(rb, [cols, depth] if adj_y else [depth, cols])), "float32")
    return m.op("BATCH_MATMUL", [a, b], member="BatchMatMulOptions", adjX=adj_x, adjY=adj_y)


def _broadcast_pair(rng) -> tuple[list[int], list[int]]:
    out = [1] + dims(rng, int(rng.integers(0, 4)), 1, 4)
    a = [d if rng.integers(0, 3) else 1 for d in out]
    b = [d if rng.integers(0, 3) else 1 for d in out][int(rng.integers(0, len(out) + 1)) :]
    return a, b


BINARY = [
    ("ADD", "AddOptions"),
    ("SUB", "SubOptions"),
    ("MUL", "MulOptions"),
    ("MAXIMUM", "MaximumMinimumOptions"),
    ("MINIMUM", "MaximumMinimumOptions"),
    ("SQUARED_DIFFERENCE", "SquaredDifferenceOptions"),
    ("DIV", "DivOptions"),
    ("PRELU", None),
]
COMPARISONS = ["EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL"]


def _binary(m: Model, rng) -> list[int]:
    a, b = _broadcast_pair(rng)
    name, member = BINARY[int(rng.integers(0, len(BINARY)))]
    if name == "PRELU":  # alpha broadcasts to the input
        a = [max(d, e) for d, e in zip(a, [1] * (len(a) - len(b)) + b)]
    x = m.x(a)
    y = m.const(rng.uniform(0.5, 1, b), "float32")
    return m.op(name, [x, y], member=member)


def _comparison(m: Model, rng) -> list[int]:
    a, b = _broadcast_pair(rng)
    x = m.x(a)
    y = m.const(rng.uniform(-1, 1, b), "float32")
    return m.op(COMPARISONS[int(rng.integers(0, len(COMPARISONS)))], [x, y], dtype="bool")


def _select_v2(m: Model, rng) -> list[int]:
    a, b = _broadcast_pair(rng)
    c = [d if rng.integers(0, 2) else 1 for d in a][int(rng.integers(0, len(a) + 1)) :]
    cond = m.const(rng.integers(0, 2, c).astype(bool), "bool")
    x = m.x(a)
    y = m.const(rng.uniform(-1, 1, b), "float32")
    return m.op("SELECT_V2", [cond, x, y])


UNARY = [
    ("LOGISTIC", None),
    ("TANH", None),
    ("RELU", None),
    ("RELU6", None),
    ("HARD_SWISH", None),
    ("LEAKY_RELU", "LeakyReluOptions"),
    ("SOFTMAX", "SoftmaxOptions"),
    ("LOG_SOFTMAX", "LogSoftmaxOptions"),
    ("L2_NORMALIZATION", "L2NormOptions"),
    ("RSQRT", None),
    ("ABS", None),
    ("EXP", "ExpOptions"),
    ("GELU", "GeluOptions"),
    ("SQUARE", None),
    ("NEG", None),
]


def _unary(m: Model, rng) -> list[int]:
    name, member = UNARY[int(rng.integers(0, len(UNARY)))]
    x = m.x([1] + dims(rng, int(rng.integers(1, 4)), 1, 5))
    options = {"beta": 1.0} if name == "SOFTMAX" else {}
    return m.op(name, [x], member=member, **options)


def _reshape(m: Model, rng) -> list[int]:
    shape = [1] + dims(rng, int(rng.integers(1, 4)), 1, 4)
    n = int(np.prod(shape))
    target = []
    left = n
    for _ in range(int(rng.integers(1, 4))):
        d = int(rng.choice([f for f in range(1, left + 1) if left % f == 0]))
        target.append(d)
        left //= d
    target.append(left)
    if rng.integers(0, 2):
        target[int(rng.integers(0, len(target)))] = -1
    x = m.x(shape)
    if rng.integers(0, 2):
        return m.op("RESHAPE", [x, m.const(target)], member="ReshapeOptions")
    return m.op("RESHAPE", [x], member="ReshapeOptions", newShape=target)


def _squeeze_expand(m: Model, rng) -> list[int]:
    shape = [1] + [int(rng.choice([1, 2, 3])) for _ in range(int(rng.integers(1, 4)))]
    x = m.x(shape)
    if rng.integers(0, 2):
        ones = [i for i, d in enumerate(shape) if d == 1]
        chosen = [
            int(i) - len(shape) if rng.integers(0, 2) else int(i)
            for i in rng.choice(ones, size=int(rng.integers(0, len(ones) + 1)), replace=False)
        ]
        return m.op("SQUEEZE", [x], member="SqueezeOptions", squeezeDims=chosen)
    axis = int(rng.integers(-len(shape) - 1, len(shape) + 1))
    return m.op("EXPAND_DIMS", [x, m.const([axis])], member="ExpandDimsOptions")


def _transpose(m: Model, rng) -> list[int]:
    shape = [1] + dims(rng, int(rng.integers(1, 4)), 1, 5)
    x = m.x(shape)
    return m.op("TRANSPOSE", [x, m.const(rng.permutation(len(shape)))], member="TransposeOptions")


def _concat_pack(m: Model, rng) -> list[int]:
    shape = [1] + dims(rng, int(rng.integers(0, 3)), 1, 4)
    k = int(rng.integers(2, 4))
    if rng.integers(0, 2):
        axis = int(rng.integers(-len(shape), len(shape)))
        parts = []
        for i in range(k):
            s = list(shape)
            s[axis] = int(rng.integers(1, 4))
            parts.append(m.x(s) if i == 0 else m.const(rng.uniform(-1, 1, s), "float32"))
        return m.op("CONCATENATION", parts, member="ConcatenationOptions", axis=axis)
    axis = int(rng.integers(-len(shape) - 1, len(shape) + 1))
    parts = [m.x(shape)] + [m.const(rng.uniform(-1, 1, shape), "float32") for _ in range(k - 1)]
    return m.op("PACK", parts, member="PackOptions", valuesCount=k, axis=axis)


def _unpack_split(m: Model, rng) -> list[int]:
    shape = [1] + dims(rng, int(rng.integers(1, 3)), 1, 5)
    axis = int(rng.integers(-len(shape), len(shape)))
    x = m.x(shape)
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return m.op("UNPACK", [x], n_out=shape[axis], member="UnpackOptions", num=shape[axis], axis=axis)
    d = shape[axis]
    if kind == 1:
        n = int(rng.choice([f for f in range(1, d + 1) if d % f == 0]))
        return m.op("SPLIT", [m.const([axis], shape=[]), x], n_out=n, member="SplitOptions", numSplits=n)
    cuts = sorted(int(v) for v in rng.integers(0, d + 1, size=int(rng.integers(0, 3))))
    sizes = list(np.diff([0] + cuts + [d]))
    if rng.integers(0, 2):
        sizes[int(rng.integers(0, len(sizes)))] = -1
    return m.op(
        "SPLIT_V",
        [x, m.const(sizes), m.const([axis], shape=[])],
        n_out=len(sizes),
        member="SplitVOptions",
        numSplits=len(sizes),
    )


def _slice(m: Model, rng) -> list[int]:
    shape = [1] + dims(rng, int(rng.integers(1, 4)), 1, 6)
    begin = [int(rng.integers(0, d)) for d in shape]
    size = [int(rng.integers(1, d - b + 1)) if rng.integers(0, 3) else -1 for d, b in zip(shape, begin)]
    x = m.x(shape)
    return m.op("SLICE", [x, m.const(begin), m.const(size)], member="SliceOptions")


def _strided_slice(m: Model, rng) -> list[int]:
    shape = [1] + dims(rng, int(rng.integers(1, 4)), 1, 6)
    n = int(rng.integers(1, len(shape) + 2))
    begin = [int(v) for v in rng.integers(-7, 7, n)]
    end = [int(v) for v in rng.integers(-7, 7, n)]
    strides = [int(v) for v in rng.choice([-2, -1, 1, 2, 3], n)]
    options = dict(beginMask=int(rng.integers(0, 1 << n)), endMask=int(rng.integers(0, 1 << n)))
    if rng.integers(0, 3) == 0:
        options["ellipsisMask"] = 1 << int(rng.integers(0, n))
    if rng.integers(0, 3) == 0:
        options["newAxisMask"] = int(rng.integers(0, 1 << n))
    if rng.integers(0, 2) and not options.get("ellipsisMask") and not options.get("newAxisMask") and n <= len(shape):
        i = int(rng.integers(0, n))  # a shrunk axis: an index inside the dimension, stride 1
        begin[i], strides[i] = int(rng.integers(-shape[i], shape[i])), 1
        options["shrinkAxisMask"] = 1 << i
        options["beginMask"] &= ~(1 << i)
    if rng.integers(0, 4) == 0:  # offset: end holds lengths from begin (no masks)
        n = len(shape)
        begin = [int(rng.integers(0, d)) for d in shape]
        end = [int(rng.integers(1, d - b + 1)) for d, b in zip(shape, begin)]
        strides = [int(v) for v in rng.integers(1, 3, n)]
        options = dict(offset=True)
    x = m.x(shape)
    return m.op(
        "STRIDED_SLICE", [x, m.const(begin), m.const(end), m.const(strides)], member="StridedSliceOptions", **options
    )


def _gather(m: Model, rng) -> list[int]:
    shape = [1] + dims(rng, int(rng.integers(0, 3)), 1, 5)
    axis = int(rng.integers(-len(shape), len(shape)))
    idx_shape = dims(rng, int(rng.integers(0, 3)), 1, 3)
    x = m.x(shape)
    idx = m.const(rng.integers(0, shape[axis], idx_shape))
    return m.op("GATHER", [x, idx], member="GatherOptions", axis=axis)


def _pad(m: Model, rng) -> list[int]:
    shape = [1] + dims(rng, int(rng.integers(1, 4)), 1, 5)
    x = m.x(shape)
    kind = int(rng.integers(0, 3))
    if kind == 2:
        mode = int(rng.integers(0, 2))
        pads = [[int(rng.integers(0, d - (1 - mode) + 1)) for _ in range(2)] for d in shape]
        return m.op("MIRROR_PAD", [x, m.const(pads)], member="MirrorPadOptions", mode=mode)
    pads = [[int(v) for v in rng.integers(0, 3, 2)] for _ in shape]
    if kind == 1:
        return m.op("PADV2", [x, m.const(pads), m.const([0.5], "float32", shape=[])], member="PadV2Options")
    return m.op("PAD", [x, m.const(pads)], member="PadOptions")


def _tile_broadcast(m: Model, rng) -> list[int]:
    shape = [1] + dims(rng, int(rng.integers(0, 3)), 1, 4)
    x = m.x(shape)
    if rng.integers(0, 2):
        return m.op("TILE", [x, m.const(rng.integers(1, 4, len(shape)))])
    target = dims(rng, int(rng.integers(0, 2)), 1, 3) + [d if d != 1 else int(rng.integers(1, 4)) for d in shape]
    return m.op("BROADCAST_TO", [x, m.const(target)])


def _space_batch(m: Model, rng) -> list[int]:
    spatial = int(rng.integers(1, 3))
    block = dims(rng, spatial, 1, 3)
    if rng.integers(0, 2):
        pads = [[int(v) for v in rng.integers(0, 3, 2)] for _ in range(spatial)]
        # each padded dimension a multiple of its block, the unpadded one at least 1
        sp = [b * (-(-(p[0] + p[1] + 1) // b) + int(rng.integers(0, 3))) - p[0] - p[1] for b, p in zip(block, pads)]
        x = m.x([1] + sp + [int(rng.integers(1, 4))])
        return m.op("SPACE_TO_BATCH_ND", [x, m.const(block), m.const(pads)], member="SpaceToBatchNDOptions")
    sp = dims(rng, spatial, 1, 4)
    crops = [[int(rng.integers(0, 2)), int(rng.integers(0, 2))] for _ in range(spatial)]
    sp = [max(s, 2) for s in sp]
    x = m.x([int(np.prod(block)) * int(rng.integers(1, 3))] + sp + [int(rng.integers(1, 4))])
    return m.op("BATCH_TO_SPACE_ND", [x, m.const(block), m.const(crops)], member="BatchToSpaceNDOptions")


def _depth_space(m: Model, rng) -> list[int]:
    b = int(rng.integers(1, 4))
    if rng.integers(0, 2):
        x = m.x([1, int(rng.integers(1, 4)), int(rng.integers(1, 4)), b * b * int(rng.integers(1, 3))])
        return m.op("DEPTH_TO_SPACE", [x], member="DepthToSpaceOptions", blockSize=b)
    x = m.x([1, b * int(rng.integers(1, 3)), b * int(rng.integers(1, 3)), int(rng.integers(1, 4))])
    return m.op("SPACE_TO_DEPTH", [x], member="SpaceToDepthOptions", blockSize=b)


def _resize(m: Model, rng) -> list[int]:
    x = m.x([1] + dims(rng, 3, 1, 5))
    size = m.const(dims(rng, 2, 1, 9))
    if rng.integers(0, 2):
        return m.op("RESIZE_BILINEAR", [x, size], member="ResizeBilinearOptions")
    return m.op("RESIZE_NEAREST_NEIGHBOR", [x, size], member="ResizeNearestNeighborOptions")


def _reduce(m: Model, rng) -> list[int]:
    shape = [1] + dims(rng, int(rng.integers(1, 4)), 1, 5)
    x = m.x(shape)
    if rng.integers(0, 3) == 0:
        name = str(rng.choice(["ARG_MAX", "ARG_MIN"]))
        axis = int(rng.integers(-len(shape), len(shape)))
        member = "ArgMaxOptions" if name == "ARG_MAX" else "ArgMinOptions"
        return m.op(name, [x, m.const([axis])], member=member, dtype="int32", outputType=mutants.type_code("int32"))
    axes = [int(rng.integers(-len(shape), len(shape))) for _ in range(int(rng.integers(1, len(shape) + 1)))]
    name = str(rng.choice(["MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"]))
    return m.op(name, [x, m.const(axes)], member="ReducerOptions", keepDims=bool(rng.integers(0, 2)))


def _misc(m: Model, rng) -> list[int]:
    """SELECT (v1), CAST, GATHER with batch dimensions, and FILL and RANGE (which fold)."""
    kind = int(rng.integers(0, 5))
    shape = [1] + dims(rng, int(rng.integers(1, 3)), 1, 4)
    x = m.x(shape)
    if kind == 0:
        cond = m.const(rng.integers(0, 2, shape if rng.integers(0, 2) else shape[:1]).astype(bool), "bool")
        return m.op("SELECT", [cond, x, m.const(rng.uniform(-1, 1, shape), "float32")], member="SelectOptions")
    if kind == 1:
        return m.op("CAST", [x], member="CastOptions", dtype="int32")
    if kind == 2:
        idx = m.const(rng.integers(0, shape[-1], [shape[0]] + dims(rng, int(rng.integers(0, 2)), 1, 3)))
        return m.op("GATHER", [x, idx], member="GatherOptions", axis=len(shape) - 1, batchDims=1)
    if kind == 3:
        (y,) = m.op("ADD", [x, m.const([0.5], "float32")], member="AddOptions")
        return [y] + m.op(
            "FILL",
            [m.const(dims(rng, int(rng.integers(1, 4)), 1, 4)), m.const(1.5, "float32", shape=[])],
            member="FillOptions",
        )
    (y,) = m.op("ADD", [x, m.const([0.5], "float32")], member="AddOptions")
    start, delta = int(rng.integers(-5, 5)), int(rng.choice([-3, -2, -1, 1, 2, 3]))
    limit = start + delta * int(rng.integers(1, 6)) - int(np.sign(delta)) * int(rng.integers(0, abs(delta)))
    return [y] + m.op(
        "RANGE",
        [m.const(start, shape=[]), m.const(limit, shape=[]), m.const(delta, shape=[])],
        member="RangeOptions",
        dtype="int32",
    )


FAMILIES = {
    "misc": _misc,
    "conv": _conv,
    "depthwise": _depthwise,
    "pool": _pool,
    "transpose_conv": _transpose_conv,
    "fully_connected": _fully_connected,
    "batch_matmul": _batch_matmul,
    "binary": _binary,
    "comparison": _comparison,
    "select_v2": _select_v2,
    "unary": _unary,
    "reshape": _reshape,
    "squeeze_expand": _squeeze_expand,
    "transpose": _transpose,
    "concat_pack": _concat_pack,
    "unpack_split": _unpack_split,
    "slice": _slice,
    "strided_slice": _strided_slice,
    "gather": _gather,
    "pad": _pad,
    "tile_broadcast": _tile_broadcast,
    "space_batch": _space_batch,
    "depth_space": _depth_space,
    "resize": _resize,
    "reduce": _reduce,
}
# Seeds per family: 6, and more where the options combine in many ways.
SEEDS = {family: 6 for family in FAMILIES} | {"strided_slice": 40, "reshape": 10, "batch_matmul": 10, "misc": 25}


@pytest.mark.parametrize("family,seed", [(f, s) for f in sorted(FAMILIES) for s in range(SEEDS[f])])
def test_one_op_shapes_as_tflite(family, seed):
    rng = np.random.default_rng([sorted(FAMILIES).index(family), seed])
    m = Model(rng)
    outs = FAMILIES[family](m, rng)
    assert_shapes_as_tflite(m.finish(outs), f"{family}[{seed}]")


def test_every_lowered_op_has_a_shape_rule():
    from edgeconv.lowering.ops.base import LOWERINGS

    assert not set(LOWERINGS) - set(SHAPE_RULES)


# ---------------------------------------------------------------------------------------------
# Chains: a dynamic batch through SPACE_TO_BATCH_ND, shape arithmetic that folds


def test_dynamic_batch_chain_with_folded_shape_arithmetic_as_tflite():
    """SPACE_TO_BATCH_ND makes the batch 4; SHAPE -> STRIDED_SLICE -> PACK gives RESHAPE its
    target from the inferred shapes, and TRANSPOSE_CONV its output_shape. Every stored shape an
    op writes is a wrong placeholder."""
    rng = np.random.default_rng(7)
    m = Model(rng)
    x = m.x([1, 10, 10, 3])
    (s2b,) = m.op("SPACE_TO_BATCH_ND", [x, m.const([2, 2]), m.const([[1, 1], [1, 1]])], member="SpaceToBatchNDOptions")
    (conv,) = m.op(
        "CONV_2D",
        [s2b, m.const(rng.uniform(-1, 1, (5, 3, 3, 3)), "float32"), m.const(np.zeros(5), "float32")],
        member="Conv2DOptions",
        padding=1,
        strideH=1,
        strideW=1,
        dilationHFactor=1,
        dilationWFactor=1,
    )
    (b2s,) = m.op(
        "BATCH_TO_SPACE_ND", [conv, m.const([2, 2]), m.const([[0, 0], [0, 0]])], member="BatchToSpaceNDOptions"
    )
    (shape,) = m.op("SHAPE", [b2s], member="ShapeOptions", dtype="int32", outType=mutants.type_code("int32"))
    (batch,) = m.op(
        "STRIDED_SLICE",
        [shape, m.const([0]), m.const([1]), m.const([1])],
        member="StridedSliceOptions",
        dtype="int32",
        shrinkAxisMask=1,
    )
    (target,) = m.op(
        "PACK",
        [batch, m.const(-1, shape=[]), m.const(5, shape=[])],
        member="PackOptions",
        dtype="int32",
        valuesCount=3,
        axis=0,
    )
    (flat,) = m.op("RESHAPE", [b2s, target], member="ReshapeOptions")
    (rows,) = m.op(
        "STRIDED_SLICE", [shape, m.const([0]), m.const([3]), m.const([1])], member="StridedSliceOptions", dtype="int32"
    )
    (out_shape,) = m.op("CONCATENATION", [rows, m.const([2])], member="ConcatenationOptions", dtype="int32", axis=0)
    (tconv,) = m.op(
        "TRANSPOSE_CONV",
        [out_shape, m.const(rng.uniform(-1, 1, (2, 1, 1, 5)), "float32"), b2s],
        member="TransposeConvOptions",
        padding=1,
        strideH=1,
        strideW=1,
    )
    data = m.finish([flat, tconv])
    assert_shapes_as_tflite(data, "chain")
    inferred = infer_shapes(read_tflite_bytes(data))
    assert inferred.tensors[s2b].shape == (4, 6, 6, 3) and inferred.tensors[flat].shape == (1, 64, 5)
    assert not {"SHAPE", "STRIDED_SLICE", "PACK", "CONCATENATION"} & {op.opcode for op in inferred.ops}


def _int8_dilated_chain(pads) -> bytes:
    """The converter's dilated convolution, int8, with the stored shapes of a dynamic batch."""
    rng = np.random.default_rng(11)
    n = mutants.Net()
    x = n.tensor("x", [1, 12, 12, 4], scale=0.05, zp=3)
    n.sg.tensors[x].shapeSignature = np.array([-1, 12, 12, 4], np.int32)
    block, pad, crop = (
        n.tensor("block", [2], "int32", data=[2, 2]),
        n.tensor("pads", [2, 2], "int32", data=pads),
        n.tensor("crops", [2, 2], "int32", data=[[0, 0], [0, 0]]),
    )
    ph = 12 + pads[0][0] + pads[0][1]
    s2b = n.tensor("s2b", [1, ph // 2, ph // 2, 4], scale=0.05, zp=3)  # TFLite: batch 4
    w = n.tensor("w", [6, 3, 3, 4], scale=[0.01] * 6, zp=[0] * 6, data=rng.integers(-127, 128, (6, 3, 3, 4)))
    b = n.tensor("b", [6], "int32", scale=[0.0005] * 6, zp=[0] * 6, data=rng.integers(-500, 500, 6))
    conv = n.tensor("conv", [1, ph // 2 - 2, ph // 2 - 2, 6], scale=0.1, zp=-2)
    y = n.tensor("y", [1, ph - 4, ph - 4, 6], scale=0.1, zp=-2)
    for t in (s2b, conv, y):
        n.sg.tensors[t].shapeSignature = np.array([-1] + list(n.sg.tensors[t].shape[1:]), np.int32)
    add_op(n, "SPACE_TO_BATCH_ND", [x, block, pad], [s2b], "SpaceToBatchNDOptions")
    add_op(
        n,
        "CONV_2D",
        [s2b, w, b],
        [conv],
        "Conv2DOptions",
        padding=1,
        strideH=1,
        strideW=1,
        dilationHFactor=1,
        dilationWFactor=1,
    )
    add_op(n, "BATCH_TO_SPACE_ND", [conv, block, crop], [y], "BatchToSpaceNDOptions")
    return n.finish([x], [y])


def test_int8_dilated_chain_bit_exact_with_tflite_micro_given_tflites_shapes():
    """No padding: TFLite Micro, given the shapes TFLite computes in place of the stored batch
    of 1, is the oracle, and the C equals it (and TFLite's reference)."""
    data = _int8_dilated_chain([[0, 0], [0, 0]])
    report = validate_bytes(data, "dilated_valid", samples=6, seed=1)
    assert report.bit_exact and report.oracle == "tflm", report.notes
    assert any("does not resize tensors" in n for n in report.notes), report.notes
    assert report.mismatches_vs_tflite_ref == 0


# ---------------------------------------------------------------------------------------------
# Keras models without a batch size, through the plain converter


def _keras_dilated(kind: str, rate: int, padding: str, seed: int) -> bytes:
    import tensorflow as tf

    layers = tf.keras.layers

    def build():
        seeded_keras(seed)
        x = tf.keras.Input((14, 14, 3))  # no batch size: a dynamic batch, placeholder shapes
        if kind == "depthwise":
            h = layers.DepthwiseConv2D(3, padding=padding, dilation_rate=rate, depth_multiplier=2)(x)
        else:
            h = layers.Conv2D(8, 3, padding=padding, dilation_rate=rate, activation="relu")(x)
        h = layers.Conv2D(5, 3, padding="valid", dilation_rate=2)(h)
        y = layers.Dense(3)(layers.GlobalAveragePooling2D()(h))
        return tflite_from_keras(tf.keras.Model(x, y), seed=seed)

    return cached_model(
        {"test": "shapes_keras_dilated", "kind": kind, "rate": rate, "padding": padding, "seed": seed}, build
    )


KERAS_DILATED = {
    "conv_rate2_same": ("conv", 2, "same"),
    "conv_rate3_valid": ("conv", 3, "valid"),
    "depthwise_rate2_valid": ("depthwise", 2, "valid"),
}


@pytest.mark.parametrize("name", sorted(KERAS_DILATED))
def test_keras_dilated_conv_with_dynamic_batch_bit_exact(name):
    kind, rate, padding = KERAS_DILATED[name]
    seed = 40 + sorted(KERAS_DILATED).index(name)
    data = _keras_dilated(kind, rate, padding, seed)
    graph = read_tflite_bytes(data)
    assert "SPACE_TO_BATCH_ND" in {op.opcode for op in graph.ops}, name
    assert_shapes_as_tflite(data, name)
    model = compile_bytes(data, name)
    assert any(new[0] > old[0] for old, new in model.graph.shape_changes.values()), (
        f"{name}: the converter no longer stores a placeholder batch; the test needs another model"
    )
    report = validate_bytes(data, name, samples=6, seed=seed)
    padded = any(op.opcode == "SPACE_TO_BATCH_ND" and np.any(graph.tensors[op.inputs[2]].data) for op in graph.ops)
    # With paddings TFLite Micro pads with an uninitialized value: validation gives it the
    # padding as an explicit PAD (references.with_explicit_space_to_batch_padding), so it stays
    # the oracle, and says so.
    assert report.oracle == "tflm", (name, report.notes)
    assert padded == any("explicit" in n or "split into PAD" in n for n in report.notes), (name, report.notes)
    assert report.bit_exact, f"{name}: {report.mismatches_vs_oracle} elements differ; {report.notes}"


def test_keras_cnn_with_dynamic_batch_shapes_as_tflite():
    """The shapes of a CNN of the layers users reach for (dilations, transposed conv, cropping,
    upsampling, squeeze-excite, global pools, flatten), converted without a batch size."""
    import tensorflow as tf

    layers = tf.keras.layers

    def build():
        seeded_keras(3)
        x = tf.keras.Input((12, 12, 3))
        a = layers.Conv2D(6, 3, padding="same", dilation_rate=2, activation="relu")(x)
        b = layers.DepthwiseConv2D(3, padding="valid", dilation_rate=2)(a)
        b = layers.ZeroPadding2D(2)(b)
        c = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(b)
        c = layers.Cropping2D(((1, 2), (2, 1)))(c)
        d = layers.UpSampling2D(2)(layers.MaxPooling2D(2)(c))
        se = layers.GlobalAveragePooling2D(keepdims=True)(d)
        d = layers.Multiply()([d, layers.Conv2D(4, 1, activation="sigmoid")(se)])
        g = layers.GlobalMaxPooling2D()(d)
        f = layers.Flatten()(layers.Reshape((-1, 4))(d))
        y = layers.Softmax()(layers.Concatenate()([layers.Dense(5)(f), layers.Dense(5)(g)]))
        return tflite_from_keras(tf.keras.Model(x, y), seed=3)

    data = cached_model({"test": "shapes_keras_cnn", "v": 1}, build)
    ops = {op.opcode for op in read_tflite_bytes(data).ops}
    assert {"SPACE_TO_BATCH_ND", "TRANSPOSE_CONV", "STRIDED_SLICE", "TILE", "SHAPE", "REDUCE_MAX"} <= ops, ops
    assert_shapes_as_tflite(data, "keras_cnn")


# ---------------------------------------------------------------------------------------------
# Refusals


def _svdf_model() -> bytes:
    """SVDF, whose state is a variable tensor no op writes (TFLite resets and updates it)."""
    n = mutants.Net()
    x = n.tensor("input", [1, 8], scale=0.05, zp=0)
    wf = n.tensor("weights_feature", [4, 8], scale=0.01, zp=0, data=np.ones((4, 8)))
    wt = n.tensor("weights_time", [4, 3], "int16", scale=0.001, zp=0, data=np.ones((4, 3)))
    bias = n.tensor("bias", [4], "int32", scale=0.0005, zp=0, data=np.zeros(4))
    state = n.tensor("state", [1, 12], "int16", scale=0.01, zp=0)
    n.sg.tensors[state].isVariable = True
    y = n.tensor("output", [1, 4], scale=0.05, zp=0)
    add_op(n, "SVDF", [x, wf, wt, bias, state], [y], "SVDFOptions", rank=1)
    return n.finish([x], [y])


def test_svdf_is_named_unsupported_before_its_variable_state():
    with pytest.raises(UnsupportedOpError) as info:
        compile_bytes(_svdf_model(), "svdf")
    assert str(info.value) == "unsupported op SVDF (op 0, output tensor 5 'output')"


def test_unsupported_op_is_named_before_shape_checks():
    """A CUSTOM op with nonsense shapes after it: the op is named, not the shapes."""
    m = Model(np.random.default_rng(0))
    x = m.x([1, 4])
    s = mutants.schema()
    oc = s.OperatorCodeT()
    oc.builtinCode, oc.customCode, oc.version = s.BuiltinOperator.CUSTOM, b"MyOp", 1
    m.net.model.operatorCodes.append(oc)
    o = s.OperatorT()
    o.opcodeIndex, o.inputs, o.outputs = (
        len(m.net.model.operatorCodes) - 1,
        np.array([x], np.int32),
        np.array([m.net.tensor("custom", [1, 3])], np.int32),
    )
    m.net.sg.operators.append(o)
    (y,) = m.op("ADD", [int(o.outputs[0]), m.const(np.ones((1, 5)), "float32")], member="AddOptions")
    with pytest.raises(UnsupportedOpError, match=r"^unsupported op CUSTOM:MyOp \(op 0, output tensor"):
        compile_bytes(m.finish([y]), "custom")


def test_shape_subgraph_ops_are_supported_by_folding():
    """SHAPE, STRIDED_SLICE, PACK have no lowering here; on shapes they fold (no refusal)."""
    from edgeconv.lowering.passes import check_supported

    data = dynamic_batch_model()
    check_supported(read_tflite_bytes(data))
    compile_bytes(data, "dynamic_flatten")


def _bad_add(m, rng):
    return m.op("ADD", [m.x([1, 3, 4]), m.const(np.ones((1, 5)), "float32")], member="AddOptions")


def _bad_reshape(m, rng):
    return m.op("RESHAPE", [m.x([1, 6]), m.const([4, -1])], member="ReshapeOptions")


def _bad_split(m, rng):
    return m.op("SPLIT", [m.const([1], shape=[]), m.x([1, 5])], n_out=2, member="SplitOptions", numSplits=2)


def _bad_concat(m, rng):
    return m.op(
        "CONCATENATION", [m.x([1, 3]), m.const(np.ones((2, 2)), "float32")], member="ConcatenationOptions", axis=1
    )


def _bad_conv(m, rng):
    return m.op(
        "CONV_2D",
        [m.x([1, 3, 3, 2]), m.const(np.ones((2, 5, 5, 2)), "float32"), m.const(np.zeros(2), "float32")],
        member="Conv2DOptions",
        padding=1,
        strideH=1,
        strideW=1,
        dilationHFactor=1,
        dilationWFactor=1,
    )


def _bad_space_to_batch(m, rng):
    return m.op(
        "SPACE_TO_BATCH_ND",
        [m.x([1, 5, 4, 1]), m.const([2, 2]), m.const([[0, 0], [0, 0]])],
        member="SpaceToBatchNDOptions",
    )


# Same shape as lowering/test_int16_mac.py's builder table (name -> (builder, what)); kept apart: different cases
BAD = {
    "add_broadcast": (_bad_add, "not broadcastable"),
    "reshape_size": (_bad_reshape, "reshapes"),
    "split_uneven": (_bad_split, "does not split evenly"),
    "concat": (_bad_concat, "differ outside axis"),
    "conv_window": (_bad_conv, "does not fit"),
    "space_to_batch": (_bad_space_to_batch, "not a multiple"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_shapes_tflite_refuses_are_refused_naming_the_op(name):
    build, words = BAD[name]
    m = Model(np.random.default_rng(0))
    data = m.finish(build(m, m.rng))
    with pytest.raises(ModelError) as info:
        infer_shapes(read_tflite_bytes(data))
    message = str(info.value)
    assert message.startswith("op 0 ") and words in message and "\n" not in message, message
    with pytest.raises((ReferenceUnavailable, Exception)):  # TFLite refuses it (or an empty output)
        shapes = tflite_shapes(data, [t for op in read_tflite_bytes(data).ops for t in op.outputs])
        assert all(0 not in s for s in shapes.values())


def test_graph_input_may_have_a_dynamic_batch_only():
    n = mutants.Net()
    x = n.tensor("x", [1, 4, 4, 2], scale=0.05, zp=0)
    y = n.tensor("y", [1, 1, 1, 1], scale=0.05, zp=0)  # a placeholder: TFLite's is [1, 4, 4, 2]
    n.sg.tensors[x].shapeSignature = np.array([-1, 4, 4, 2], np.int32)
    mutants.Net.op(n, "RELU", [x], [y])
    data = n.finish([x], [y])
    model = compile_bytes(data, "dyn")
    assert model.graph.tensors[y].shape == (1, 4, 4, 2)
    n.sg.tensors[x].shapeSignature = np.array([-1, -1, 4, 2], np.int32)
    with pytest.raises(ModelError, match="model input tensor 0 'x' has a dynamic shape \\[-1, -1, 4, 2\\]"):
        compile_bytes(n.finish([x], [y]), "dyn")


def test_zero_sized_placeholder_of_an_op_output_is_a_hint():
    """The reader refuses a zero-sized tensor, except where an op writes it (TFLite resizes)."""
    n = mutants.Net()
    x = n.tensor("x", [1, 6], scale=0.05, zp=0)
    y = n.tensor("y", [0, 3], scale=0.05, zp=0)
    mutants.Net.op(n, "RELU", [x], [y])
    assert compile_bytes(n.finish([x], [y]), "zero").graph.tensors[y].shape == (1, 6)
    n2 = mutants.Net()
    x2 = n2.tensor("x", [1, 0], scale=0.05, zp=0)
    y2 = n2.tensor("y", [1, 6], scale=0.05, zp=0)
    mutants.Net.op(n2, "RELU", [x2], [y2])
    with pytest.raises(ModelError, match="is zero-sized"):
        compile_bytes(n2.finish([x2], [y2]), "zero")


def _relu_with_placeholder(stored) -> bytes:
    n = mutants.Net()
    x = n.tensor("x", [1, 4, 6], scale=0.05, zp=0)
    y = n.tensor("y", list(stored), scale=0.05, zp=0)
    mutants.Net.op(n, "RELU", [x], [y])
    return n.finish([x], [y])


def test_tflite_micro_is_given_tflites_shapes_where_they_fit_in_place():
    """TFLite Micro runs stored shapes: validation rewrites them in place (same rank) to
    TFLite's, and otherwise runs the model in TFLite Micro op by op, each one-op model carrying
    TFLite's shapes."""
    from edgeconv.checking.validation import tflm_model_bytes, tflm_undefined_ops

    data = _relu_with_placeholder([1, 1, 6])
    model = compile_bytes(data, "relu")
    assert model.graph.shape_changes == {1: ((1, 1, 6), (1, 4, 6))}
    assert read_tflite_bytes(tflm_model_bytes(data, model)).tensors[1].shape == (1, 4, 6)
    assert not tflm_undefined_ops(model)
    report = validate_bytes(data, "relu", samples=3)
    assert report.bit_exact and report.oracle == "tflm", report.notes

    data = _relu_with_placeholder([1, 24])  # another rank: no room to write [1, 4, 6]
    model = compile_bytes(data, "relu")
    assert tflm_model_bytes(data, model) is None
    assert any("stored in the file" in u for u in tflm_undefined_ops(model))
    report = validate_bytes(data, "relu", samples=3)
    assert report.bit_exact and report.oracle == "tflm_ops", report.notes
