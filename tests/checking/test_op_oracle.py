"""op_oracle: TFLite Micro op by op, the oracle for models TFLite Micro cannot run whole.

Run op by op, a model TFLite Micro runs whole gives exactly TFLite Micro's outputs (so the
one-op models carry each op as TFLite Micro sees it: options, constants, shapes); a model with
an op TFLite Micro lacks is validated against it, TFLite's reference taking that op only; where
TFLite's reference disagrees with TFLite Micro elsewhere in the model (FULLY_CONNECTED's
per-channel rounding), the C follows TFLite Micro; a wrong kernel is still caught and named."""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.checking.op_oracle import OpByOpOracle
from edgeconv.checking.references import TflmReference
from edgeconv.checking.validation import headline, random_inputs, validate_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.lowering.ops import base
from modelgen import cached_model, tflite_from_keras
from mutants import Net

SAME = 0


# (Its CONV_2D option list also looks like test_kernel_params.py's _mac_16x8, test_validation.py's _report and
# test_ops_transpose_conv.py's _one_op: a shape match of name=value lines, no shared code.)
# Like mutants.py's conv builders in its first layer: each hand-built model spells out its own tensors and options so a
# case reads whole; kept apart because shapes, scales, seeds and options differ (merging them would change the models)
def _fc_exp_model(seed: int, with_exp: bool = True) -> bytes:
    """CONV_2D -> RESHAPE -> FULLY_CONNECTED (per-channel weights) -> EXP (TFLite Micro lacks EXP)."""
    rng = np.random.default_rng(seed)
    n = Net()
    x = n.tensor("input", [1, 4, 4, 3], scale=0.05, zp=-3)
    ws = rng.uniform(0.005, 0.03, 6).astype(np.float32)
    w = n.tensor("conv_w", [6, 3, 3, 3], scale=ws, zp=[0] * 6, data=rng.integers(-127, 128, (6, 3, 3, 3)))
    b = n.tensor("conv_b", [6], "int32", scale=np.float32(0.05) * ws, zp=[0] * 6, data=rng.integers(-300, 300, 6))
    c = n.tensor("conv_out", [1, 4, 4, 6], scale=0.04, zp=5)
    n.op(
        "CONV_2D",
        [x, w, b],
        [c],
        padding=SAME,
        strideW=1,
        strideH=1,
        fusedActivationFunction=0,
        dilationWFactor=1,
        dilationHFactor=1,
    )
    shape = n.tensor("shape", [2], "int32", data=[1, 96])
    flat = n.tensor("flat", [1, 96], scale=0.04, zp=5)
    n.op("RESHAPE", [c, shape], [flat], newShape=[1, 96])
    fs = rng.uniform(0.002, 0.02, 10).astype(np.float32)
    fw = n.tensor("fc_w", [10, 96], scale=fs, zp=[0] * 10, data=rng.integers(-127, 128, (10, 96)))
    fb = n.tensor("fc_b", [10], "int32", scale=np.float32(0.04) * fs, zp=[0] * 10, data=rng.integers(-900, 900, 10))
    y = n.tensor("fc_out", [1, 10], scale=0.09, zp=-2)
    n.op("FULLY_CONNECTED", [flat, fw, fb], [y], fusedActivationFunction=0, keepNumDims=False)
    if not with_exp:
        return n.finish([x], [y])
    e = n.tensor("exp_out", [1, 10], scale=0.2, zp=-128)
    n.op("EXP", [y], [e])
    return n.finish([x], [e])


def _samples(data: bytes, count: int, seed: int):
    return random_inputs(compile_bytes(data, "m"), count, seed)


def test_op_by_op_equals_tflite_micro_whole():
    """Where TFLite Micro runs the model whole, op by op gives the same outputs, element for element."""
    data = _fc_exp_model(3, with_exp=False)
    model = compile_bytes(data, "m")
    xs = random_inputs(model, 12, 0)
    result = OpByOpOracle(data, model.graph, 60).run(xs)
    assert [r.reference for r in result.runs] == ["tflm"] * 3
    with TflmReference(data) as ref:
        for x, got in zip(xs, result.outputs):
            np.testing.assert_array_equal(got[0], ref.run(x, 1)[0])


def test_op_by_op_on_a_shared_model(shared_models):
    data = (shared_models / "mlcommons_tiny" / "kws_ref_model.tflite").read_bytes()
    model = compile_bytes(data, "kws")
    xs = random_inputs(model, 3, 1)
    result = OpByOpOracle(data, model.graph, 60).run(xs, keep_all=True)
    assert {r.reference for r in result.runs} == {"tflm"}
    assert result.tensors is not None and all(t in result.tensors for op in model.graph.ops for t in op.outputs)
    with TflmReference(data) as ref:
        for x, got in zip(xs, result.outputs):
            np.testing.assert_array_equal(got[0], ref.run(x, 1)[0])


def test_dynamic_batch_dilated_model_op_by_op_equals_tflite_micro_whole():
    """A dynamic batch (placeholder shapes in the file) and a dilated convolution (SPACE_TO_BATCH_ND
    that pads): each one-op model carries TFLite's shapes; the padding op runs in TFLite's
    reference (TFLite Micro pads with a value it never sets), and the result equals TFLite Micro
    given TFLite's shapes and explicit padding (what validation runs whole)."""
    from edgeconv.checking.references import with_explicit_space_to_batch_padding
    from edgeconv.checking.validation import tflm_model_bytes

    def build() -> bytes:
        import tensorflow as tf

        tf.keras.utils.set_random_seed(5)
        x = tf.keras.Input((11, 11, 2))
        y = tf.keras.layers.Conv2D(4, 3, dilation_rate=2, padding="same", activation="relu")(x)
        y = tf.keras.layers.Flatten()(y)
        return tflite_from_keras(tf.keras.Model(x, tf.keras.layers.Dense(3)(y)), seed=5)

    data = cached_model({"kind": "op-oracle-dilated-dynamic", "version": 1}, build)
    model = compile_bytes(data, "m")
    assert model.graph.shape_changes, "the converter wrote no placeholder shapes"
    xs = random_inputs(model, 6, 2)
    result = OpByOpOracle(data, model.graph, 60).run(xs)
    assert [r.opcode for r in result.fallbacks()] == ["SPACE_TO_BATCH_ND"]
    whole = with_explicit_space_to_batch_padding(tflm_model_bytes(data, model))
    with TflmReference(whole) as ref:
        for x, got in zip(xs, result.outputs):
            np.testing.assert_array_equal(got[0], ref.run(x, 1)[0])


def test_model_with_an_op_tflite_micro_lacks_is_validated_op_by_op():
    data = _fc_exp_model(3)
    report = validate_bytes(data, "fc_exp", samples=20, seed=0)
    assert report.oracle == "tflm_ops" and report.bit_exact and report.elements_compared == 200, report.notes
    assert report.reference_status["tflm"] == "refuses the model"
    note = next(n for n in report.notes if "op by op" in n)
    assert "TFLite's reference kernels ran EXP (op 3)" in note, note
    assert "BIT-EXACT: equal to TFLite Micro op by op on all 200 output elements of 20 samples" in headline(report)


def test_c_follows_tflite_micro_where_tflite_reference_rounds_otherwise():
    """Per-channel FULLY_CONNECTED: TFLite's reference rounds some products otherwise than TFLite
    Micro. Behind an EXP that TFLite Micro lacks, the C is compared with TFLite Micro op by op and
    follows it on every element where TFLite's reference disagrees."""
    for seed in range(40):
        report = validate_bytes(_fc_exp_model(seed), f"fc_exp_{seed}", samples=40, seed=seed)
        assert report.oracle == "tflm_ops" and report.bit_exact, (seed, report.notes)
        if report.reference_disagreements:
            assert report.follows_on_disagreement["tflm_ops"] == report.reference_disagreements
            assert report.mismatches_vs_tflite_ref == report.reference_disagreements
            assert "TFLite's reference disagrees with TFLite Micro op by op" in headline(report)
            return
    pytest.fail("no seed made TFLite's reference disagree with TFLite Micro at FULLY_CONNECTED")


def test_wrong_kernel_is_caught_and_named_op_by_op(monkeypatch):
    original = base.LOWERINGS["FULLY_CONNECTED"]

    def off_by_one(graph, op):
        kernel = original(graph, op)
        kernel.params["output_zp"] += 1
        return kernel

    monkeypatch.setitem(base.LOWERINGS, "FULLY_CONNECTED", off_by_one)
    report = validate_bytes(_fc_exp_model(3), "fc_exp", samples=4, seed=0)
    assert report.oracle == "tflm_ops" and not report.bit_exact
    assert report.first_divergent_op is not None and report.first_divergent_op.startswith("op 2 FULLY_CONNECTED")
