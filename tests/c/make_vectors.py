"""Makes tests/c/cases/: the kernel tests in C (see tests/c/README.md).

Each case is one small model of one op (a few with a comparison feeding the op: BOOL tensors
are never model edges), built with tests/mutants.py's flatbuffer object API or, for the 16x8
forms, the TFLite converter. For each case this writes cases/<name>/:

  <name>.tflite   the model
  <name>.c/.h     what `edgeconv.compile(model, weights=...)` emits for it (the model's own files:
                  the Makefile compiles them against ../../c_runtime itself). The runtime
                  version stamp is written as the source tree's placeholder (see
                  `source_tree_stamp`), so that the files build against c_runtime/ as it is.
  vectors.c       the input samples (seeded random over the type's whole range, and one sample
                  of edge values: min, max, the zero point and its neighbours) and the outputs
                  the oracle computed for them: TFLite Micro (`tflite_micro`), or TFLite's
                  reference kernels (LiteRT BUILTIN_REF) for the few ops TFLite Micro lacks.

and tests/c/cases.json, one entry per case: what it tests, the weights form it was compiled
with, the oracle, the kernels its C calls, the input seed.

    python tests/c/make_vectors.py               every case (TensorFlow + tflite_micro), once
    python tests/c/make_vectors.py conv_1x1 ...  only those cases
    python tests/c/make_vectors.py --refresh-c   only <name>.c/.h, from the stored .tflite files,
                                                 after the emitter's output changed (edgeconv
                                                 alone; no TensorFlow)

Only edgeconv's public API is used (`edgeconv.compile`). Importing this module imports
neither TensorFlow nor edgeconv (tests/c_runtime/test_c_kernels.py uses `emit_case_c` from it).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "cases"
INDEX = HERE / "cases.json"  # every case: what it is, its weights form, oracle and kernels
SAMPLES = 3  # per case: one of edge values, two random
SEED = 13

# --------------------------------------------------------------------------------------------
# The emitted C, as stored


def source_tree_stamp(text: str) -> str:
    """The emitted text with its runtime version stamp (edgeconv's version + a hash of every
    c_runtime/ file, which the model .c checks against ec_common.h's) replaced by the
    placeholder c_runtime/ec_common.h carries in the source tree: the stored C then builds
    against c_runtime/ directly, and a kernel edit that leaves the generated C alone does not
    make every case stale."""
    m = re.search(r"#define EC_MODEL_RUNTIME_VERSION_ID (0x[0-9a-fA-F]+UL)", text)
    if m:
        text = text.replace(m.group(1), "0x00000000UL")
    return re.sub(r"edgeconv runtime [0-9A-Za-z.\-]+\+[0-9a-f]+\b", "edgeconv runtime 0.0.0+source", text)


def emit_case_c(model: bytes, name: str, weights: str) -> dict[str, str]:
    """{'<name>.c': text, '<name>.h': text} as stored for a case: what edgeconv.compile emits."""
    import edgeconv

    with tempfile.TemporaryDirectory() as tmp:
        edgeconv.compile(model, tmp, name=name, weights=weights)
        return {f: source_tree_stamp((Path(tmp) / f).read_text()) for f in (f"{name}.c", f"{name}.h")}


def kernels_called(c_text: str) -> list[str]:
    """The c_runtime entry points a generated model .c calls (`ec_xxx(&params, ...)`)."""
    return sorted(set(re.findall(r"\b(ec_[a-z0-9_]+)\(&", c_text)))


# --------------------------------------------------------------------------------------------
# Model building (tests/mutants.py's Net, plus any op and options table)


def _mutants():
    sys.path.insert(0, str(HERE.parent))
    import mutants

    return mutants


def net():
    return _mutants().Net()


def op(
    n, opname: str, inputs: list[int], outputs: list[int], member: str | None = None, version: int = 1, **options
) -> None:
    """An operator of any builtin code; `member` names its BuiltinOptions table (mutants.Net.add_op)."""
    n.add_op(opname, inputs, outputs, member, version, **options)


SAME, VALID = 0, 1


def w8(rng, shape):
    return rng.integers(-127, 128, size=shape).astype(np.int8)


# Like depthwise_model below and the fast-path tests' _branch builders, but CONV_2D: each hand-built model spells out
# its own tensors and options so a case reads whole; kept apart because shapes, scales, seeds and options differ
# (merging them would change the models)
# (lowering/test_int16_mac.py's _conv_branch too: that one adds bias-type options and shares a Net with others)
def conv_model(
    seed: int,
    in_shape,
    out_c: int,
    k: tuple[int, int],
    stride=(1, 1),
    dil=(1, 1),
    padding=SAME,
    act: int = 0,
    in_zp: int = -3,
    dtype: str = "int8",
    group_in_c: int | None = None,
) -> bytes:
    """CONV_2D, per-channel weights; int16 activations (zero points 0, int64 bias) for dtype int16."""
    rng = np.random.default_rng(seed)
    n = net()
    b_, h, w, c = in_shape
    fc = group_in_c or c
    s16 = dtype == "int16"
    xs = 0.0005 if s16 else 0.05
    x = n.tensor("input", list(in_shape), dtype, scale=xs, zp=0 if s16 else in_zp)
    ws = rng.uniform(0.005, 0.02, out_c).astype(np.float32)
    wt = n.tensor(
        "weights", [out_c, k[0], k[1], fc], scale=ws, zp=[0] * out_c, data=w8(rng, (out_c, k[0], k[1], fc)), axis=0
    )
    bt = n.tensor(
        "bias",
        [out_c],
        "int64" if s16 else "int32",
        scale=np.float32(xs) * ws,
        zp=[0] * out_c,
        data=rng.integers(-3000, 3000, out_c),
    )

    def out_size(i, kk, st, dd):
        eff = (kk - 1) * dd + 1
        return -(-i // st) if padding == SAME else (i - eff) // st + 1

    oh, ow = out_size(h, k[0], stride[0], dil[0]), out_size(w, k[1], stride[1], dil[1])
    y = n.tensor("output", [b_, oh, ow, out_c], dtype, scale=0.002 if s16 else 0.08, zp=0 if s16 else 5)
    n.op(
        "CONV_2D",
        [x, wt, bt],
        [y],
        padding=padding,
        strideH=stride[0],
        strideW=stride[1],
        dilationHFactor=dil[0],
        dilationWFactor=dil[1],
        fusedActivationFunction=act,
    )
    return n.finish([x], [y])


# Like conv_model above, but DEPTHWISE_CONV_2D: each hand-built model spells out its own tensors and options so a case
# reads whole; kept apart because shapes, scales, seeds and options differ (merging them would change the models)
def depthwise_model(
    seed: int,
    in_shape,
    k: tuple[int, int],
    mult: int = 1,
    stride=(1, 1),
    dil=(1, 1),
    padding=SAME,
    act: int = 0,
    dtype: str = "int8",
) -> bytes:
    rng = np.random.default_rng(seed)
    n = net()
    b_, h, w, c = in_shape
    oc = c * mult
    s16 = dtype == "int16"
    xs = 0.0005 if s16 else 0.05
    x = n.tensor("input", list(in_shape), dtype, scale=xs, zp=0 if s16 else 2)
    ws = rng.uniform(0.005, 0.03, oc).astype(np.float32)
    wt = n.tensor("weights", [1, k[0], k[1], oc], scale=ws, zp=[0] * oc, data=w8(rng, (1, k[0], k[1], oc)), axis=3)
    bt = n.tensor(
        "bias",
        [oc],
        "int64" if s16 else "int32",
        scale=np.float32(xs) * ws,
        zp=[0] * oc,
        data=rng.integers(-300, 300, oc),
    )

    def out_size(i, kk, st, dd):
        eff = (kk - 1) * dd + 1
        return -(-i // st) if padding == SAME else (i - eff) // st + 1

    oh, ow = out_size(h, k[0], stride[0], dil[0]), out_size(w, k[1], stride[1], dil[1])
    y = n.tensor("output", [b_, oh, ow, oc], dtype, scale=0.002 if s16 else 0.07, zp=0 if s16 else -1)
    n.op(
        "DEPTHWISE_CONV_2D",
        [x, wt, bt],
        [y],
        padding=padding,
        strideH=stride[0],
        strideW=stride[1],
        depthMultiplier=mult,
        dilationHFactor=dil[0],
        dilationWFactor=dil[1],
        fusedActivationFunction=act,
    )
    return n.finish([x], [y])


def fc_model(
    seed: int, batches: int, depth: int, units: int, dtype: str = "int8", per_channel: bool = False, bias: bool = True
) -> bytes:
    rng = np.random.default_rng(seed)
    n = net()
    s16 = dtype == "int16"
    xs = 0.0005 if s16 else 0.04
    x = n.tensor("input", [batches, depth], dtype, scale=xs, zp=0 if s16 else -7)
    ws = rng.uniform(0.005, 0.02, units).astype(np.float32) if per_channel else np.float32(0.01)
    wt = n.tensor(
        "weights", [units, depth], scale=ws, zp=[0] * units if per_channel else 0, data=w8(rng, (units, depth)), axis=0
    )
    ins = [x, wt]
    if bias:
        ins.append(
            n.tensor(
                "bias",
                [units],
                "int64" if s16 else "int32",
                scale=np.float32(xs) * np.float32(ws),
                zp=[0] * units if per_channel else 0,
                data=rng.integers(-500, 500, units),
            )
        )
    else:
        ins.append(-1)
    y = n.tensor("output", [batches, units], dtype, scale=0.002 if s16 else 0.06, zp=0 if s16 else 3)
    n.op("FULLY_CONNECTED", ins, [y], fusedActivationFunction=0, keepNumDims=False)
    return n.finish([x], [y])


def qparams(dtype: str, scale: float = 0.05, zp: int = -3) -> tuple[float | None, int]:
    if dtype == "int16":
        return scale / 50, 0
    if dtype in ("int32", "int64"):
        return None, 0
    return scale, zp


def unary(
    opname: str,
    dtype: str,
    shape,
    out_scale: float | None = None,
    out_zp: int | None = None,
    in_scale: float = 0.06,
    in_zp: int = -4,
    member: str | None = None,
    out_dtype: str | None = None,
    **options,
) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        s16 = dtype == "int16"
        x = n.tensor("input", list(shape), dtype, scale=in_scale, zp=0 if s16 else in_zp)
        od = out_dtype or dtype
        y = n.tensor(
            "output",
            list(shape),
            od,
            scale=out_scale if out_scale is not None else in_scale,
            zp=out_zp if out_zp is not None else (0 if od == "int16" else in_zp),
        )
        op(n, opname, [x], [y], member, **options)
        return n.finish([x], [y])

    return build


def binary(
    opname: str, dtype: str, a_shape, b_shape, out_shape, member: str | None = None, same_quant: bool = False, **options
) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        if dtype == "int16":
            qa, qb, qy = (0.002, 0), (0.002 if same_quant else 0.0007, 0), (0.002 if same_quant else 0.003, 0)
        elif dtype in ("int32", "int64"):
            qa = qb = qy = (None, 0)
        else:
            qa, qb, qy = (
                (0.05, -3),
                ((0.05, -3) if same_quant else (0.02, 4)),
                ((0.05, -3) if same_quant else (0.08, 1)),
            )
        a = n.tensor("a", list(a_shape), dtype, scale=qa[0], zp=qa[1])
        b = n.tensor("b", list(b_shape), dtype, scale=qb[0], zp=qb[1])
        y = n.tensor("output", list(out_shape), dtype, scale=qy[0], zp=qy[1])
        op(n, opname, [a, b], [y], member, **options)
        return n.finish([a, b], [y])

    return build


def compare_select(cmp: str, dtype: str, shape=(2, 3, 4)) -> Callable[[], bytes]:
    """A comparison whose BOOL output selects between the two operands (SELECT_V2)."""

    def build() -> bytes:
        n = net()
        sc, zp = qparams(dtype)
        a = n.tensor("a", list(shape), dtype, scale=sc, zp=zp)
        b = n.tensor("b", list(shape), dtype, scale=sc, zp=zp)
        c = n.tensor("cond", list(shape), "bool")
        op(n, cmp, [a, b], [c])
        y = n.tensor("output", list(shape), dtype, scale=sc, zp=zp)
        op(n, "SELECT_V2", [c, a, b], [y], "SelectV2Options")
        return n.finish([a, b], [y])

    return build


def compare_cast(cmp: str, dtype: str, out: str = "int32", shape=(3, 7)) -> Callable[[], bytes]:
    """A comparison whose BOOL output is cast to an integer type (ec_cast_b_*)."""

    def build() -> bytes:
        n = net()
        sc, zp = qparams(dtype, 0.05, 6)
        a = n.tensor("a", list(shape), dtype, scale=sc, zp=zp)
        b = n.tensor("b", list(shape), dtype, scale=sc, zp=zp)
        c = n.tensor("cond", list(shape), "bool")
        op(n, cmp, [a, b], [c])
        y = n.tensor("output", list(shape), out)
        op(n, "CAST", [c], [y], "CastOptions")
        return n.finish([a, b], [y])

    return build


def cast(src: str, dst: str, shape=(3, 7)) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        x = n.tensor("input", list(shape), src)
        y = n.tensor("output", list(shape), dst)
        op(n, "CAST", [x], [y], "CastOptions")
        return n.finish([x], [y])

    return build


def pool(
    opname: str, dtype: str, in_shape=(1, 5, 6, 3), k=(2, 3), stride=(2, 2), padding=SAME, act: int = 0
) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        sc, zp = qparams(dtype, 0.05, -4)
        b_, h, w, c = in_shape
        oh = -(-h // stride[0]) if padding == SAME else (h - k[0]) // stride[0] + 1
        ow = -(-w // stride[1]) if padding == SAME else (w - k[1]) // stride[1] + 1
        x = n.tensor("input", list(in_shape), dtype, scale=sc, zp=zp)
        y = n.tensor("output", [b_, oh, ow, c], dtype, scale=sc, zp=zp)
        n.op(
            opname,
            [x],
            [y],
            padding=padding,
            strideH=stride[0],
            strideW=stride[1],
            filterHeight=k[0],
            filterWidth=k[1],
            fusedActivationFunction=act,
        )
        return n.finish([x], [y])

    return build


def softmax(in_dtype: str, out_dtype: str, depth: int = 10, beta: float = 1.0, rows: int = 2) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        xs, xz = (0.002, 0) if in_dtype == "int16" else (0.1, -2)
        x = n.tensor("logits", [rows, depth], in_dtype, scale=xs, zp=xz)
        if out_dtype == "int16":
            ys, yz = (1 / 32768, 0) if in_dtype == "int16" else (1 / 65536, -32768)
        else:
            ys, yz = 1 / 256, -128
        y = n.tensor("probs", [rows, depth], out_dtype, scale=ys, zp=yz)
        n.op("SOFTMAX", [x], [y], beta=beta)
        return n.finish([x], [y])

    return build


def reduce_op(
    opname: str, dtype: str, axes=(1, 2), keep: bool = True, shape=(1, 3, 4, 2), out_scale: float | None = None
) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        sc, zp = qparams(dtype, 0.05, 1)
        x = n.tensor("input", list(shape), dtype, scale=sc, zp=zp)
        a = n.tensor("axis", [len(axes)], "int32", data=list(axes))
        out = (
            [1 if (i in axes) else d for i, d in enumerate(shape)]
            if keep
            else [d for i, d in enumerate(shape) if i not in axes]
        )
        ys = out_scale if out_scale is not None else sc
        y = n.tensor("output", out, dtype, scale=ys, zp=(0 if dtype == "int16" else (zp if out_scale is None else -2)))
        op(n, opname, [x, a], [y], "ReducerOptions", keepDims=keep)
        return n.finish([x], [y])

    return build


def concat(dtype: str) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        sc, zp = qparams(dtype)
        a = n.tensor("a", [1, 2, 3, 2], dtype, scale=sc, zp=zp)
        b = n.tensor("b", [1, 2, 3, 3], dtype, scale=sc, zp=zp)
        y = n.tensor("output", [1, 2, 3, 5], dtype, scale=sc, zp=zp)
        n.op("CONCATENATION", [a, b], [y], axis=3, fusedActivationFunction=0)
        return n.finish([a, b], [y])

    return build


def split(dtype: str) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        sc, zp = qparams(dtype)
        ax = n.tensor("axis", [], "int32", data=2)
        x = n.tensor("input", [1, 2, 6, 3], dtype, scale=sc, zp=zp)
        ys = [n.tensor(f"out{i}", [1, 2, 2, 3], dtype, scale=sc, zp=zp) for i in range(3)]
        op(n, "SPLIT", [ax, x], ys, "SplitOptions", numSplits=3)
        return n.finish([x], ys)

    return build


def transpose(dtype: str) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        sc, zp = qparams(dtype)
        x = n.tensor("input", [1, 2, 3, 4], dtype, scale=sc, zp=zp)
        p = n.tensor("perm", [4], "int32", data=[0, 3, 1, 2])
        y = n.tensor("output", [1, 4, 2, 3], dtype, scale=sc, zp=zp)
        n.op("TRANSPOSE", [x, p], [y])
        return n.finish([x], [y])

    return build


def mirror_pad(dtype: str) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        sc, zp = qparams(dtype)
        x = n.tensor("input", [1, 4, 3, 2], dtype, scale=sc, zp=zp)
        p = n.tensor("paddings", [4, 2], "int32", data=[[0, 0], [1, 2], [2, 1], [0, 0]])
        y = n.tensor("output", [1, 7, 6, 2], dtype, scale=sc, zp=zp)
        op(n, "MIRROR_PAD", [x, p], [y], "MirrorPadOptions", mode=0)  # REFLECT
        return n.finish([x], [y])

    return build


def pad(dtype: str, v2: bool = False) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        sc, zp = qparams(dtype, 0.05, -5)
        x = n.tensor("input", [1, 2, 3, 2], dtype, scale=sc, zp=zp)
        p = n.tensor("paddings", [4, 2], "int32", data=[[0, 0], [1, 2], [0, 1], [1, 0]])
        ins = [x, p]
        if v2:
            ins.append(n.tensor("constant", [1], dtype, scale=sc, zp=zp, data=[7]))
        y = n.tensor("output", [1, 5, 4, 3], dtype, scale=sc, zp=zp)
        n.op("PADV2" if v2 else "PAD", ins, [y])
        return n.finish([x], [y])

    return build


def gather(dtype: str) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        sc, zp = qparams(dtype)
        x = n.tensor("input", [4, 3, 2], dtype, scale=sc, zp=zp)
        i = n.tensor("indices", [5], "int32", data=[2, 0, 1, 1, 2])
        y = n.tensor("output", [4, 5, 2], dtype, scale=sc, zp=zp)
        op(n, "GATHER", [x, i], [y], "GatherOptions", axis=1, batchDims=0)
        return n.finish([x], [y])

    return build


def resize(opname: str, dtype: str, align: bool = False, half: bool = True) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        sc, zp = qparams(dtype, 0.05, -2)
        x = n.tensor("input", [1, 3, 4, 2], dtype, scale=sc, zp=zp)
        s = n.tensor("size", [2], "int32", data=[5, 7])
        y = n.tensor("output", [1, 5, 7, 2], dtype, scale=sc, zp=zp)
        n.op(opname, [x, s], [y], alignCorners=align, halfPixelCenters=half)
        return n.finish([x], [y])

    return build


def arg(opname: str, out: str) -> Callable[[], bytes]:
    """ARG_MAX/ARG_MIN on int8. INT64 indices cannot be a model output: they are compared with
    a constant (EQUAL, int64) whose BOOL picks between two int8 inputs (SELECT_V2)."""

    def build() -> bytes:
        n = net()
        x = n.tensor("input", [2, 3, 5], "int8", scale=0.05, zp=-3)
        a = n.tensor("axis", [1], "int32", data=[2])
        y = n.tensor("index", [2, 3], out)
        member = "ArgMaxOptions" if opname == "ARG_MAX" else "ArgMinOptions"
        op(n, opname, [x, a], [y], member, outputType=_mutants().type_code(out))
        if out == "int32":
            return n.finish([x], [y])
        k = n.tensor("k", [1], out, data=[2])
        c = n.tensor("is_2", [2, 3], "bool")
        op(n, "EQUAL", [y, k], [c])
        p = n.tensor("p", [2, 3], "int8", scale=0.1, zp=0)
        q = n.tensor("q", [2, 3], "int8", scale=0.1, zp=0)
        o = n.tensor("output", [2, 3], "int8", scale=0.1, zp=0)
        op(n, "SELECT_V2", [c, p, q], [o], "SelectV2Options")
        return n.finish([x, p, q], [o])

    return build


def requantize(src: str, dst: str) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        q = {"int8": (0.03, -6), "uint8": (0.03, 128), "int16": (0.0004, 0)}
        qo = {"int8": (0.05, 4), "uint8": (0.04, 130), "int16": (0.0003, 0)}
        x = n.tensor("input", [2, 9], src, scale=q[src][0], zp=q[src][1])
        y = n.tensor("output", [2, 9], dst, scale=qo[dst][0], zp=qo[dst][1])
        n.op("QUANTIZE", [x], [y])
        return n.finish([x], [y])

    return build


def quantize_float(dst: str) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        x = n.tensor("input", [2, 9], "float32")
        sc, zp = {"int8": (0.03, -6), "uint8": (0.03, 120), "int16": (0.0004, 0)}[dst]
        y = n.tensor("output", [2, 9], dst, scale=sc, zp=zp)
        n.op("QUANTIZE", [x], [y])
        return n.finish([x], [y])

    return build


def dequantize(src: str) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        sc, zp = {"int8": (0.03, -6), "uint8": (0.03, 120), "int16": (0.0004, 0)}[src]
        x = n.tensor("input", [2, 9], src, scale=sc, zp=zp)
        y = n.tensor("output", [2, 9], "float32")
        n.op("DEQUANTIZE", [x], [y])
        return n.finish([x], [y])

    return build


def prelu(dtype: str) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        s16 = dtype == "int16"
        x = n.tensor("input", [1, 2, 2, 3], dtype, scale=0.001 if s16 else 0.05, zp=0 if s16 else -3)
        a = n.tensor("alpha", [1, 1, 3], "int8", scale=0.01, zp=0, data=[25, -10, 60])  # int8 for int16 too
        y = n.tensor("output", [1, 2, 2, 3], dtype, scale=0.0008 if s16 else 0.04, zp=0 if s16 else 2)
        n.op("PRELU", [x, a], [y])
        return n.finish([x], [y])

    return build


def space_to_batch() -> bytes:
    n = net()
    x = n.tensor("input", [1, 4, 6, 2], scale=0.05, zp=-1)
    b = n.tensor("block_shape", [2], "int32", data=[2, 2])
    p = n.tensor("paddings", [2, 2], "int32", data=[[0, 0], [0, 0]])  # TFLite Micro leaves pad cells undefined
    y = n.tensor("output", [4, 2, 3, 2], scale=0.05, zp=-1)
    n.op("SPACE_TO_BATCH_ND", [x, b, p], [y])
    return n.finish([x], [y])


def batch_to_space() -> bytes:
    n = net()
    x = n.tensor("input", [4, 2, 3, 2], scale=0.05, zp=-1)
    b = n.tensor("block_shape", [2], "int32", data=[2, 2])
    c = n.tensor("crops", [2, 2], "int32", data=[[0, 1], [1, 0]])
    y = n.tensor("output", [1, 3, 5, 2], scale=0.05, zp=-1)
    n.op("BATCH_TO_SPACE_ND", [x, b, c], [y])
    return n.finish([x], [y])


def transpose_conv(dtype: str) -> Callable[[], bytes]:
    def build() -> bytes:
        rng = np.random.default_rng(7)
        n = net()
        s16 = dtype == "int16"
        xs = 0.0005 if s16 else 0.05
        x = n.tensor("input", [1, 3, 2, 3], dtype, scale=xs, zp=0 if s16 else -4)
        shape = n.tensor("output_shape", [4], "int32", data=[1, 6, 4, 2])
        ws = np.array([0.02, 0.03], dtype=np.float32)
        w = n.tensor("weights", [2, 3, 3, 3], scale=ws, zp=[0, 0], data=w8(rng, (2, 3, 3, 3)), axis=0)
        b = n.tensor(
            "bias",
            [2],
            "int64" if s16 else "int32",
            scale=np.float32(xs) * ws,
            zp=[0, 0],
            data=rng.integers(-300, 300, 2),
        )
        y = n.tensor("output", [1, 6, 4, 2], dtype, scale=0.002 if s16 else 0.08, zp=0 if s16 else 3)
        n.op("TRANSPOSE_CONV", [shape, w, x, b], [y], padding=SAME, strideH=2, strideW=2, fusedActivationFunction=0)
        return n.finish([x], [y])

    return build


def batch_matmul(dtype: str, const_rhs: bool = False) -> Callable[[], bytes]:
    def build() -> bytes:
        rng = np.random.default_rng(11)
        n = net()
        s16 = dtype == "int16"
        a = n.tensor("lhs", [2, 3, 5], dtype, scale=0.0004 if s16 else 0.04, zp=0 if s16 else 2)
        if const_rhs:
            b = n.tensor(
                "rhs",
                [1, 5, 4],
                dtype,
                scale=0.0003 if s16 else 0.03,
                zp=0 if s16 else -3,
                data=rng.integers(-2000, 2000, (1, 5, 4)) if s16 else w8(rng, (1, 5, 4)),
            )
            y = n.tensor("output", [2, 3, 4], dtype, scale=0.001 if s16 else 0.1, zp=0 if s16 else -1)
            n.op("BATCH_MATMUL", [a, b], [y], adjX=False, adjY=False)
            return n.finish([a], [y])
        b = n.tensor("rhs", [1, 2, 5], dtype, scale=0.0003 if s16 else 0.03, zp=0 if s16 else -3)
        y = n.tensor("output", [2, 3, 2], dtype, scale=0.001 if s16 else 0.1, zp=0 if s16 else -1)
        n.op("BATCH_MATMUL", [a, b], [y], adjX=False, adjY=True)
        return n.finish([a, b], [y])

    return build


def div(dtype: str) -> Callable[[], bytes]:
    def build() -> bytes:
        n = net()
        if dtype == "int8":
            a = n.tensor("a", [2, 3, 4], "int8", scale=0.05, zp=-3)
            # input scale / (divisor scale * output scale) = 100: TFLite's rounding stays defined
            b = n.tensor("b", [1, 1, 4], "int8", scale=0.05, zp=-100)
            y = n.tensor("output", [2, 3, 4], "int8", scale=0.01, zp=2)
        else:
            a = n.tensor("a", [2, 3, 4], "int32")
            b = n.tensor("b", [1, 1, 4], "int32")
            y = n.tensor("output", [2, 3, 4], "int32")
        op(n, "DIV", [a, b], [y], "DivOptions", fusedActivationFunction=0)
        return n.finish([a, b], [y])

    return build


def l2norm() -> bytes:
    n = net()
    x = n.tensor("input", [1, 3, 8], scale=0.05, zp=-3)
    y = n.tensor("output", [1, 3, 8], scale=1 / 128, zp=0)
    op(n, "L2_NORMALIZATION", [x], [y], "L2NormOptions", fusedActivationFunction=0)
    return n.finish([x], [y])


def merged(*parts: Callable[[], bytes]) -> Callable[[], bytes]:
    """One model holding the independent one-op models `parts` side by side (their inputs and
    outputs in order, tensor names prefixed m0_, m1_, ...): one case exercises several entry
    points of a family, and the stored files stay few and small."""

    def build() -> bytes:
        m = _mutants()
        models = [m.unpack(p()) for p in parts]
        out = m.unpack(parts[0]())  # the model-level fields; its subgraph is refilled below
        out.subgraphs[0].tensors = []
        out.subgraphs[0].operators = []
        out.buffers = out.buffers[:1]
        out.operatorCodes = []
        ins, outs = [], []
        for k, model in enumerate(models):
            sg = model.subgraphs[0]
            t0, b0 = len(out.subgraphs[0].tensors), len(out.buffers)
            out.buffers.extend(model.buffers[1:])
            for t in sg.tensors:
                t.name = f"m{k}_".encode() + t.name
                if t.buffer:
                    t.buffer = t.buffer - 1 + b0
                out.subgraphs[0].tensors.append(t)
            for o in sg.operators:
                oc = model.operatorCodes[o.opcodeIndex]
                for i, have in enumerate(out.operatorCodes):
                    if have.builtinCode == oc.builtinCode and have.version == oc.version:
                        o.opcodeIndex = i
                        break
                else:
                    out.operatorCodes.append(oc)
                    o.opcodeIndex = len(out.operatorCodes) - 1
                o.inputs = np.array([i if i < 0 else i + t0 for i in o.inputs], dtype=np.int32)
                o.outputs = np.array([i + t0 for i in o.outputs], dtype=np.int32)
                out.subgraphs[0].operators.append(o)
            ins += [i + t0 for i in sg.inputs]
            outs += [i + t0 for i in sg.outputs]
        out.subgraphs[0].inputs = np.array(ins, dtype=np.int32)
        out.subgraphs[0].outputs = np.array(outs, dtype=np.int32)
        return m.pack(out)

    return build


# 16x8 forms and a few others through the TFLite converter (what it really writes).


def converted(layer: Callable, input_shape, mode: str = "16x8", seed: int = 0) -> Callable[[], bytes]:
    def build() -> bytes:
        import tensorflow as tf

        tf.keras.utils.set_random_seed(seed)
        inp = tf.keras.Input(input_shape, batch_size=1)
        model = tf.keras.Model(inp, layer(tf)(inp))
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        rng = np.random.default_rng(seed + 1000)
        conv.representative_dataset = lambda: (
            [rng.uniform(-1, 1, (1, *input_shape)).astype(np.float32)] for _ in range(32)
        )
        if mode == "16x8":
            conv.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
            conv.inference_input_type = conv.inference_output_type = tf.int16
        else:
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = conv.inference_output_type = tf.int8
        return conv.convert()

    return build


# --------------------------------------------------------------------------------------------
# The cases


@dataclass
class Case:
    name: str  # also the model's C name (k_ prefix): its symbols differ from every other case's
    build: Callable[[], bytes]
    what: str
    weights: str = "int8"  # edgeconv's --weights: int8, or int16 for the pre-widened weight form
    expect: tuple[str, ...] = ()  # entry points the case must call (checked when made)
    # Rewrites a sample's inputs into the op's domain (where the oracle stops otherwise).
    fix_inputs: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None


def nonzero_divisor(sample: list[np.ndarray]) -> list[np.ndarray]:
    a, b = sample
    return [a, np.where(b == 0, np.ones_like(b), b)]


def above_zero_point(sample: list[np.ndarray]) -> list[np.ndarray]:
    """RSQRT (int16, zero point 0): positive inputs only; TFLite stops on the others."""
    x = sample[0].astype(np.int32)
    return [np.maximum(np.abs(x), 1).clip(1, 32767).astype(np.int16)]


def _mut(name: str) -> Callable[[], bytes]:
    def build() -> bytes:
        return _mutants().BASES[name]()

    return build


CASES: list[Case] = [
    # CONV_2D: ec_conv.c (one entry point per weight form; the block loops are chosen inside)
    Case(
        "k_conv",
        merged(
            _mut("conv"),
            lambda: conv_model(1, (1, 4, 4, 8), 6, (1, 1)),
            _mut("conv_dilated"),
            _mut("conv_grouped"),
            lambda: conv_model(2, (2, 7, 6, 3), 5, (5, 3), stride=(1, 2), padding=VALID, act=1),
        ),
        "CONV_2D int8: 3x3 stride 2 SAME ReLU; 1x1; 3x3 dilation 2 VALID ReLU6; grouped (2 groups); "
        "5x3 stride (1,2) VALID ReLU, batch 2",
        expect=("ec_conv2d_s8",),
    ),
    Case(
        "k_conv_w16",
        merged(lambda: conv_model(3, (1, 5, 5, 3), 8, (3, 3)), lambda: conv_model(4, (1, 3, 4, 16), 8, (1, 1))),
        "CONV_2D 3x3 and 1x1, int16 weight form",
        weights="int16",
        expect=("ec_conv2d_s8_w16",),
    ),
    Case(
        "k_conv_s16",
        lambda: conv_model(5, (1, 5, 5, 3), 4, (3, 3), dtype="int16"),
        "CONV_2D 16x8",
        expect=("ec_conv2d_s16",),
    ),
    Case(
        "k_conv_s16_conv",
        converted(lambda tf: tf.keras.layers.Conv2D(4, 3, strides=2, padding="same"), (6, 6, 3)),
        "CONV_2D 16x8 as the TFLite converter writes it",
        expect=("ec_conv2d_s16",),
    ),
    # DEPTHWISE_CONV_2D: ec_depthwise_conv.c, an entry point per window shape and weight form
    Case(
        "k_depthwise",
        merged(
            _mut("depthwise"),
            lambda: depthwise_model(1, (1, 5, 5, 5), (5, 5)),
            lambda: depthwise_model(2, (1, 4, 5, 6), (3, 3)),
            lambda: depthwise_model(3, (1, 7, 7, 5), (3, 3), stride=(2, 2), act=1),
            lambda: depthwise_model(4, (1, 12, 1, 6), (5, 1)),
            lambda: depthwise_model(5, (1, 8, 4, 5), (3, 1), stride=(2, 1)),
        ),
        "DEPTHWISE_CONV_2D int8: 3x3 depth multiplier 2; 5x5 (general loop); 3x3 stride 1 (pair loop); "
        "3x3 stride 2 ReLU; 5x1 on one column (pairs); 3x1 stride 2",
        expect=(
            "ec_depthwise_conv2d_s8",
            "ec_depthwise_conv2d_s8_3x3p",
            "ec_depthwise_conv2d_s8_3x3",
            "ec_depthwise_conv2d_s8_kx1p",
            "ec_depthwise_conv2d_s8_kx1",
        ),
    ),
    Case(
        "k_depthwise_w16",
        merged(
            lambda: depthwise_model(6, (1, 5, 5, 5), (5, 5)),
            lambda: depthwise_model(7, (1, 4, 5, 6), (3, 3)),
            lambda: depthwise_model(8, (1, 7, 7, 5), (3, 3), stride=(2, 2)),
            lambda: depthwise_model(9, (1, 12, 1, 6), (5, 1)),
            lambda: depthwise_model(10, (1, 8, 4, 5), (3, 1), stride=(2, 1)),
        ),
        "DEPTHWISE_CONV_2D, int16 weight form: 5x5; 3x3 pairs; 3x3 stride 2; 5x1 pairs; 3x1 stride 2",
        weights="int16",
        expect=(
            "ec_depthwise_conv2d_s8_w16",
            "ec_depthwise_conv2d_s8_3x3p_w16",
            "ec_depthwise_conv2d_s8_3x3_w16",
            "ec_depthwise_conv2d_s8_kx1p_w16",
            "ec_depthwise_conv2d_s8_kx1_w16",
        ),
    ),
    Case(
        "k_depthwise_s16",
        lambda: depthwise_model(11, (1, 4, 4, 6), (3, 3), dtype="int16"),
        "DEPTHWISE_CONV_2D 16x8",
        expect=("ec_depthwise_conv2d_s16",),
    ),
    # FULLY_CONNECTED: ec_fully_connected.c
    Case(
        "k_fc",
        merged(_mut("fully_connected"), _mut("fully_connected_3d")),
        "FULLY_CONNECTED per-tensor; per-channel, no bias, keep_num_dims, ReLU6",
        expect=("ec_fully_connected_s8",),
    ),
    Case(
        "k_fc_w16",
        lambda: fc_model(1, 2, 24, 7, per_channel=True),
        "FULLY_CONNECTED, int16 weight form",
        weights="int16",
        expect=("ec_fully_connected_s8_w16",),
    ),
    Case(
        "k_fc_s16",
        lambda: fc_model(2, 2, 12, 5, dtype="int16"),
        "FULLY_CONNECTED 16x8",
        expect=("ec_fully_connected_s16",),
    ),
    # TRANSPOSE_CONV, BATCH_MATMUL: ec_transpose_conv.c, ec_batch_matmul.c
    Case(
        "k_transpose_conv",
        merged(transpose_conv("int8"), transpose_conv("int16")),
        "TRANSPOSE_CONV 3x3 stride 2, int8 and 16x8",
        expect=("ec_transpose_conv_s8", "ec_transpose_conv_s16"),
    ),
    Case(
        "k_batch_matmul",
        merged(
            batch_matmul("int8"),
            batch_matmul("int8", const_rhs=True),
            batch_matmul("int16"),
            batch_matmul("int16", const_rhs=True),
        ),
        "BATCH_MATMUL int8 and int16: adj_y with a broadcast batch, and a constant rhs",
        expect=("ec_batch_matmul_s8", "ec_batch_matmul_s8_c", "ec_batch_matmul_s16", "ec_batch_matmul_s16_c"),
    ),
    # pooling: ec_pooling.c
    Case(
        "k_pool",
        merged(
            pool("AVERAGE_POOL_2D", "int8"),
            pool("MAX_POOL_2D", "int8", act=1),
            pool("AVERAGE_POOL_2D", "int16", k=(3, 3), stride=(1, 1), padding=VALID),
            pool("MAX_POOL_2D", "int16"),
        ),
        "AVERAGE_POOL_2D and MAX_POOL_2D, int8 (2x3 stride 2 SAME; ReLU) and int16 (3x3 VALID)",
        expect=("ec_avg_pool_s8", "ec_max_pool_s8", "ec_avg_pool_s16", "ec_max_pool_s16"),
    ),
    # softmax family: ec_softmax.c, ec_log_softmax.c
    Case(
        "k_softmax",
        merged(
            softmax("int8", "int8"),
            softmax("int8", "int16"),
            softmax("int16", "int16"),
            unary("LOG_SOFTMAX", "int8", (2, 9), 16 / 256, 127, 0.1, -2, "LogSoftmaxOptions"),
        ),
        "SOFTMAX int8, int8 -> int16, int16; LOG_SOFTMAX int8",
        expect=("ec_softmax_s8", "ec_softmax_s8_s16", "ec_softmax_s16", "ec_log_softmax_s8"),
    ),
    # reductions: ec_mean.c, ec_reduce.c, ec_arg_min_max.c
    Case(
        "k_reduce",
        merged(
            _mut("mean"),
            reduce_op("MEAN", "int16", axes=(2,), keep=False),
            reduce_op("REDUCE_MAX", "int8"),
            reduce_op("REDUCE_MIN", "int8", axes=(3,)),
            arg("ARG_MAX", "int32"),
            arg("ARG_MIN", "int32"),
        ),
        "MEAN int8 (H, W) and int16 (W), REDUCE_MAX and REDUCE_MIN int8, ARG_MAX and ARG_MIN to int32",
        expect=(
            "ec_mean_s8",
            "ec_mean_s16",
            "ec_reduce_max_s8",
            "ec_reduce_min_s8",
            "ec_arg_max_s8_s32",
            "ec_arg_min_s8_s32",
        ),
    ),
    Case(
        "k_reduce_ref",
        merged(
            reduce_op("REDUCE_MAX", "int16", axes=(1,)),
            reduce_op("REDUCE_MIN", "int16", axes=(2, 3)),
            arg("ARG_MIN", "int64"),
            arg("ARG_MAX", "int64"),
        ),
        "REDUCE_MAX and REDUCE_MIN int16; ARG_MIN and ARG_MAX to int64 -> EQUAL int64 -> SELECT_V2 "
        "(TFLite's reference: TFLite Micro has none of them)",
        expect=("ec_reduce_max_s16", "ec_reduce_min_s16", "ec_arg_min_s8_s64", "ec_arg_max_s8_s64", "ec_compare_s64"),
    ),
    # element-wise binary: ec_add.c, ec_mul.c, ec_maximum_minimum.c, ec_squared_difference.c, ec_div.c
    Case(
        "k_add",
        merged(
            _mut("add"),
            binary("SUB", "int8", (2, 1, 3), (1, 4, 1), (2, 4, 3), "SubOptions", fusedActivationFunction=1),
            binary("ADD", "int16", (1, 3, 4), (1, 3, 4), (1, 3, 4), "AddOptions"),
            binary("SUB", "int16", (2, 3, 4), (1, 1, 4), (2, 3, 4), "SubOptions"),
        ),
        "ADD/SUB int8 (channel broadcast; two-sided broadcast, ReLU) and int16",
        expect=("ec_add_s8", "ec_sub_s8", "ec_add_s16", "ec_sub_s16"),
    ),
    Case(
        "k_mul",
        merged(_mut("mul"), binary("MUL", "int16", (2, 3, 4), (2, 1, 4), (2, 3, 4), "MulOptions")),
        "MUL int8 and int16, broadcast",
        expect=("ec_mul_s8", "ec_mul_s16"),
    ),
    Case(
        "k_maximum_minimum",
        merged(
            _mut("maximum"),
            _mut("minimum"),
            binary("MAXIMUM", "int16", (2, 3, 4), (1, 3, 1), (2, 3, 4), "MaximumMinimumOptions", same_quant=True),
            binary("MINIMUM", "int16", (3, 4), (3, 4), (3, 4), "MaximumMinimumOptions", same_quant=True),
        ),
        "MAXIMUM/MINIMUM int8 and int16, broadcast",
        expect=("ec_maximum_s8", "ec_minimum_s8", "ec_maximum_s16", "ec_minimum_s16"),
    ),
    Case(
        "k_sqdiff",
        merged(
            binary("SQUARED_DIFFERENCE", "int8", (2, 3, 4), (1, 3, 4), (2, 3, 4)),
            binary("SQUARED_DIFFERENCE", "int16", (2, 3, 4), (2, 3, 4), (2, 3, 4)),
        ),
        "SQUARED_DIFFERENCE int8 (broadcast) and int16",
        expect=("ec_squared_difference_s8", "ec_squared_difference_s16"),
    ),
    Case("k_div_s8", div("int8"), "DIV int8 broadcast", expect=("ec_div_s8",)),
    Case("k_div_s32", div("int32"), "DIV int32, divisors not 0", expect=("ec_div_s32",), fix_inputs=nonzero_divisor),
    # comparisons, select, cast: ec_compare.c, ec_select.c, ec_cast.c
    Case(
        "k_compare",
        merged(
            compare_select("GREATER", "int8"),
            compare_cast("LESS", "int32"),
            compare_cast("NOT_EQUAL", "int8", "int8"),
            compare_cast("GREATER_EQUAL", "int8", "int16"),
        ),
        "GREATER int8 -> SELECT_V2; LESS int32, NOT_EQUAL int8, GREATER_EQUAL int8 -> CAST from BOOL",
        expect=("ec_compare_s8", "ec_select_s8", "ec_compare_s32", "ec_cast_b_s32", "ec_cast_b_s8", "ec_cast_b_s16"),
    ),
    Case(
        "k_compare_ref",
        compare_select("EQUAL", "int16"),
        "EQUAL int16 -> SELECT_V2 int16 (TFLite's reference)",
        expect=("ec_compare_s16", "ec_select_s16"),
    ),
    Case(
        "k_cast",
        merged(
            cast("int8", "int32"),
            cast("int32", "int8"),
            cast("int16", "int32"),
            cast("int32", "int16"),
            cast("int8", "int16"),
            cast("int16", "int8"),
            cast("int8", "int8"),
            cast("int16", "int16"),
            cast("int32", "int32"),
        ),
        "CAST between and within int8, int16 and int32 (narrowing wraps)",
        expect=(
            "ec_cast_s8_s32",
            "ec_cast_s32_s8",
            "ec_cast_s16_s32",
            "ec_cast_s32_s16",
            "ec_cast_s8_s16",
            "ec_cast_s16_s8",
            "ec_cast_s8_s8",
            "ec_cast_s16_s16",
            "ec_cast_s32_s32",
        ),
    ),
    # data movement: ec_concatenation.c (and SPLIT), ec_copy.c, ec_pad.c, ec_gather.c,
    # ec_space_batch.c, ec_resize.c
    Case(
        "k_concat_split",
        merged(concat("int8"), concat("int16"), concat("int32"), split("int8"), split("int16"), split("int32")),
        "CONCATENATION int8/int16/int32 on channels; SPLIT int8/int16/int32 into 3",
        expect=(
            "ec_concatenation_s8",
            "ec_concatenation_s16",
            "ec_concatenation_s32",
            "ec_split_s8",
            "ec_split_s16",
            "ec_split_s32",
        ),
    ),
    Case(
        "k_copy",
        merged(transpose("int8"), transpose("int16"), mirror_pad("int8")),
        "TRANSPOSE int8 and int16 (strided copy); MIRROR_PAD REFLECT int8 (indexed copy)",
        expect=("ec_copy_s8", "ec_copy_s16", "ec_copy_indexed_s8"),
    ),
    Case(
        "k_data_ref",
        merged(
            transpose("int32"),
            mirror_pad("int16"),
            gather("int16"),
            gather("int32"),
            resize("RESIZE_BILINEAR", "int16", half=False),
        ),
        "TRANSPOSE int32, MIRROR_PAD int16, GATHER int16 and int32, RESIZE_BILINEAR int16 "
        "(TFLite's reference: TFLite Micro lacks some of them)",
        expect=("ec_copy_s32", "ec_copy_indexed_s16", "ec_gather_s16", "ec_gather_s32", "ec_resize_bilinear_s16"),
    ),
    Case(
        "k_pad",
        merged(pad("int8"), pad("int8", v2=True), pad("int16"), pad("int32")),
        "PAD int8, int16, int32; PADV2 int8 with a constant",
        expect=("ec_pad_s8", "ec_pad_s16", "ec_pad_s32"),
    ),
    Case("k_gather", gather("int8"), "GATHER int8 axis 1, constant indices", expect=("ec_gather_s8",)),
    Case(
        "k_space_batch",
        merged(space_to_batch, batch_to_space),
        "SPACE_TO_BATCH_ND 2x2; BATCH_TO_SPACE_ND with crops",
        expect=("ec_space_to_batch_s8", "ec_batch_to_space_s8"),
    ),
    Case(
        "k_resize",
        merged(
            resize("RESIZE_NEAREST_NEIGHBOR", "int8"),
            resize("RESIZE_NEAREST_NEIGHBOR", "int16", align=True, half=False),
            resize("RESIZE_BILINEAR", "int8"),
        ),
        "RESIZE_NEAREST_NEIGHBOR int8 (half-pixel) and int16 (align corners); RESIZE_BILINEAR int8, 3x4 -> 5x7",
        expect=("ec_resize_nearest_s8", "ec_resize_nearest_s16", "ec_resize_bilinear_s8"),
    ),
    # activations: ec_relu.c, ec_leaky_relu.c, ec_prelu.c, ec_logistic.c, ec_tanh.c, ec_hard_swish.c
    Case(
        "k_relu",
        merged(
            unary("RELU", "int8", (2, 9), 0.03, -128),
            unary("RELU6", "int8", (2, 9), 6 / 255, -128),
            unary("RELU", "int16", (2, 9), 0.0005, 0, 0.001),
            unary("RELU6", "int16", (2, 9), 6 / 32767, 0, 0.001),
        ),
        "RELU and RELU6, int8 and int16, requantizing",
        expect=("ec_relu_s8", "ec_relu6_s8", "ec_relu_s16", "ec_relu6_s16"),
    ),
    Case(
        "k_leaky_prelu",
        merged(
            unary("LEAKY_RELU", "int8", (2, 9), 0.05, 10, member="LeakyReluOptions", alpha=0.2),
            unary("LEAKY_RELU", "int16", (2, 9), 0.0007, 0, 0.001, member="LeakyReluOptions", alpha=0.3),
            prelu("int8"),
            prelu("int16"),
        ),
        "LEAKY_RELU int8 and int16; PRELU int8 and int16 (int8 alpha)",
        expect=("ec_leaky_relu_s8", "ec_leaky_relu_s16", "ec_prelu_s8", "ec_prelu_s16"),
    ),
    Case(
        "k_logistic_tanh",
        merged(
            unary("LOGISTIC", "int8", (2, 9), 1 / 256, -128),
            unary("LOGISTIC", "int16", (2, 9), 1 / 32768, 0, 8 / 32768),
            unary("TANH", "int8", (2, 9), 1 / 128, 0),
            unary("TANH", "int16", (2, 9), 1 / 32768, 0, 4 / 32768),
        ),
        "LOGISTIC and TANH, int8 and int16",
        expect=("ec_logistic_s8", "ec_logistic_s16", "ec_tanh_s8", "ec_tanh_s16"),
    ),
    Case(
        "k_hard_swish", unary("HARD_SWISH", "int8", (2, 9), 0.04, -20), "HARD_SWISH int8", expect=("ec_hard_swish_s8",)
    ),
    # tables and other unary ops: ec_lut.c, ec_elementwise_unary.c, ec_l2_normalization.c
    Case("k_elu_lut", unary("ELU", "int8", (2, 9), 0.03, -20), "ELU int8 (256-entry table)", expect=("ec_lut_s8",)),
    Case(
        "k_exp_lut_s16",
        unary("EXP", "int16", (2, 9), 0.0004, 0, 0.0001),
        "EXP int16 (TFLite's 513-entry table; TFLite's reference)",
        expect=("ec_lut_s16",),
    ),
    Case("k_abs_s16", unary("ABS", "int16", (2, 9), 0.0004, 0, 0.0003), "ABS int16", expect=("ec_abs_s16",)),
    Case(
        "k_rsqrt_s16",
        unary("RSQRT", "int16", (2, 9), 0.001, 0, 0.0004),
        "RSQRT int16 on positive inputs",
        expect=("ec_rsqrt_s16",),
        fix_inputs=above_zero_point,
    ),
    Case("k_l2norm", l2norm, "L2_NORMALIZATION int8", expect=("ec_l2_normalization_s8",)),
    # quantization: ec_quantize.c, ec_dequantize.c, ec_requantize.c
    Case(
        "k_quantize",
        merged(quantize_float("int8"), quantize_float("int16")),
        "QUANTIZE float32 -> int8 and int16",
        expect=("ec_quantize_f32_s8", "ec_quantize_f32_s16"),
    ),
    Case(
        "k_quantize_u8",
        quantize_float("uint8"),
        "QUANTIZE float32 -> uint8 (TFLite's reference)",
        expect=("ec_quantize_f32_u8",),
    ),
    Case(
        "k_dequantize",
        merged(dequantize("int8"), dequantize("uint8"), dequantize("int16")),
        "DEQUANTIZE int8, uint8, int16 -> float32",
        expect=("ec_dequantize_s8_f32", "ec_dequantize_u8_f32", "ec_dequantize_s16_f32"),
    ),
    Case(
        "k_requantize",
        merged(
            requantize("int8", "int8"),
            requantize("uint8", "int8"),
            requantize("int8", "uint8"),
            requantize("int8", "int16"),
            requantize("int16", "int8"),
            requantize("int16", "int16"),
        ),
        "QUANTIZE between int8, uint8 and int16",
        expect=(
            "ec_requantize_s8_s8",
            "ec_requantize_u8_s8",
            "ec_requantize_s8_u8",
            "ec_requantize_s8_s16",
            "ec_requantize_s16_s8",
            "ec_requantize_s16_s16",
        ),
    ),
]


# --------------------------------------------------------------------------------------------
# Inputs, oracle, vectors.c


def _edge_values(dtype, size: int, zp: int, rng) -> np.ndarray:
    info = np.iinfo(dtype)
    edges = [info.min, info.max, zp, zp - 1, zp + 1, 0, -1, 1, info.min + 1, info.max - 1]
    edges = [v for v in edges if info.min <= v <= info.max]
    out = rng.integers(info.min, int(info.max) + 1, size=size, dtype=np.int64)
    out[: min(size, len(edges))] = edges[:size]
    return out.astype(dtype)


def make_inputs(details: list[dict], rng, samples: int = SAMPLES) -> list[list[np.ndarray]]:
    """Sample 0: edge values first (min, max, zero point and its neighbours, ...), the rest
    random; then random samples over the whole range of the type. float32 inputs: values
    around the quantized range, exact halves of the scale and zeros."""
    out = []
    for s in range(samples):
        sample = []
        for d in details:
            shape, dtype = tuple(d["shape"]), np.dtype(d["dtype"])
            size = int(np.prod(shape))
            if dtype == np.float32:
                v = rng.uniform(-6.0, 6.0, size=size).astype(np.float32)
                if s == 0:
                    special = np.float32([0.0, -0.0, 1.0, -1.0, 0.015, -0.015, 0.0002, 100.0, -100.0, 3.8, -3.9])
                    v[: min(size, len(special))] = special[:size]
            elif dtype == np.bool_:
                v = rng.integers(0, 2, size=size).astype(np.bool_)
            else:
                zp = int(d["quantization"][1]) if d.get("quantization") else 0
                info = np.iinfo(dtype)
                if s == 0:
                    v = _edge_values(dtype, size, zp, rng)
                elif info.bits > 16:  # int32/int64 (no quantization): moderate values, some extremes
                    v = rng.integers(-1000, 1001, size=size).astype(dtype)
                    if s == 2:
                        v = rng.integers(info.min, info.max, size=size, dtype=np.int64, endpoint=True).astype(dtype)
                else:
                    v = rng.integers(info.min, int(info.max) + 1, size=size, dtype=np.int64).astype(dtype)
            sample.append(v.reshape(shape))
        out.append(sample)
    return out


def run_oracle(model: bytes, samples: list[list[np.ndarray]], n_out: int) -> tuple[str, list[list[np.ndarray]]]:
    """TFLite Micro's outputs; TFLite's reference kernels where TFLite Micro refuses the model."""
    try:
        from tflite_micro.python.tflite_micro import runtime

        interp = runtime.Interpreter.from_bytes(model, arena_size=1 << 20)
        outs = []
        for sample in samples:
            for i, x in enumerate(sample):
                interp.set_input(np.require(x, requirements="C"), i)
            interp.invoke()
            outs.append([np.array(interp.get_output(i)) for i in range(n_out)])
        return "tflite_micro", outs
    except Exception as exc:  # TFLite Micro lacks the op or type
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
    interp = _litert().Interpreter(
        model_content=model, experimental_op_resolver_type=_litert().OpResolverType.BUILTIN_REF
    )
    interp.allocate_tensors()
    outs = []
    for sample in samples:
        for d, x in zip(interp.get_input_details(), sample):
            interp.set_tensor(d["index"], x)
        interp.invoke()
        outs.append([np.array(interp.get_tensor(d["index"])) for d in interp.get_output_details()])
    print(f"    TFLite Micro refused ({reason}): TFLite's reference kernels are the oracle")
    return "tflite_ref", outs


def _litert():
    """LiteRT's interpreter module (TensorFlow's deprecated tf.lite where LiteRT is absent)."""
    try:
        from ai_edge_litert import interpreter

        return interpreter
    except ImportError:  # pragma: no cover
        import tensorflow as tf

        return _TfLite(tf)


class _TfLite:
    def __init__(self, tf) -> None:
        self.Interpreter = tf.lite.Interpreter
        self.OpResolverType = tf.lite.experimental.OpResolverType


def io_details(model: bytes) -> tuple[list[dict], list[dict]]:
    interp = _litert().Interpreter(model_content=model)
    return interp.get_input_details(), interp.get_output_details()


_C_TYPE = {
    "int8": ("int8_t", "EC_TEST_SIGNED"),
    "uint8": ("uint8_t", "EC_TEST_UNSIGNED"),
    "bool": ("uint8_t", "EC_TEST_UNSIGNED"),
    "int16": ("int16_t", "EC_TEST_SIGNED"),
    "int32": ("int32_t", "EC_TEST_SIGNED"),
    "int64": ("int64_t", "EC_TEST_SIGNED"),
    "float32": ("uint32_t", "EC_TEST_FLOAT"),
}


def _literal(v: int, dtype: str) -> str:
    if dtype == "float32":
        return f"0x{int(v):08x}u"
    if dtype == "int32" and v == -(2**31):
        return "(-2147483647 - 1)"
    if dtype == "int64":
        return "(-INT64_C(9223372036854775807) - 1)" if v == -(2**63) else f"INT64_C({v})"
    return str(int(v))


def _c_name(name: str) -> str:
    """A tensor name safe inside a C string literal."""
    return "".join(ch if ch.isalnum() or ch in "_:/.-" else "_" for ch in name)[:60]


def c_array(name: str, arrays: list[np.ndarray], dtype: str) -> str:
    ctype, _ = _C_TYPE[dtype]
    flat = np.concatenate([np.asarray(a).reshape(-1) for a in arrays])
    if dtype == "float32":
        flat = flat.astype(np.float32).view(np.uint32)
    values = [_literal(int(v), dtype) for v in flat]
    lines, line = [], ""
    for v in values:  # compact: as many values as fit in 100 columns
        if line and len(line) + len(v) + 1 > 100:
            lines.append(line)
            line = ""
        line += v + ","
    lines.append(line)
    body = "\n".join(lines)
    return f"static const {ctype} {name}[{len(values)}] = {{\n{body}\n}};\n"


def vectors_c(
    case: Case,
    kernels: list[str],
    oracle: str,
    ins: list[list[np.ndarray]],
    outs: list[list[np.ndarray]],
    in_names: list[str],
    out_names: list[str],
) -> str:
    n_in, n_out = len(ins[0]), len(outs[0])
    dt = lambda a: "bool" if a.dtype == np.bool_ else str(a.dtype)  # noqa: E731
    parts = [
        f"/* {case.name}: {case.what}. Generated by tests/c/make_vectors.py; do not edit.\n"
        f" * {len(ins)} input samples (seed {SEED}) and the outputs "
        f"{'TFLite Micro' if oracle == 'tflite_micro' else 'TFLite' + chr(39) + 's reference kernels'} computed "
        f"for them. */\n",
        f'#include "{case.name}.h"\n#include "harness.h"\n\n',
    ]
    tensors_in, tensors_out = [], []
    for i in range(n_in):
        d = dt(ins[0][i])
        parts.append(c_array(f"input{i}", [s[i] for s in ins], d))
        tensors_in.append(
            f"{{input{i}, {ins[0][i].size}, {np.dtype(ins[0][i].dtype).itemsize}, {_C_TYPE[d][1]}, "
            f'"{_c_name(in_names[i])}"}}'
        )
    for i in range(n_out):
        d = dt(outs[0][i])
        parts.append(c_array(f"expected{i}", [s[i] for s in outs], d))
        tensors_out.append(
            f"{{expected{i}, {outs[0][i].size}, {np.dtype(outs[0][i].dtype).itemsize}, "
            f'{_C_TYPE[d][1]}, "{_c_name(out_names[i])}"}}'
        )
    parts.append(f"\nstatic const ec_test_tensor_t inputs[{n_in}] = {{\n    " + ",\n    ".join(tensors_in) + "\n};\n")
    parts.append(
        f"static const ec_test_tensor_t expected[{n_out}] = {{\n    " + ",\n    ".join(tensors_out) + "\n};\n\n"
    )
    parts.append(
        f"extern const ec_test_case_t {case.name}_test;\n"
        f"const ec_test_case_t {case.name}_test = {{\n"
        f'    "{case.name}", "{" ".join(kernels)}",\n'
        f"    {case.name}_input, {case.name}_output, {case.name}_invoke,\n"
        f"    {len(ins)}, {n_in}, {n_out}, inputs, expected,\n}};\n"
    )
    return "".join(parts)


def make_case(case: Case) -> dict:
    model = case.build()
    folder = CASES_DIR / case.name
    files = emit_case_c(model, case.name, case.weights)
    kernels = kernels_called(files[f"{case.name}.c"])
    missing = [k for k in case.expect if k not in kernels]
    if missing:
        raise ValueError(f"the model calls {kernels}, not {missing}")
    in_details, out_details = io_details(model)
    seed = [SEED, zlib.crc32(case.name.encode())]
    ins = make_inputs(in_details, np.random.default_rng(seed))
    if case.fix_inputs is not None:
        ins = [case.fix_inputs(sample) for sample in ins]
    oracle, outs = run_oracle(model, ins, len(out_details))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{case.name}.tflite").write_bytes(model)
    for fname, text in files.items():
        (folder / fname).write_text(text)
    (folder / "vectors.c").write_text(
        vectors_c(case, kernels, oracle, ins, outs, [d["name"] for d in in_details], [d["name"] for d in out_details])
    )
    print(f"  {case.name}: {' '.join(kernels)} ({oracle})")
    return {
        "what": case.what,
        "weights": case.weights,
        "oracle": oracle,
        "kernels": kernels,
        "samples": len(ins),
        "seed": seed,
    }


def read_index() -> dict[str, dict]:
    return json.loads(INDEX.read_text()) if INDEX.exists() else {}


def write_index(index: dict[str, dict]) -> None:
    INDEX.write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n")


def refresh_c(names: list[str]) -> int:
    """Re-emits every stored case's <name>.c/.h from its .tflite (edgeconv only)."""
    changed, stale = 0, []
    index = read_index()
    for name, meta in sorted(index.items()):
        if names and name not in names:
            continue
        folder = CASES_DIR / name
        files = emit_case_c((folder / f"{name}.tflite").read_bytes(), name, meta["weights"])
        now = kernels_called(files[f"{name}.c"])
        if now != meta["kernels"]:
            stale.append(name)
            print(
                f"  {name}: now calls {' '.join(now)}, was {' '.join(meta['kernels'])}: remake it "
                f"(python tests/c/make_vectors.py {name}: TensorFlow and tflite_micro)"
            )
        for fname, text in files.items():
            path = folder / fname
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                changed += 1
                print(f"  rewrote {path.relative_to(HERE)}")
    print(f"{changed} file(s) rewritten")
    return 1 if stale else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="only these cases")
    ap.add_argument("--refresh-c", action="store_true", help="only re-emit the stored cases' C (no TensorFlow)")
    args = ap.parse_args(argv)
    if args.refresh_c:
        return refresh_c(args.names)
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    known = {c.name for c in CASES}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(unknown)}")
    failed = []
    index = read_index()
    for case in CASES:
        if not args.names or case.name in args.names:
            try:
                index[case.name] = make_case(case)
            except Exception as exc:  # report every case that cannot be made, then fail
                failed.append(case.name)
                text = str(exc).strip()
                print(f"  {case.name}: FAILED: {text.splitlines()[0] if text else type(exc).__name__}")
    if not args.names:  # a full run: drop cases no longer listed
        for name in sorted(set(index) - known):
            del index[name]
            shutil.rmtree(CASES_DIR / name, ignore_errors=True)
            print(f"  removed {name}")
    write_index(index)
    if failed:
        print(f"{len(failed)} case(s) not made: {' '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
