"""Every real model in ../shared/models: bit-exact on its shipped samples and 200 random
inputs, the shipped TFLite-reference outputs reproduced, and an arena no larger than TFLite
Micro's."""

import json

import numpy as np
import pytest

from conftest import SHARED_MODEL_FILES as MODELS
from edgeconv.checking.validation import shipped_samples, validate_file
from edgeconv.emit.emitter import emit
from edgeconv.frontend.boards import load_board
from edgeconv.lowering.compiler import compile_file
from edgeconv.targets.hostbuild import build_and_load


@pytest.mark.parametrize("rel", MODELS)
def test_shared_model_bit_exact(shared_models, rel):
    path = shared_models / rel
    report = validate_file(path, samples=200, seed=0)  # what `edgeconv validate M --samples 200` runs
    assert report.bit_exact, json.dumps(report.to_dict())
    assert report.mismatches_vs_tflm == 0
    assert report.samples == 200 + len(shipped_samples(path))
    assert report.first_divergent_op is None
    # The arena: no larger than TFLite Micro's, never below the lower bound.
    assert report.tflm_arena_bytes is not None
    assert report.arena_lower_bound <= report.ram_bytes <= report.tflm_arena_bytes
    assert report.macs > 0


WITH_SAMPLES = [m for m in MODELS if "str_ww_ref_model" not in m]  # str_ww ships no samples


@pytest.mark.parametrize("rel", WITH_SAMPLES)
def test_shipped_reference_outputs(shared_models, rel):
    """The outputs stored beside the samples (TFLite reference kernels) are reproduced."""
    path = shared_models / rel
    folder = path.parent / "samples" / path.stem
    inputs = sorted(folder.glob("in_*.npy"))
    assert inputs, f"{folder} holds no samples"
    model = compile_file(path)
    host = build_and_load(model, emit(model))
    for f in inputs:
        idx = f.stem.split("_")[1]
        outs = host.run([np.load(f)])
        for j, out in enumerate(outs):
            expected = np.load(folder / f"out_ref_{idx}_{j}.npy")
            if rel.endswith("ad01_int8.tflite"):
                # TFLite's reference and TFLite Micro differ by up to 2 LSB here; we follow TFLM.
                assert np.abs(out.astype(int) - expected.reshape(out.shape).astype(int)).max() <= 2
            else:
                np.testing.assert_array_equal(out, expected.reshape(out.shape), err_msg=f"{rel} {f.name}")


CORES = ["cortex-m4", "cortex-m7", "cortex-m33"]


@pytest.mark.parametrize("board", CORES)
@pytest.mark.parametrize("rel", MODELS)
def test_shared_model_bit_exact_on_emulated_cores(shared_models, rel, board):
    """The firmware (DSP fast paths, weights as `build` would choose them for the board's
    flash) run under QEMU on each core with the DSP extension: every output element equals
    TFLite Micro's, on the shipped samples and random ones."""
    path = shared_models / rel
    report = validate_file(path, samples=3, seed=7, board=board)
    assert report.bit_exact, json.dumps(report.to_dict())
    assert report.board == board and report.mismatches_vs_tflm == 0
    assert report.flash_bytes <= load_board(board).flash_bytes
