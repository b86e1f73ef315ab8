"""edgeconv advise: what limits a model on a board (the fit, the RAM peak and its live tensors,
the top flash and instruction layers) and what-ifs measured by recompiling variants; and the
architecture sweep (Optuna NSGA-II), resumed without redoing finished trials.

The figures asserted are those measured with the toolchains of CI (arm-none-eabi-gcc links the
firmware whose fit is checked; unicorn counts the instructions)."""

from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np
import pytest

import edgeconv
from conftest import SHARED_MODELS, assert_refused, run_cli
from edgeconv.frontend.boards import load_board
from edgeconv.frontend.ir import ModelError
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering.passes import run_passes
from edgeconv.reports.variants import (
    Change,
    NotApplicable,
    applicable_changes,
    classifier_ops,
    make_variant,
)

VWW = SHARED_MODELS / "mlcommons_tiny" / "vww_96_int8.tflite"
MICRO_SPEECH = SHARED_MODELS / "tflite_micro" / "micro_speech_quantized.tflite"
BOARD = "cortex-m0plus"


def need(path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is absent")
    cc = load_board(BOARD).cc
    if shutil.which(cc) is None:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail(f"{cc} is missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip(f"{cc} is not installed")


def passed_graph(path):
    return run_passes(read_tflite_bytes(path.read_bytes(), name="m"))


# ---------------------------------------------------------------------------------------------
# Variants: the graph follows the change


def test_half_filters_changes_the_next_layers_input_channels():
    if not VWW.exists():
        pytest.skip("vww is absent")
    g = passed_graph(VWW)
    v = make_variant(g, [Change("half_filters", 2)])
    ops = {op.index: op for op in v.ops}
    assert v.tensors[ops[2].inputs[1]].shape == (8, 1, 1, 8)  # 16 filters -> 8
    assert v.tensors[ops[2].outputs[0]].shape == (1, 48, 48, 8)
    assert v.tensors[ops[3].inputs[1]].shape == (1, 3, 3, 8)  # the depthwise follows its input
    assert v.tensors[ops[4].inputs[1]].shape == (32, 1, 1, 8)  # the next convolution's input channels
    assert len(v.tensors[ops[2].inputs[1]].quant.scale) == 8  # per-channel scales with them
    assert v.tensors[v.outputs[0]].shape == (1, 2)  # the classes stay
    # the original graph is untouched
    assert g.tensors[{op.index: op for op in g.ops}[2].inputs[1]].shape == (16, 1, 1, 8)


def test_stride_separable_kernel_and_whole_model_variants():
    if not VWW.exists():
        pytest.skip("vww is absent")
    g = passed_graph(VWW)
    assert 29 in classifier_ops(g)  # the FULLY_CONNECTED giving the 2 classes
    assert applicable_changes(g, g.ops[0]) == ["half_filters", "smaller_kernel", "separable"]  # already stride 2
    assert applicable_changes(g, g.ops[2]) == ["stride2", "half_filters"]  # 1x1: no smaller kernel
    s = make_variant(g, [Change("stride2", 26)])  # 3x3 -> 2x2: the global average pool follows
    pool = next(op for op in s.ops if op.opcode == "AVERAGE_POOL_2D")
    assert (pool.options["filter_height"], pool.options["filter_width"]) == (2, 2)
    assert s.tensors[s.outputs[0]].shape == (1, 2)
    sep = make_variant(g, [Change("separable", 0)], seed=3)
    assert [op.opcode for op in sep.ops[:3]] == ["DEPTHWISE_CONV_2D", "CONV_2D", "DEPTHWISE_CONV_2D"]
    assert sep.tensors[sep.ops[0].inputs[1]].shape == (1, 3, 3, 3)
    assert sep.tensors[sep.ops[1].inputs[1]].shape == (8, 1, 1, 3)
    assert sep.tensors[sep.ops[1].outputs[0]].shape == (1, 48, 48, 8)
    again = make_variant(g, [Change("separable", 0)], seed=3)  # seeded
    assert np.array_equal(again.tensors[again.ops[0].inputs[1]].data, sep.tensors[sep.ops[0].inputs[1]].data)
    half = make_variant(g, [Change("half_resolution")])
    assert half.tensors[half.inputs[0]].shape == (1, 48, 48, 3)
    with pytest.raises(NotApplicable, match="does not apply"):
        make_variant(g, [Change("stride2", 0)])


def test_a_change_that_changes_nothing_is_not_applicable():
    if not MICRO_SPEECH.exists():
        pytest.skip("micro_speech is absent")
    g = passed_graph(MICRO_SPEECH)  # one depthwise layer and the classifier: no filters to halve
    with pytest.raises(NotApplicable, match="changes nothing"):
        make_variant(g, [Change("half_width")])
    with pytest.raises(NotApplicable, match="no resolution"):
        make_variant(g, [Change("half_resolution")])  # a flat [1, 1960] input


def test_residual_blocks_follow_whole_model_changes_only():
    resnet = SHARED_MODELS / "mlcommons_tiny" / "pretrainedResnet_quant.tflite"
    if not resnet.exists():
        pytest.skip("resnet is absent")
    from edgeconv.lowering.compiler import compile_graph

    g = passed_graph(resnet)
    with pytest.raises(NotApplicable, match="op 3 ADD cannot follow"):  # the skip branch keeps 16 channels
        make_variant(g, [Change("half_filters", 2)])
    assert compile_graph(g, "m").ram_bytes == 49_728
    assert compile_graph(make_variant(g, [Change("half_width")]), "m").ram_bytes == 24_864  # both branches halve


# ---------------------------------------------------------------------------------------------
# advise MODEL --board


def test_vww_on_cortex_m0plus_names_the_peak_and_shows_variants_that_fit():
    """The acceptance line: vww_96_int8 does not fit the STM32G071's 36 KB RAM or 128 KB flash;
    the RAM peak is step 2, op 2 (the 1x1 CONV_2D writing 48x48x16 while its 48x48x8 input from
    the depthwise op 1 is live); half the filters everywhere and half the resolution fits."""
    need(VWW)
    r = edgeconv.advise(VWW, board=BOARD, layers=1, instructions=False)
    assert r.fits is False and r.arena_bytes == 55_328 and r.constants_bytes == 243_904
    assert r.ram_bytes == 56_136 and r.flash_bytes == 254_672  # as inspect --board / build link it
    assert r.fit["board_ram_bytes"] == 36_864 and r.fit["board_flash_bytes"] == 131_072
    assert len(r.limits) == 2 and "19,272 B short" in r.limits[1] and "123,600 B short" in r.limits[0]
    p = r.peak
    assert (p["step"], p["op"], p["opcode"], p["live_bytes"]) == (2, 2, "CONV_2D", 55_328)
    assert [(t["bytes"], t["producer"], t["shape"]) for t in p["tensors"]] == [
        (36_864, "op 2 CONV_2D", [1, 48, 48, 16]),
        (18_432, "op 1 DEPTHWISE_CONV_2D", [1, 48, 48, 8]),
        (32, "op 2 CONV_2D", None),  # the convolution's scratch
    ]
    assert [(x["op"], x["flash_bytes"]) for x in r.flash_layers] == [(26, 68_608), (24, 35_840), (14, 17_920)]
    assert r.layers_tried == [2]
    by = {v["change"]: v for v in r.variants}
    assert set(by) == {
        "op 2: stride 2",
        "op 2: half the filters",
        "model: half the filters in every layer",
        "model: half the input resolution",
        "model: half the filters everywhere and half the input resolution",
    }
    assert by["op 2: half the filters"]["ram_bytes"] == 47_064 and not by["op 2: half the filters"]["fits"]
    assert by["op 2: stride 2"]["macs"] == 2_549_568 and by["op 2: stride 2"]["ram_cut_bytes"] == 9_072
    both = by["model: half the filters everywhere and half the input resolution"]
    assert both["fits"] and both["ram_bytes"] == 10_200 and both["flash_bytes"] == 85_184 and both["short"] == []
    assert both["ram_cut_bytes"] == 45_936 and both["flash_cut_bytes"] == 169_488
    width = by["model: half the filters in every layer"]
    assert not width["fits"] and width["ram_bytes"] == 37_848 and width["flash_bytes"] == 85_184  # 984 B of RAM over
    # the JSON is the result's to_dict, and nothing else
    assert json.loads(json.dumps(r.to_dict()))["peak"]["op"] == 2


def test_instructions_are_inspect_boards_counts_and_the_cli_is_the_api():
    need(MICRO_SPEECH)
    r = edgeconv.advise(MICRO_SPEECH, board=BOARD, layers=1, whole_model=False)
    i = edgeconv.inspect(MICRO_SPEECH, board=BOARD)
    assert r.instructions == i.instructions and r.fits and r.fit == i.fit
    per_layer = {row["index"]: row["instructions"] for row in i.layers}
    assert [(x["op"], x["instructions"]) for x in r.instruction_layers] == sorted(
        ((k, v) for k, v in per_layer.items() if v), key=lambda kv: -kv[1]
    )[:3]
    assert r.instruction_layers[0]["op"] == 1  # the depthwise convolution: 94% of the instructions
    assert r.flash_layers[0]["op"] == 2  # the FULLY_CONNECTED's weights
    (v,) = r.variants  # the peak's depthwise layer (already strided) with a smaller kernel
    assert v["change"] == "op 1: smaller kernel" and v["fits"]
    assert v["instructions"] < r.instructions and v["instructions_cut"] == r.instructions - v["instructions"]
    assert v["macs"] == r.macs - v["macs_cut"] and v["macs_cut"] > 0

    proc = run_cli(
        "advise", MICRO_SPEECH, "--board", BOARD, "--layers", "0", "--no-whole-model", "--no-instructions", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    api = edgeconv.advise(MICRO_SPEECH, board=BOARD, layers=0, whole_model=False, instructions=False).to_dict()
    assert json.loads(proc.stdout) == api
    text = run_cli("advise", MICRO_SPEECH, "--board", BOARD, "--layers", "0", "--no-whole-model", "--no-instructions")
    assert text.returncode == 0, text.stderr
    assert "RAM peak 6,448 B at step 0 (op 1 DEPTHWISE_CONV_2D)" in text.stdout
    assert "as is" in text.stdout and max(len(line) for line in text.stdout.splitlines()) <= 80


def test_bad_requests_are_one_line(tmp_path):
    need(MICRO_SPEECH)
    assert_refused(run_cli("advise", MICRO_SPEECH, "--board", "no-such-board"), "no-such-board")
    assert_refused(run_cli("advise", tmp_path / "missing.tflite", "--board", BOARD), "missing.tflite")
    assert_refused(
        run_cli("advise", MICRO_SPEECH, "--board", BOARD, "--arch", "tinyconv", "--data", "digits"), "not both"
    )
    assert_refused(run_cli("advise", "--board", BOARD, "--arch", "tinyconv"), "--data")
    assert_refused(run_cli("advise", "--board", BOARD), "model")
    # a file in the way of the study that is not an Optuna study is the user's: refused, untouched
    (tmp_path / "s.optuna.db").write_text("my notes")
    assert_refused(
        run_cli("advise", "--board", BOARD, "--arch", "tinyconv", "--data", "digits", "-o", tmp_path / "s.png"),
        "not an Optuna study",
    )
    assert (tmp_path / "s.optuna.db").read_text() == "my notes" and not (tmp_path / "s.png").exists()


def test_missing_optuna_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ModelError, match=r"pip install 'edgeconv\[advise\]'"):
        edgeconv.advise(board=BOARD, arch="tinyconv", data="digits", out=tmp_path / "s.png")


# ---------------------------------------------------------------------------------------------
# The sweep: a tiny study, then the same study continued


def test_sweep_recommends_a_model_that_fits_and_resumes(tmp_path):
    """A tiny study (400 digits, one epoch): one trial, then the same study asked for two trains
    one more and reads the first back, then asked for two again trains nothing. (The full sweep,
    20 trials of 10 epochs on all of digits, is run by hand: docs/advise.md.)"""
    pytest.importorskip("optuna")
    pytest.importorskip("tensorflow")
    need(VWW.parent)  # the toolchain
    from edgeconv.training.datasets import load_dataset

    digits = load_dataset("digits")
    np.savez(tmp_path / "digits400.npz", x=digits.x[:400], y=digits.y[:400])
    data = tmp_path / "digits400.npz"
    out = tmp_path / "sweep.png"
    first = edgeconv.advise(board=BOARD, arch="tinyconv", data=data, trials=1, epochs=1, seed=0, out=out)
    s = first.sweep
    assert first.model is None and first.board == BOARD
    assert s["completed"] == 1 and s["new_trials"] == 1 and len(s["trials"]) == 1
    assert (tmp_path / "sweep.optuna.db").exists() and s["storage"] == str(tmp_path / "sweep.optuna.db")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = {t["number"]: t for t in s["trials"]}

    again = edgeconv.advise(board=BOARD, arch="tinyconv", data=data, trials=2, epochs=1, seed=0, out=out)
    s2 = again.sweep
    assert s2["completed"] == 2 and s2["new_trials"] == 1 and s2["study_name"] == s["study_name"]
    after = {t["number"]: t for t in s2["trials"]}
    for n, t in before.items():
        assert after[n] == t  # not redone
    for t in s2["trials"]:
        assert 0.0 <= t["accuracy"] <= 1.0 and t["instructions"] > 0 and t["ram_bytes"] > 0 and t["flash_bytes"] > 0
        assert t["fits"] == (t["ram_bytes"] <= 36_864 and t["flash_bytes"] <= 131_072)
        assert set(t["params"]) == {"width", "depth", "kernel", "first_stride", "resolution"}
    if s2["fitting"]:
        best = s2["recommended"]
        assert best["fits"] and best["number"] in s2["pareto"]
        assert best["accuracy"] >= max(t["accuracy"] for t in s2["trials"] if t["fits"]) - 0.01
        # the recommended int8 model is written beside the figure, and compiles to the trial's figures
        assert s2["model"] == str(tmp_path / "sweep.tflite")
        compiled = edgeconv.compile(tmp_path / "sweep.tflite", weights="int8")  # as on the M0+ (no DSP)
        assert compiled.ram_bytes == best["arena_bytes"] and compiled.macs == best["macs"]
    else:
        assert s2["recommended"] is None and s2["model"] is None
    # Asked for no more than it holds: nothing is trained, the figure is drawn again.
    third = edgeconv.advise(board=BOARD, arch="tinyconv", data=data, trials=2, epochs=1, seed=0, out=out)
    assert third.sweep["new_trials"] == 0 and third.sweep["completed"] == 2


def test_pareto_front_and_the_recommendation_rule():
    from edgeconv.reports.sweep import pareto_and_pick

    def t(n, acc, instr, ram, fits=True):
        return {"number": n, "accuracy": acc, "instructions": instr, "ram_bytes": ram, "fits": fits}

    rows = [
        t(0, 0.95, 1000, 500),
        t(1, 0.96, 3000, 400),
        t(2, 0.90, 900, 900),
        t(3, 0.94, 2000, 600),
        t(4, 0.99, 500, 100, fits=False),
    ]
    front, pick = pareto_and_pick(rows)
    assert front == [0, 1, 2]  # 3 is dominated by 0; 4 does not fit
    assert pick["number"] == 0  # within 1 point of 0.96, the fewest instructions
    assert pareto_and_pick([t(0, 0.9, 1, 1, fits=False)]) == ([], None)


def test_a_board_without_instruction_counts_gets_fit_and_macs():
    if not MICRO_SPEECH.exists():
        pytest.skip("micro_speech is absent")
    cc = load_board("atmega2560").cc
    if shutil.which(cc) is None:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail(f"{cc} is missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip(f"{cc} is not installed")
    r = edgeconv.advise(MICRO_SPEECH, board="atmega2560", layers=0, whole_model=False)
    assert r.instructions is None and r.instruction_layers == [] and r.fits
    assert r.notes == ["no instruction-counting emulator models atmega2560: fit and MACs only"]
    pytest.importorskip("optuna")
    with pytest.raises(ModelError, match="no instruction-counting emulator"):
        edgeconv.advise(board="atmega2560", arch="tinyconv", data="digits")
