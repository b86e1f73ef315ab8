"""Graph passes: shape-subgraph folding, activation fusion, dead ops, topological checks."""

import numpy as np
import pytest

from edgeconv.frontend.ir import Graph, ModelError, Op, Quant, Tensor
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.frontend.shapes import infer_shapes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.lowering.passes import check_topological, fuse_activations, remove_dead_ops
from modelgen import assert_bit_exact, dynamic_batch_model


def test_shape_subgraphs_fold_to_aliases():
    data = dynamic_batch_model()
    raw = read_tflite_bytes(data)
    assert "SHAPE" in {op.opcode for op in raw.ops}, "the converter no longer emits SHAPE; test needs a new model"
    model = compile_bytes(data, "dyn")
    remaining = {op.opcode for op in model.graph.ops}
    assert not remaining & {"SHAPE", "STRIDED_SLICE", "PACK"}
    # (the int16 weight form, if auto chooses it, has its own entry point: ..._w16)
    assert {s.kernel.func.removesuffix("_w16") for s in model.steps} == {"ec_conv2d_s8", "ec_fully_connected_s8"}
    assert model.aliases  # the reshapes became aliases
    assert_bit_exact(data, "dynamic_batch", samples=5)


_Q = Quant((0.1,), (0,))  # frozen: one shared default is safe


def _t(i, shape=(1, 4), q=_Q, data=None):
    return Tensor(i, f"t{i}", shape, "int8", q, data)


def test_fuse_relu_into_conv_when_quantization_matches():
    w = Tensor(1, "w", (4, 1, 1, 4), "int8", Quant((0.1,), (0,)), np.ones((4, 1, 1, 4), np.int8))
    g = Graph(
        "g",
        {0: _t(0, (1, 2, 2, 4)), 1: w, 2: _t(2, (1, 2, 2, 4)), 3: _t(3, (1, 2, 2, 4))},
        [Op(0, "CONV_2D", [0, 1, -1], [2], {"fused_activation_function": 0}), Op(1, "RELU6", [2], [3])],
        [0],
        [3],
    )
    fused = fuse_activations(g)
    assert [op.opcode for op in fused.ops] == ["CONV_2D"]
    assert fused.ops[0].outputs == [3] and fused.ops[0].options["fused_activation_function"] == 3


def test_no_fusion_when_quantization_differs():
    w = Tensor(1, "w", (4, 1, 1, 4), "int8", Quant((0.1,), (0,)), np.ones((4, 1, 1, 4), np.int8))
    g = Graph(
        "g",
        {0: _t(0, (1, 2, 2, 4)), 1: w, 2: _t(2, (1, 2, 2, 4)), 3: _t(3, (1, 2, 2, 4), Quant((0.05,), (-128,)))},
        [Op(0, "CONV_2D", [0, 1, -1], [2], {}), Op(1, "RELU", [2], [3])],
        [0],
        [3],
    )
    assert [op.opcode for op in fuse_activations(g).ops] == ["CONV_2D", "RELU"]


def test_remove_dead_ops():
    g = Graph("g", {0: _t(0), 1: _t(1), 2: _t(2)}, [Op(0, "RELU", [0], [1]), Op(1, "RELU", [0], [2])], [0], [2])
    assert [op.index for op in remove_dead_ops(g).ops] == [1]


def test_cycle_is_refused():
    g = Graph("g", {0: _t(0), 1: _t(1), 2: _t(2)}, [Op(0, "ADD", [0, 2], [1]), Op(1, "RELU", [1], [2])], [0], [2])
    with pytest.raises(ModelError, match="no earlier op writes"):
        check_topological(g)


def test_fold_constant_strided_slice_pack():
    shape_t = Tensor(1, "shape", (4,), "int32")
    sliced = Tensor(2, "b", (), "int32")
    packed = Tensor(4, "p", (2,), "int32")
    g = Graph(
        "g",
        {
            0: _t(0, (1, 2, 3, 4)),
            1: shape_t,
            2: sliced,
            5: Tensor(5, "begin", (1,), "int32", None, np.array([0], np.int32)),
            6: Tensor(6, "end", (1,), "int32", None, np.array([1], np.int32)),
            7: Tensor(7, "strides", (1,), "int32", None, np.array([1], np.int32)),
            8: Tensor(8, "minus1", (), "int32", None, np.array(-1, np.int32)),
            4: packed,
            9: _t(9, (1, 24)),
        },
        [
            Op(0, "SHAPE", [0], [1]),
            Op(1, "STRIDED_SLICE", [1, 5, 6, 7], [2], {"shrink_axis_mask": 1}),
            Op(2, "PACK", [2, 8], [4], {"axis": 0, "values_count": 2}),
            Op(3, "RESHAPE", [0, 4], [9]),
        ],
        [0],
        [9],
    )
    folded = infer_shapes(g)
    assert [op.opcode for op in folded.ops] == ["RESHAPE"]
    assert folded.tensors[4].data.tolist() == [1, -1]
    assert folded.tensors[9].shape == (1, 24)


def test_module_docstring_lists_the_passes_in_run_order():
    import re

    from edgeconv.lowering import passes

    listed = re.findall(r"^- (\w+)", passes.__doc__, re.M)
    assert listed == [p.__name__ for p in passes.PASSES]
