"""Parity of the data-movement ops: STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, PACK, UNPACK, GATHER,
DEPTH_TO_SPACE, SPACE_TO_DEPTH, MIRROR_PAD, BROADCAST_TO, TILE, CAST, and int16 for
CONCATENATION, PAD/PADV2, TRANSPOSE, RESIZE_NEAREST_NEIGHBOR.

Randomized cases (seeded) are built directly with tests/mutants.py's flatbuffer object API:
each model holds several independent instances of one op (one input and output each), so one
host build checks many parameter draws. Every output element must equal the oracle's:
TFLite Micro where it runs the op and type (and TFLite's reference kernels too, which agree
there), TFLite's reference kernels where TFLite Micro lacks them (TILE; GATHER and MIRROR_PAD
on int16; int32 tensors of TRANSPOSE, SLICE, TILE, ...). Converter-made models check the forms
the TFLite converter really writes (Keras Cropping2D, UpSampling2D, tf.split, tf.stack, ...).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from edgeconv.checking.references import TfliteRefReference, TflmReference
from edgeconv.checking.validation import random_inputs
from edgeconv.emit.emitter import emit
from edgeconv.frontend.ir import ModelError
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.targets.hostbuild import build_and_load
from modelgen import assert_bit_exact, cached_model, oracle_is
from mutants import Net
from sanitized import run_samples, sanitized_executable

K = 8  # op instances per randomized model

QUANT = {"int8": (0.05, -3), "int16": (0.001, 0), "int32": (None, 0)}
NP = {"int8": np.int8, "int16": np.int16, "int32": np.int32}


def add_op(
    n: Net, opname: str, inputs: list[int], outputs: list[int], member: str | None = None, version: int = 1, **options
) -> None:
    """Net.op for any op: `member` names its BuiltinOptions table (None: none)."""
    n.add_op(opname, inputs, outputs, member, version, **options)


def act(n: Net, name: str, shape, dtype: str) -> int:
    """An activation tensor of the test's quantization."""
    scale, zp = QUANT[dtype]
    return n.tensor(name, list(shape), dtype, scale=scale, zp=zp)


def const(n: Net, name: str, values, dtype: str = "int32") -> int:
    arr = np.asarray(values)
    return n.tensor(name, list(arr.shape), dtype, data=arr)


def check(
    data: bytes, label: str, oracles=("tflm", "ref"), samples: list | None = None, count: int = 3, seed: int = 0
) -> None:
    """Every output of the compiled C equals each oracle's on every sample; the same C built
    with ASan and UBSan runs the samples clean and computes the same outputs."""
    model = compile_bytes(data, label)
    emitted = emit(model)
    host = build_and_load(model, emitted)
    refs = [TflmReference(data) if o == "tflm" else TfliteRefReference(data) for o in oracles]
    n_out = len(model.graph.outputs)
    samples = samples or random_inputs(model, count, seed)
    results = []
    for i, sample in enumerate(samples):
        ours = host.run(sample)
        results.append(ours)
        for o, ref in zip(oracles, refs):
            for j, (a, b) in enumerate(zip(ours, ref.run(sample, n_out))):
                b = np.asarray(b).reshape(a.shape)
                bad = int((a != b).sum())
                assert bad == 0, f"{label}: sample {i}, output {j}: {bad} elements differ from {o}"
    with tempfile.TemporaryDirectory() as tmp:
        exe = sanitized_executable(model, emitted, Path(tmp))
        run = run_samples(exe, model, samples, Path(tmp))
    assert run.returncode == 0 and not run.report, f"{label}: {run.report}"
    for ours, theirs in zip(results, run.outputs):
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.reshape(-1), b)


def refused(data: bytes, label: str, opcode: str) -> str:
    with pytest.raises(ModelError) as err:
        compile_bytes(data, label)
    assert opcode in str(err.value), str(err.value)
    return str(err.value)


def rand_shape(rng, rank: int, hi: int = 6) -> list[int]:
    return [int(v) for v in rng.integers(1, hi + 1, size=rank)]


# ---------------------------------------------------------------------------------------------
# STRIDED_SLICE and SLICE


def strided_slice_case(rng, rank: int):
    """(shape, begin, end, strides, begin_mask, end_mask, shrink_mask, output shape), non-empty."""
    while True:
        shape = rand_shape(rng, rank)
        begin, end, strides, bm, em, sm, index = [], [], [], 0, 0, 0, []
        for a, d in enumerate(shape):
            stride = int(rng.choice([-3, -2, -1, 1, 1, 2, 3]))
            b = int(rng.integers(-d - 2, d + 3))
            e = int(rng.integers(-d - 2, d + 3))
            mb, me = rng.random() < 0.25, rng.random() < 0.25
            if rng.random() < 0.2:  # shrink: an index inside the axis, a positive stride, no begin mask
                b = int(rng.integers(-d, d))
                stride, mb = int(rng.integers(1, 3)), False
                sm |= 1 << a
                index.append(b)
            else:
                index.append(slice(None if mb else b, None if me else e, stride))
            bm |= int(mb) << a
            em |= int(me) << a
            begin.append(b)
            end.append(e)
            strides.append(stride)
        out = np.zeros(shape)[tuple(index)]
        if out.size > 0:
            return shape, begin, end, strides, bm, em, sm, list(out.shape)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32"])
def test_strided_slice_random(dtype):
    rng = np.random.default_rng({"int8": 1, "int16": 2, "int32": 3}[dtype])
    n = Net()
    ins, outs = [], []
    for k in range(K):
        shape, begin, end, strides, bm, em, sm, out_shape = strided_slice_case(rng, 1 + k % 4)
        x = act(n, f"x{k}", shape, dtype)
        y = act(n, f"y{k}", out_shape, dtype)
        add_op(
            n,
            "STRIDED_SLICE",
            [x, const(n, f"b{k}", begin), const(n, f"e{k}", end), const(n, f"s{k}", strides)],
            [y],
            "StridedSliceOptions",
            beginMask=bm,
            endMask=em,
            shrinkAxisMask=sm,
        )
        ins.append(x)
        outs.append(y)
    data = n.finish(ins, outs)
    check(data, f"strided_slice_{dtype}")


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32"])
def test_slice_random(dtype):
    rng = np.random.default_rng({"int8": 11, "int16": 12, "int32": 13}[dtype])
    n = Net()
    ins, outs = [], []
    for k in range(K):
        shape = rand_shape(rng, 1 + k % 5, 5)
        begin = [int(rng.integers(0, d)) for d in shape]
        size = [int(rng.integers(1, d - b + 1)) for d, b in zip(shape, begin)]
        size = [-1 if rng.random() < 0.2 else s for s in size]
        out_shape = [d - b if s == -1 else s for d, b, s in zip(shape, begin, size)]
        x = act(n, f"x{k}", shape, dtype)
        y = act(n, f"y{k}", out_shape, dtype)
        index_type = "int64" if k % 3 == 2 else "int32"
        add_op(
            n,
            "SLICE",
            [x, const(n, f"b{k}", begin, index_type), const(n, f"s{k}", size, index_type)],
            [y],
            "SliceOptions",
        )
        ins.append(x)
        outs.append(y)
    check(n.finish(ins, outs), f"slice_{dtype}")


def test_slice_whole_and_prefix_are_aliases():
    n = Net()
    x = act(n, "x", [4, 3], "int8")
    y = act(n, "y", [2, 3], "int8")
    z = act(n, "z", [2, 3], "int8")
    add_op(n, "SLICE", [x, const(n, "b", [0, 0]), const(n, "s", [2, -1])], [y], "SliceOptions")
    add_op(n, "SLICE", [y, const(n, "b2", [0, 0]), const(n, "s2", [-1, -1])], [z], "SliceOptions")
    w = act(n, "w", [2, 3], "int8")
    add_op(n, "ADD", [z, z], [w], "AddOptions")
    data = n.finish([x], [w])
    model = compile_bytes(data, "slice_alias")
    assert [s.op.opcode for s in model.steps] == ["ADD"]
    check(data, "slice_alias")


# ---------------------------------------------------------------------------------------------
# SPLIT, SPLIT_V, UNPACK, PACK, CONCATENATION


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32"])
def test_split_random(dtype):
    rng = np.random.default_rng({"int8": 21, "int16": 22, "int32": 23}[dtype])
    n = Net()
    ins, outs = [], []
    for k in range(K):
        rank = 1 + k % 4
        shape = rand_shape(rng, rank, 4)
        axis = int(rng.integers(0, rank))
        parts = int(rng.integers(1, 4))
        shape[axis] *= parts
        x = act(n, f"x{k}", shape, dtype)
        ys = [
            act(n, f"y{k}_{i}", shape[:axis] + [shape[axis] // parts] + shape[axis + 1 :], dtype) for i in range(parts)
        ]
        if k % 2:
            add_op(
                n,
                "SPLIT",
                [const(n, f"a{k}", [axis - rank if k % 4 == 1 else axis]), x],
                ys,
                "SplitOptions",
                numSplits=parts,
            )
        else:  # SPLIT_V with uneven sizes, one of them -1
            cuts = (
                sorted(rng.choice(np.arange(1, shape[axis]), size=min(parts, shape[axis]) - 1, replace=False))
                if shape[axis] > 1
                else []
            )
            sizes = np.diff([0, *cuts, shape[axis]]).tolist()
            ys = [act(n, f"v{k}_{i}", shape[:axis] + [s] + shape[axis + 1 :], dtype) for i, s in enumerate(sizes)]
            given = list(sizes)
            given[int(rng.integers(0, len(given)))] = -1
            add_op(
                n,
                "SPLIT_V",
                [x, const(n, f"s{k}", given), const(n, f"a{k}", [axis])],
                ys,
                "SplitVOptions",
                numSplits=len(ys),
            )
        ins.append(x)
        outs += ys
    check(n.finish(ins, outs), f"split_{dtype}")


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32"])
def test_pack_unpack_random(dtype):
    rng = np.random.default_rng({"int8": 31, "int16": 32, "int32": 33}[dtype])
    n = Net()
    ins, outs = [], []
    for k in range(K // 2):
        rank = 1 + k % 4
        shape = rand_shape(rng, rank, 4)
        count = int(rng.integers(1, 4))
        axis = int(rng.integers(0, rank + 1))
        xs = [act(n, f"p{k}_{i}", shape, dtype) for i in range(count)]
        y = act(n, f"py{k}", shape[:axis] + [count] + shape[axis:], dtype)
        add_op(n, "PACK", xs, [y], "PackOptions", valuesCount=count, axis=axis - rank - 1 if k % 2 else axis)
        ins += xs
        outs.append(y)
        # UNPACK of a fresh input along a random axis
        u_axis = int(rng.integers(0, rank))
        u = act(n, f"u{k}", shape, dtype)
        parts = [act(n, f"uy{k}_{i}", shape[:u_axis] + shape[u_axis + 1 :], dtype) for i in range(shape[u_axis])]
        add_op(n, "UNPACK", [u], parts, "UnpackOptions", num=shape[u_axis], axis=u_axis)
        ins.append(u)
        outs += parts
    check(n.finish(ins, outs), f"pack_unpack_{dtype}")


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_concatenation_random(dtype):
    rng = np.random.default_rng({"int16": 41, "int32": 42}[dtype])
    n = Net()
    ins, outs = [], []
    for k in range(K // 2):
        rank = 1 + k % 4
        shape = rand_shape(rng, rank, 4)
        axis = int(rng.integers(0, rank))
        sizes = [int(v) for v in rng.integers(1, 4, size=int(rng.integers(1, 4)))]
        xs = [act(n, f"c{k}_{i}", shape[:axis] + [s] + shape[axis + 1 :], dtype) for i, s in enumerate(sizes)]
        y = act(n, f"cy{k}", shape[:axis] + [sum(sizes)] + shape[axis + 1 :], dtype)
        add_op(n, "CONCATENATION", xs, [y], "ConcatenationOptions", axis=axis - rank if k % 2 else axis)
        ins += xs
        outs.append(y)
    check(n.finish(ins, outs), f"concatenation_{dtype}")


def test_pack_unpack_refuse_requantization():
    n = Net()
    a, b = act(n, "a", [2, 3], "int8"), act(n, "b", [2, 3], "int8")
    y = n.tensor("y", [2, 2, 3], "int8", scale=0.1, zp=0)
    add_op(n, "PACK", [a, b], [y], "PackOptions", valuesCount=2, axis=0)
    refused(n.finish([a, b], [y]), "pack_requant", "PACK")
    n = Net()
    x = act(n, "x", [2, 3], "int8")
    ys = [n.tensor(f"y{i}", [3], "int8", scale=0.1, zp=0) for i in range(2)]
    add_op(n, "UNPACK", [x], ys, "UnpackOptions", num=2, axis=0)
    refused(n.finish([x], ys), "unpack_requant", "UNPACK")


# ---------------------------------------------------------------------------------------------
# GATHER


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32"])
def test_gather_constant_indices_random(dtype):
    rng = np.random.default_rng({"int8": 51, "int16": 52, "int32": 53}[dtype])
    n = Net()
    ins, outs = [], []
    for k in range(K):
        rank = 1 + k % 4
        shape = rand_shape(rng, rank, 5)
        axis = int(rng.integers(0, rank))
        batch_dims = int(rng.integers(0, axis + 1)) if k % 3 == 0 else 0
        idx_shape = shape[:batch_dims] + rand_shape(rng, int(rng.integers(0, 3)), 3)
        idx = rng.integers(0, shape[axis], size=idx_shape)
        x = act(n, f"x{k}", shape, dtype)
        y = act(n, f"y{k}", shape[:axis] + idx_shape[batch_dims:] + shape[axis + 1 :], dtype)
        add_op(
            n,
            "GATHER",
            [x, const(n, f"i{k}", idx)],
            [y],
            "GatherOptions",
            axis=axis - rank if k % 2 else axis,
            batchDims=batch_dims,
        )
        ins.append(x)
        outs.append(y)
    # TFLite Micro gathers int8 only; int16 and int32 are TFLite's reference kernels'.
    check(n.finish(ins, outs), f"gather_{dtype}", ("tflm", "ref") if dtype == "int8" else ("ref",))


def test_gather_runtime_indices():
    """Indices from a model input: in range they equal both references; out of range the
    kernel writes the output zero point (TFLite Micro would read outside its input)."""
    n = Net()
    x = act(n, "x", [5, 3], "int8")
    i = n.tensor("i", [4], "int32")
    y = act(n, "y", [4, 3], "int8")
    add_op(n, "GATHER", [x, i], [y], "GatherOptions", axis=0)
    data = n.finish([x, i], [y])
    rng = np.random.default_rng(5)
    samples = [
        [rng.integers(-128, 128, size=(5, 3)).astype(np.int8), rng.integers(0, 5, size=4).astype(np.int32)]
        for _ in range(4)
    ]
    check(data, "gather_runtime", samples=samples)
    model = compile_bytes(data, "gather_runtime_oob")
    host = build_and_load(model, emit(model))
    out = host.run([samples[0][0], np.array([1, -1, 5, 1 << 30], dtype=np.int32)])[0]
    assert (out[0] == samples[0][0][1]).all() and (out[1:3] == QUANT["int8"][1]).all() and (out[3] == -3).all()


def test_gather_refuses_constant_index_out_of_range():
    n = Net()
    x = act(n, "x", [5, 3], "int8")
    y = act(n, "y", [2, 3], "int8")
    add_op(n, "GATHER", [x, const(n, "i", [0, 5])], [y], "GatherOptions", axis=0)
    assert "outside axis" in refused(n.finish([x], [y]), "gather_oob", "GATHER")


# ---------------------------------------------------------------------------------------------
# DEPTH_TO_SPACE, SPACE_TO_DEPTH


def test_depth_space_random():
    rng = np.random.default_rng(61)
    n = Net()
    ins, outs = [], []
    for k in range(K):
        bs = int(rng.integers(1, 4))
        b, h, w, c = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
        if k % 2:
            x = act(n, f"x{k}", [b, h, w, c * bs * bs], "int8")
            y = act(n, f"y{k}", [b, h * bs, w * bs, c], "int8")
            add_op(n, "DEPTH_TO_SPACE", [x], [y], "DepthToSpaceOptions", blockSize=bs)
        else:
            x = act(n, f"x{k}", [b, h * bs, w * bs, c], "int8")
            y = act(n, f"y{k}", [b, h, w, c * bs * bs], "int8")
            add_op(n, "SPACE_TO_DEPTH", [x], [y], "SpaceToDepthOptions", blockSize=bs)
        ins.append(x)
        outs.append(y)
    check(n.finish(ins, outs), "depth_space")


def test_depth_to_space_int16_refused():
    n = Net()
    x = act(n, "x", [1, 2, 2, 4], "int16")
    y = act(n, "y", [1, 4, 4, 1], "int16")
    add_op(n, "DEPTH_TO_SPACE", [x], [y], "DepthToSpaceOptions", blockSize=2)
    refused(n.finish([x], [y]), "d2s16", "DEPTH_TO_SPACE")


# ---------------------------------------------------------------------------------------------
# MIRROR_PAD, PAD (int16), BROADCAST_TO, TILE


# Same shape as test_pad_random below and the other *_random tests (K random ops, one check); kept apart: each
# builds its own op's operands
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_mirror_pad_random(dtype):
    rng = np.random.default_rng({"int8": 71, "int16": 72}[dtype])
    n = Net()
    ins, outs = [], []
    for k in range(K):
        rank = 1 + k % 4
        shape = rand_shape(rng, rank, 5)
        mode = k % 2  # 0 REFLECT, 1 SYMMETRIC
        pads = [[int(rng.integers(0, d - (1 - mode) + 1)) for _ in range(2)] for d in shape]
        x = act(n, f"x{k}", shape, dtype)
        y = act(n, f"y{k}", [d + before + after for d, (before, after) in zip(shape, pads)], dtype)
        add_op(
            n,
            "MIRROR_PAD",
            [x, const(n, f"p{k}", pads, "int64" if k % 3 == 0 else "int32")],
            [y],
            "MirrorPadOptions",
            mode=mode,
        )
        ins.append(x)
        outs.append(y)
    # TFLite Micro's MIRROR_PAD takes int8 only.
    check(n.finish(ins, outs), f"mirror_pad_{dtype}", ("tflm", "ref") if dtype == "int8" else ("ref",))


def test_mirror_pad_refuses_large_paddings():
    n = Net()
    x = act(n, "x", [1, 3, 3, 1], "int8")
    y = act(n, "y", [1, 9, 3, 1], "int8")
    add_op(n, "MIRROR_PAD", [x, const(n, "p", [[0, 0], [3, 3], [0, 0], [0, 0]])], [y], "MirrorPadOptions", mode=0)
    refused(n.finish([x], [y]), "mirror_big", "MIRROR_PAD")


# Same shape as test_mirror_pad_random above and the other *_random tests (K random ops, one check); kept apart: each
# builds its own op's operands
@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_pad_random(dtype):
    rng = np.random.default_rng({"int16": 81, "int32": 82}[dtype])
    n = Net()
    ins, outs = [], []
    for k in range(K):
        rank = 1 + k % 5
        shape = rand_shape(rng, rank, 4)
        pads = [[int(v) for v in rng.integers(0, 3, size=2)] for _ in shape]
        x = act(n, f"x{k}", shape, dtype)
        y = act(n, f"y{k}", [d + before + after for d, (before, after) in zip(shape, pads)], dtype)
        if k % 2:
            c = n.tensor(
                f"c{k}",
                [],
                dtype,
                scale=QUANT[dtype][0],
                zp=QUANT[dtype][1],
                data=np.array(int(rng.integers(-1000, 1000))),
            )
            add_op(n, "PADV2", [x, const(n, f"p{k}", pads), c], [y], "PadV2Options")
        else:
            add_op(n, "PAD", [x, const(n, f"p{k}", pads)], [y], "PadOptions")
        ins.append(x)
        outs.append(y)
    check(n.finish(ins, outs), f"pad_{dtype}")


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_broadcast_to_random(dtype):
    rng = np.random.default_rng({"int8": 91, "int16": 92}[dtype])
    n = Net()
    ins, outs = [], []
    for k in range(K):
        rank = 1 + k % 5
        shape = rand_shape(rng, rank, 4)
        in_rank = int(rng.integers(1, rank + 1))
        in_shape = [1 if rng.random() < 0.5 else d for d in shape[rank - in_rank :]]
        x = act(n, f"x{k}", in_shape, dtype)
        y = act(n, f"y{k}", shape, dtype)
        add_op(
            n, "BROADCAST_TO", [x, const(n, f"s{k}", shape, "int64" if k % 3 == 0 else "int32")], [y], version=2
        )  # TFLite registers BROADCAST_TO from version 2
        ins.append(x)
        outs.append(y)
    check(n.finish(ins, outs), f"broadcast_to_{dtype}")


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32"])
def test_tile_random(dtype):
    """TFLite Micro has no TILE: TFLite's reference kernel is the oracle."""
    rng = np.random.default_rng({"int8": 101, "int16": 102, "int32": 103}[dtype])
    n = Net()
    ins, outs = [], []
    for k in range(K):
        rank = 1 + k % 5
        shape = rand_shape(rng, rank, 4)
        mult = [int(v) for v in rng.integers(1, 4, size=rank)]
        x = act(n, f"x{k}", shape, dtype)
        y = act(n, f"y{k}", [d * m for d, m in zip(shape, mult)], dtype)
        add_op(n, "TILE", [x, const(n, f"m{k}", mult, "int64" if k % 3 == 0 else "int32")], [y], "TileOptions")
        ins.append(x)
        outs.append(y)
    check(n.finish(ins, outs), f"tile_{dtype}", ("ref",))


# ---------------------------------------------------------------------------------------------
# TRANSPOSE (int16, int32), RESIZE_NEAREST_NEIGHBOR (int16)


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_transpose_random(dtype):
    rng = np.random.default_rng({"int16": 111, "int32": 112}[dtype])
    n = Net()
    ins, outs = [], []
    for k in range(K):
        rank = 1 + k % 6
        shape = rand_shape(rng, rank, 4)
        perm = [int(v) for v in rng.permutation(rank)]
        x = act(n, f"x{k}", shape, dtype)
        y = act(n, f"y{k}", [shape[a] for a in perm], dtype)
        add_op(n, "TRANSPOSE", [x, const(n, f"p{k}", perm)], [y], "TransposeOptions")
        ins.append(x)
        outs.append(y)
    # Up to 6 dimensions: TFLite Micro transposes at most 5, and no int32 (test_transpose_int16_tflm).
    check(n.finish(ins, outs), f"transpose_{dtype}", ("ref",))


def test_transpose_int16_tflm():
    rng = np.random.default_rng(113)
    n = Net()
    ins, outs = [], []
    for k in range(K):
        rank = 1 + k % 5
        shape = rand_shape(rng, rank, 4)
        perm = [int(v) for v in rng.permutation(rank)]
        x = act(n, f"x{k}", shape, "int16")
        y = act(n, f"y{k}", [shape[a] for a in perm], "int16")
        add_op(n, "TRANSPOSE", [x, const(n, f"p{k}", perm)], [y], "TransposeOptions")
        ins.append(x)
        outs.append(y)
    check(n.finish(ins, outs), "transpose_int16_tflm")


def _resize_int16_model(seed: int, opname: str, member: str, modes: list[tuple[bool, bool]]) -> bytes:
    """K // 2 random int16 resizes of one kind side by side; (alignCorners, halfPixelCenters)
    cycle through `modes`."""
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for k in range(K // 2):
        b, h, w, c = 1, int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
        oh, ow = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        x = act(n, f"x{k}", [b, h, w, c], "int16")
        y = act(n, f"y{k}", [b, oh, ow, c], "int16")
        align, half = modes[k % 4]
        add_op(
            n,
            opname,
            [x, const(n, f"s{k}", [oh, ow])],
            [y],
            member,
            alignCorners=align,
            halfPixelCenters=half,
        )
        ins.append(x)
        outs.append(y)
    return n.finish(ins, outs)


def test_resize_nearest_int16_random():
    modes = [(False, False), (True, False), (False, True), (False, False)]
    model = _resize_int16_model(121, "RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighborOptions", modes)
    check(model, "resize_nearest_int16")


def test_resize_bilinear_int16_random():
    """TFLite Micro has no int16 RESIZE_BILINEAR: TFLite's reference kernel is the oracle."""
    modes = [(False, False), (True, False), (False, True), (False, True)]
    check(
        _resize_int16_model(122, "RESIZE_BILINEAR", "ResizeBilinearOptions", modes), "resize_bilinear_int16", ("ref",)
    )


# ---------------------------------------------------------------------------------------------
# CAST


@pytest.mark.parametrize("src", ["int8", "int16", "int32"])
def test_cast(src):
    n = Net()
    ins, outs = [], []
    for k, dst in enumerate(["int8", "int16", "int32"]):
        x = n.tensor(f"x{k}", [3, 7], src)
        y = n.tensor(f"y{k}", [3, 7], dst)
        add_op(n, "CAST", [x], [y], "CastOptions")
        ins.append(x)
        outs.append(y)
    check(n.finish(ins, outs), f"cast_{src}")


# ---------------------------------------------------------------------------------------------
# Converter-made models: the forms the TFLite converter writes, int8 and 16x8


def _keras_case(name: str):
    import tensorflow as tf

    keras = tf.keras
    shapes = {
        "upsample": (4, 4, 3),
        "crop": (6, 6, 3),
        "split": (4, 4, 6),
        "stack": (4, 6),
        "unstack": (3, 5),
        "gather": (4, 3),
        "depth_to_space": (3, 3, 8),
        "space_to_depth": (4, 4, 2),
        "reflect": (5, 5, 2),
        "symmetric": (5, 5, 2),
        "tile": (3, 2, 4),
        "broadcast": (1, 5, 3),
        "slice": (5, 6, 4),
        "resize_nearest": (6, 6, 3),
    }
    fns = {
        "upsample": lambda t: keras.layers.UpSampling2D(2)(t),
        "crop": lambda t: keras.layers.Cropping2D(((1, 2), (0, 1)))(t),
        "split": lambda t: keras.layers.Lambda(lambda v: tf.split(v, [1, 3, 2], axis=3))(t),
        "stack": lambda t: keras.layers.Lambda(lambda v: tf.stack([v, v * 2.0], axis=1))(t),
        "unstack": lambda t: keras.layers.Lambda(lambda v: tf.unstack(v, axis=1))(t),
        "gather": lambda t: keras.layers.Lambda(lambda v: tf.gather(v, [2, 0, 1, 1], axis=2))(t),
        "depth_to_space": lambda t: keras.layers.Lambda(lambda v: tf.nn.depth_to_space(v, 2))(t),
        "space_to_depth": lambda t: keras.layers.Lambda(lambda v: tf.nn.space_to_depth(v, 2))(t),
        "reflect": lambda t: keras.layers.Lambda(lambda v: tf.pad(v, [[0, 0], [1, 2], [2, 1], [0, 0]], mode="REFLECT"))(
            t
        ),
        "symmetric": lambda t: keras.layers.Lambda(
            lambda v: tf.pad(v, [[0, 0], [2, 2], [1, 0], [0, 0]], mode="SYMMETRIC")
        )(t),
        "tile": lambda t: keras.layers.Lambda(lambda v: tf.tile(v, [1, 2, 3, 1]))(t),
        "broadcast": lambda t: keras.layers.Lambda(lambda v: tf.broadcast_to(v, [1, 4, 5, 3]))(t),
        "slice": lambda t: keras.layers.Lambda(lambda v: v[:, 1:4, ::-2, 1:])(t),
        "resize_nearest": lambda t: keras.layers.Lambda(lambda v: tf.image.resize(v, (12, 9), method="nearest"))(t),
    }
    inp = keras.Input(shapes[name], batch_size=1)
    return keras.Model(inp, fns[name](inp))


CONVERTED = {
    # name: (op the converter writes, oracle per mode: TFLite Micro or TFLite's reference); the
    # randomized Net models above cover every op in int16, so a few 16x8 forms suffice here.
    "crop": ("STRIDED_SLICE", {"int8": "tflm", "16x8": "tflm"}),
    "slice": ("STRIDED_SLICE", {"int8": "tflm"}),
    "split": ("SPLIT_V", {"int8": "tflm", "16x8": "tflm"}),
    "stack": ("PACK", {"int8": "tflm", "16x8": "tflm"}),
    "unstack": ("UNPACK", {"int8": "tflm"}),
    "gather": ("GATHER", {"int8": "tflm", "16x8": "ref"}),
    "depth_to_space": ("DEPTH_TO_SPACE", {"int8": "tflm"}),  # the converter has no 16x8 form
    "space_to_depth": ("SPACE_TO_DEPTH", {"int8": "tflm"}),
    "reflect": ("MIRROR_PAD", {"int8": "tflm", "16x8": "ref"}),
    "symmetric": ("MIRROR_PAD", {"int8": "tflm"}),
    "broadcast": ("BROADCAST_TO", {"int8": "tflm", "16x8": "tflm"}),
    "resize_nearest": ("RESIZE_NEAREST_NEIGHBOR", {"16x8": "tflm"}),  # int8: tests/lowering/test_ops_shape.py
    # TILE (version 3): TFLite Micro has none; TFLite's reference kernel runs as version 2.
    "tile": ("TILE", {"int8": "ref"}),
    "upsample": ("TILE", {"int8": "ref", "16x8": "ref"}),
}


@pytest.mark.parametrize("name,mode", [(n, m) for n in sorted(CONVERTED) for m in sorted(CONVERTED[n][1])])
def test_converted(name, mode):
    from edgeconv.checking.validation import validate_bytes
    from modelgen import seeded_keras, tflite_from_keras

    expect, oracles = CONVERTED[name]
    seed = sorted(CONVERTED).index(name)

    def build():
        seeded_keras(seed)
        return tflite_from_keras(_keras_case(name), seed=seed, mode=mode)

    data = cached_model({"op": "data_movement", "name": name, "mode": mode}, build)
    ops = [op.opcode for op in read_tflite_bytes(data).ops]
    assert expect in ops, f"{name}: the converter emitted {ops}, no {expect}"
    label = f"{name}_{mode}"
    if oracles[mode] == "tflm":
        assert_bit_exact(data, label, samples=6, seed=seed)
    else:
        report = validate_bytes(data, label, samples=6, seed=seed)
        assert oracle_is(report, "tflite_ref") and report.bit_exact, (label, report.notes)


def test_cast_from_bool():
    """bool (from a comparison) to each integer type: 0 or 1."""
    n = Net()
    a, b = act(n, "a", [2, 9], "int8"), act(n, "b", [2, 9], "int8")
    c = n.tensor("c", [2, 9], "bool")
    add_op(n, "LESS", [a, b], [c])
    outs = []
    for dst in ("int8", "int16", "int32"):
        y = n.tensor(f"y_{dst}", [2, 9], dst)
        add_op(n, "CAST", [c], [y], "CastOptions")
        outs.append(y)
    check(n.finish([a, b], outs), "cast_bool")


# ---------------------------------------------------------------------------------------------
# Refusals: each names the op


def _one(opname: str, in_shape, out_shape, consts, member=None, dtype="int8", **options) -> bytes:
    n = Net()
    x = act(n, "x", in_shape, dtype)
    y = act(n, "y", out_shape, dtype)
    add_op(n, opname, [x] + [const(n, f"c{i}", v) for i, v in enumerate(consts)], [y], member, **options)
    return n.finish([x], [y])


@pytest.mark.parametrize(
    "case,words",
    [
        # TFLite Micro ignores these masks; TFLite honours them.
        ((dict(ellipsisMask=1),), "ellipsis_mask"),
        ((dict(newAxisMask=2),), "new_axis_mask"),
        # A shrunk axis walked backwards: TFLite's kernel copies nothing there.
        ((dict(shrinkAxisMask=1), [1, 0], [2, 3], [-1, 1], [3]), "shrinks axis 0"),
        ((dict(), [0, 0], [2, 3], [0, 1], [2, 3]), "non-zero"),
    ],
)
def test_strided_slice_refusals(case, words):
    options, *rest = case
    begin, end, strides, out = rest if rest else ([0, 0], [2, 3], [1, 1], [2, 3])
    data = _one("STRIDED_SLICE", [2, 3], out, [begin, end, strides], "StridedSliceOptions", **options)
    assert words in refused(data, "ss", "STRIDED_SLICE")


def test_strided_slice_rank5_refused():
    data = _one(
        "STRIDED_SLICE", [1, 1, 1, 2, 3], [1, 1, 1, 2, 3], [[0] * 5, [1, 1, 1, 2, 3], [1] * 5], "StridedSliceOptions"
    )
    assert "exceeds 4" in refused(data, "ss5", "STRIDED_SLICE")


def test_slice_out_of_range_refused():
    data = _one("SLICE", [4, 3], [3, 3], [[2, 0], [3, 3]], "SliceOptions")
    assert "begin 2" in refused(data, "slice_oob", "SLICE")  # shape inference or the lowering says it


def test_concatenation_more_than_ten_inputs_refused():
    n = Net()
    xs = [act(n, f"x{i}", [1, 2], "int8") for i in range(11)]
    y = act(n, "y", [11, 2], "int8")
    add_op(n, "CONCATENATION", xs, [y], "ConcatenationOptions", axis=0)
    assert "at most 10" in refused(n.finish(xs, [y]), "concat11", "CONCATENATION")


def test_split_num_splits_mismatch_refused():
    n = Net()
    x = act(n, "x", [4, 2], "int8")
    ys = [act(n, f"y{i}", [2, 2], "int8") for i in range(2)]
    add_op(n, "SPLIT", [const(n, "a", [0]), x], ys, "SplitOptions", numSplits=4)
    assert "num_splits 4" in refused(n.finish([x], ys), "split_num", "SPLIT")


def test_reshape_squeeze_expand_dims_int16():
    """The aliases take int16 as they take int8: no data moves, the values pass unchanged."""
    n = Net()
    x = act(n, "x", [1, 2, 3, 4], "int16")
    r = act(n, "r", [6, 4], "int16")
    add_op(n, "RESHAPE", [x, const(n, "shape", [6, 4])], [r], "ReshapeOptions", newShape=[6, 4])
    t = act(n, "t", [4, 6], "int16")
    add_op(n, "TRANSPOSE", [r, const(n, "perm", [1, 0])], [t], "TransposeOptions")
    e = act(n, "e", [4, 1, 6], "int16")
    add_op(n, "EXPAND_DIMS", [t, const(n, "axis", [1])], [e], "ExpandDimsOptions")
    s = act(n, "s", [4, 6], "int16")
    add_op(n, "SQUEEZE", [e], [s], "SqueezeOptions", squeezeDims=[1])
    data = n.finish([x], [s])
    assert [st.op.opcode for st in compile_bytes(data, "aliases16").steps] == ["TRANSPOSE"]
    check(data, "aliases_int16")


def _emulated_models() -> list[tuple[bytes, str, str]]:
    """One int8 model of the ops TFLite Micro runs, one int16 model of those it lacks."""
    n = Net()
    ins, outs = [], []
    x = act(n, "x", [2, 5, 6], "int8")
    y = act(n, "y", [2, 3, 3], "int8")
    add_op(
        n,
        "STRIDED_SLICE",
        [x, const(n, "b", [0, -1, 0]), const(n, "e", [2, 0, 6]), const(n, "s", [1, -2, 2])],
        [y],
        "StridedSliceOptions",
        endMask=1,
    )
    ys = [act(n, f"v{i}", [2, 5, s], "int8") for i, s in enumerate([1, 3, 2])]
    add_op(n, "SPLIT_V", [x, const(n, "sz", [1, 3, -1]), const(n, "ax", [-1])], ys, "SplitVOptions", numSplits=3)
    m = act(n, "m", [1, 4, 4, 8], "int8")
    mp = act(n, "mp", [1, 7, 5, 8], "int8")
    add_op(n, "MIRROR_PAD", [m, const(n, "p", [[0, 0], [1, 2], [0, 1], [0, 0]])], [mp], "MirrorPadOptions", mode=0)
    d = act(n, "d", [1, 8, 10, 2], "int8")
    add_op(
        n,
        "DEPTH_TO_SPACE",
        [
            m,
        ],
        [d],
        "DepthToSpaceOptions",
        blockSize=2,
    )
    g = act(n, "g", [2, 5, 4], "int8")
    add_op(n, "GATHER", [x, const(n, "i", [5, 0, 0, 3])], [g], "GatherOptions", axis=2)
    ins += [x, m]
    outs += [y, *ys, mp, d, g]
    models = [(n.finish(ins, outs), "data_movement_int8_m4", "tflm")]
    n = Net()
    x = act(n, "x", [1, 3, 4, 5], "int16")
    t = act(n, "t", [1, 6, 4, 10], "int16")
    add_op(n, "TILE", [x, const(n, "mult", [1, 2, 1, 2])], [t], "TileOptions")
    mp = act(n, "mp", [1, 5, 6, 5], "int16")
    add_op(n, "MIRROR_PAD", [x, const(n, "p", [[0, 0], [1, 1], [2, 0], [0, 0]])], [mp], "MirrorPadOptions", mode=1)
    r = act(n, "r", [1, 7, 9, 5], "int16")
    add_op(n, "RESIZE_BILINEAR", [x, const(n, "sz", [7, 9])], [r], "ResizeBilinearOptions", halfPixelCenters=True)
    tr = act(n, "tr", [5, 1, 4, 3], "int16")
    add_op(n, "TRANSPOSE", [x, const(n, "perm", [3, 0, 2, 1])], [tr], "TransposeOptions")
    models.append((n.finish([x], [t, mp, r, tr]), "data_movement_int16_m4", "tflite_ref"))
    return models


def test_emulated_cortex_m4():
    """The same C on an emulated Cortex-M4 (QEMU)."""
    import shutil

    from edgeconv.checking.validation import validate_bytes

    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    for data, label, oracle in _emulated_models():
        report = validate_bytes(data, label, samples=3, seed=1, board="cortex-m4")
        assert report.board == "cortex-m4" and oracle_is(report, oracle) and report.elements_compared > 0, report.notes
        assert report.bit_exact and report.mismatches_vs_oracle == 0, f"{label}: {report.mismatches_vs_oracle} differ"
