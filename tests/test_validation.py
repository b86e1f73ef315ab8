"""Validation machinery: a wrong kernel is caught and the first divergent op is named."""

import json

from conftest import SHARED_MODELS
from edgeconv.ops import base
from edgeconv.validation import validate_file

KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"


def test_first_divergent_op_is_named(shared_models, monkeypatch):
    original = base.LOWERINGS["DEPTHWISE_CONV_2D"]

    def off_by_one(graph, op):
        kernel = original(graph, op)
        if op.index == 3:  # corrupt one layer in the middle of the network
            kernel.params["output_zp"] += 1
        return kernel

    monkeypatch.setitem(base.LOWERINGS, "DEPTHWISE_CONV_2D", off_by_one)
    report = validate_file(KWS, samples=2, seed=0)
    assert not report.bit_exact, json.dumps(report.to_dict())
    assert report.mismatches_vs_tflm > 0
    assert report.first_divergent_op is not None
    assert report.first_divergent_op.startswith("op 3 DEPTHWISE_CONV_2D"), report.first_divergent_op


def test_cli_exit_status_1_on_mismatch(shared_models, monkeypatch):
    from click.testing import CliRunner

    from edgeconv.cli import main

    original = base.LOWERINGS["FULLY_CONNECTED"]

    def wrong(graph, op):
        kernel = original(graph, op)
        # One class's bias: a shift of every logit alike would vanish in the softmax.
        kernel.params["bias"].values[0] += 50000
        return kernel

    monkeypatch.setitem(base.LOWERINGS, "FULLY_CONNECTED", wrong)
    result = CliRunner().invoke(main, ["validate", str(KWS), "--samples", "1", "--json"], standalone_mode=False)
    report = json.loads(result.output)
    assert result.exit_code == 1
    assert report["bit_exact"] is False
    assert report["first_divergent_op"].startswith("op 11 FULLY_CONNECTED")
