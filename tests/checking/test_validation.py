"""Validation machinery: a wrong kernel is caught and the first divergent op is named; the
headline says what was compared; a reference that crashes is one line and the other carries on
(or exit 2); zero samples and bad --inputs are one-line refusals; nothing leaks to the terminal
or the process table."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_references import assert_no_worker_left, fc_weights_overrun, worker_pids

from conftest import SHARED_MODELS, assert_refused, run_cli
from edgeconv.checking import validation
from edgeconv.checking.references import TfliteRefReference, TflmReference
from edgeconv.checking.validation import validate_file
from edgeconv.lowering.ops import base

KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"
AD01 = SHARED_MODELS / "mlcommons_tiny" / "ad01_int8.tflite"


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


def wrong_fc_bias(monkeypatch) -> None:
    """FULLY_CONNECTED's lowering made wrong for the rest of a test: one class's bias off by
    50000 (a shift of every logit alike would vanish in the softmax), a mismatch validate must find."""
    original = base.LOWERINGS["FULLY_CONNECTED"]

    def wrong(graph, op):
        kernel = original(graph, op)
        kernel.params["bias"].values[0] += 50000
        return kernel

    monkeypatch.setitem(base.LOWERINGS, "FULLY_CONNECTED", wrong)


def test_cli_exit_status_1_on_mismatch(shared_models, monkeypatch):
    from click.testing import CliRunner

    from edgeconv.cli import main

    wrong_fc_bias(monkeypatch)
    result = CliRunner().invoke(main, ["validate", str(KWS), "--samples", "1", "--json"], standalone_mode=False)
    report = json.loads(result.output)
    assert result.exit_code == 1
    assert report["bit_exact"] is False
    assert report["first_divergent_op"].startswith("op 11 FULLY_CONNECTED")


# --- what the headline says ----------------------------------------------------------------------


def invoke(*args):
    from click.testing import CliRunner

    from edgeconv.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def test_headline_counts_elements_and_samples(shared_models):
    result = invoke("validate", KWS, "--samples", "2")
    assert result.exit_code == 0, result.output
    shipped = len(list((KWS.parent / "samples" / KWS.stem).glob("in_*.npy")))
    n = shipped + 2
    first = result.stdout.splitlines()[0]
    assert first.startswith(
        f"kws_ref_model.tflite: BIT-EXACT: equal to TFLite Micro on all {12 * n:,} output elements of {n} samples"
    )
    assert first.endswith(", and TFLite's reference agrees") or re.search(
        r"; TFLite's reference disagrees with TFLite Micro on \d+ of them and the C follows TFLite Micro$", first
    ), first
    report = json.loads(invoke("validate", KWS, "--samples", "2", "--json").stdout)
    assert report["oracle"] == "tflm" and report["elements_compared"] == 12 * n and report["samples"] == n
    assert report["mismatches_vs_tflm"] == 0 and report["mismatches_vs_tflite_ref"] == report["reference_disagreements"]
    assert report["follows_on_disagreement"]["tflm"] == report["reference_disagreements"]


def test_headline_where_the_references_disagree(shared_models):
    """ad01_int8: TFLite's reference differs from TFLite Micro by 1-2 LSB on its shipped samples;
    the C follows TFLite Micro, and the headline says how many elements and which one."""
    report = validation.validate_file(AD01, samples=0)
    assert report.samples == 5 and report.elements_compared == 5 * 640
    assert report.bit_exact and report.oracle == "tflm"
    n = report.reference_disagreements
    assert n > 0 and report.mismatches_vs_tflite_ref == n
    assert report.follows_on_disagreement == {"tflm": n, "tflite_ref": 0}
    assert validation.headline(report) == (
        f"ad01_int8.tflite: BIT-EXACT: equal to TFLite Micro on all 3,200 output elements of 5 samples; "
        f"TFLite's reference disagrees with TFLite Micro on {n:,} of them and the C follows TFLite Micro"
    )


def test_headline_on_a_mismatch(shared_models, monkeypatch, tmp_path):
    wrong_fc_bias(monkeypatch)
    result = invoke("validate", KWS, "--samples", "1", "--inputs", _save_inputs(tmp_path, 1))
    assert result.exit_code == 1
    assert re.match(
        r"kws_ref_model.tflite: MISMATCH: \d+ of 24 output elements of 2 samples differ from TFLite Micro "
        r"\(max \|diff\| \d+\); first divergent op: op 11 FULLY_CONNECTED",
        result.stdout,
    ), result.stdout


def _save_inputs(folder: Path, count: int, name: str = "x.npy", array=None) -> Path:
    """`count` seeded random kws inputs (or `array`) saved as folder/name."""
    path = folder / name
    if array is None:
        array = np.random.default_rng(7).integers(-128, 128, size=(count, 1, 49, 10, 1)).astype(np.int8)
    np.save(path, array)
    return path


# --- a reference that crashes ----------------------------------------------------------------------


class CrashingTflm(TflmReference):
    """TFLite Micro given a model it really crashes on (SIGSEGV at the first invoke) in place of
    the model under validation: the C is compared with TFLite's reference alone."""

    def __init__(self, data, **options):
        super().__init__(fc_weights_overrun(), **options)


class RefusingTfliteRef(TfliteRefReference):
    def __init__(self, data, **options):
        super().__init__(fc_weights_overrun(), **options)


def test_crash_of_tflm_is_one_line_and_tflite_ref_carries_on(shared_models, monkeypatch, tmp_path):
    monkeypatch.setattr(validation, "TflmReference", CrashingTflm)
    result = invoke("validate", KWS, "--samples", "2", "--inputs", _save_inputs(tmp_path, 1))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "kws_ref_model.tflite: BIT-EXACT: equal to TFLite's reference on all 36 output elements of 3 samples "
        "(TFLite Micro crashed with SIGSEGV at sample 1 of 3: see the notes)"
    )
    assert (
        "  note: TFLite Micro crashed with SIGSEGV at sample 1 of 3 (x.npy[0]): "
        "TFLite's reference is the oracle (it ran every sample)" in lines
    )
    report = json.loads(
        invoke("validate", KWS, "--samples", "2", "--inputs", _save_inputs(tmp_path, 1), "--json").stdout
    )
    assert report["oracle"] == "tflite_ref" and report["references"] == ["tflite_ref"]
    assert report["reference_failures"] == ["TFLite Micro crashed with SIGSEGV at sample 1 of 3 (x.npy[0])"]
    assert_no_worker_left()


def test_crash_with_no_reference_left_is_exit_2(shared_models, monkeypatch, tmp_path):
    monkeypatch.setattr(validation, "TflmReference", CrashingTflm)
    monkeypatch.setattr(validation, "TfliteRefReference", RefusingTfliteRef)
    result = invoke("validate", KWS, "--samples", "2", "--inputs", _save_inputs(tmp_path, 1))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "edgeconv: error: kws_ref_model.tflite: TFLite Micro crashed with SIGSEGV at sample 1 of 3 "
        "(x.npy[0]); no other reference runs this model: nothing to compare with\n"
    )
    assert_no_worker_left()


def softmax_1000() -> bytes:
    """A converter-made 1000-class SOFTMAX head. On a flat input (all logits equal) both TFLite
    Micro and TFLite's reference kernels stop on gemmlowp's assert (SIGABRT; see
    c_runtime/ec_softmax.c); on random logits both run."""
    import tensorflow as tf

    from modelgen import cached_model, tflite_from_function

    return cached_model(
        {"suite": "validation", "op": "softmax", "depth": 1000},
        lambda: tflite_from_function(lambda x: tf.nn.softmax(x), [(1, 1000)], low=-1.0, high=1.0),
    )


def test_both_references_crashing_is_exit_2_in_one_line(tmp_path):
    (tmp_path / "softmax.tflite").write_bytes(softmax_1000())
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(3, 1, 1000)).astype(np.int8)
    x[1] = 0  # flat logits: the second sample
    np.save(tmp_path / "x.npy", x)
    result = invoke("validate", tmp_path / "softmax.tflite", "--samples", "1", "--inputs", tmp_path / "x.npy")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "edgeconv: error: softmax.tflite: TFLite Micro crashed with SIGABRT and TFLite's reference "
        "crashed with SIGABRT at sample 2 of 4 (x.npy[1]); neither reference is left: nothing to compare with\n"
    )
    assert_no_worker_left()


# --- zero samples and bad --inputs ------------------------------------------------------------------

STR_WW = SHARED_MODELS / "mlcommons_tiny" / "str_ww_ref_model.tflite"  # ships no samples


@pytest.mark.parametrize(
    "case, make, words",
    [
        ("no samples at all", None, ["no samples to compare", "--samples is 0"]),
        (
            "empty file",
            lambda tmp_path: _save_inputs(tmp_path, 0, "empty.npy", np.zeros((0, 1, 49, 10, 1), np.int8)),
            ["empty.npy: holds 0 samples"],
        ),
        (
            "scalar",
            lambda tmp_path: _save_inputs(tmp_path, 0, "scalar.npy", np.int8(3)),
            ["scalar.npy: holds a single number, not samples", "(1, 49, 10, 1)", "int8"],
        ),
        ("npz without arrays", "none.npz", ["none.npz: holds no arrays"]),
    ],
)
def test_zero_samples_is_exit_2(shared_models, case, make, words, tmp_path):
    if make is None:
        result = invoke("validate", STR_WW, "--samples", "0")
    else:
        if make == "none.npz":
            path = tmp_path / "none.npz"
            np.savez(path)
        else:
            path = make(tmp_path)
        result = invoke("validate", KWS, "--samples", "0", "--inputs", path)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeconv: error: ")
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize(
    "name, array, words",
    [
        (
            "shape.npy",
            np.zeros((3, 49, 10), np.int8),
            [
                "shape.npy: input 0 ('input_1') takes int8 samples of shape (1, 49, 10, 1) or (49, 10, 1)",
                "holds int8 of shape (3, 49, 10)",
            ],
        ),
        (
            "floats.npy",
            np.zeros((3, 49, 10, 1), np.float32),
            ["floats.npy: input 0 ('input_1') takes int8 samples", "holds float32 values: quantize them first"],
        ),
        (
            "range.npy",
            np.full((2, 49, 10, 1), 200, np.int32),
            ["range.npy", "values from 200 to 200, outside int8's -128..127"],
        ),
        (
            "two.npz",
            {"x0": np.zeros((2, 49, 10, 1), np.int8), "x1": np.zeros((2, 49, 10, 1), np.int8)},
            ["two.npz: holds 2 arrays (x0, x1) but the model takes 1 input"],
        ),
        ("objects.npy", np.array([{"a": 1}], dtype=object), ["objects.npy: holds Python objects (pickled)"]),
        ("garbage.npy", b"not numpy at all", ["garbage.npy: not a .npy or .npz file"]),
        ("truncated.npy", "truncated", ["truncated.npy: a damaged or unreadable .npy/.npz file"]),
        ("missing.npy", None, ["missing.npy: no such inputs file"]),
    ],
)
def test_bad_inputs_file_names_file_shape_and_dtype(shared_models, name, array, words, tmp_path):
    path = tmp_path / name
    if isinstance(array, dict):
        np.savez(path, **array)
    elif isinstance(array, bytes):
        path.write_bytes(array)
    elif isinstance(array, str):
        full = np.zeros((4, 1, 49, 10, 1), np.int8)
        np.save(path, full)
        path.write_bytes(path.read_bytes()[:300])
    elif array is not None:
        np.save(path, array, allow_pickle=True)
    elif path.exists():
        path.unlink()
    result = invoke("validate", KWS, "--samples", "1", "--inputs", path)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for w in words:
        assert w in lines[0], lines[0]
    for internal in ("Error", "Traceback", "cannot reshape"):
        assert internal not in lines[0]


def test_inputs_accepted_with_or_without_batch_dimension_and_cast_when_they_fit(shared_models, tmp_path):
    x = np.random.default_rng(1).integers(-128, 128, size=(3, 49, 10, 1))  # int64, no batch axis
    report = validation.validate_file(KWS, samples=0, inputs_file=_save_inputs(tmp_path, 3, "nobatch.npy", x))
    assert report.samples == 3 and report.bit_exact
    report = validation.validate_file(KWS, samples=0, inputs_file=_save_inputs(tmp_path, 2, "batch.npy"))
    assert report.samples == 2 and report.bit_exact


# --- the terminal and the process table stay clean ---------------------------------------------------


def test_cli_stderr_is_empty_and_no_worker_is_left(shared_models, tmp_path):
    x = np.random.default_rng(2).integers(-128, 128, size=(2, 49, 10, 1))  # int64: cast on the way in
    proc = run_cli("validate", KWS, "--samples", "1", "--inputs", _save_inputs(tmp_path, 2, "ints.npy", x))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith(
        "kws_ref_model.tflite: BIT-EXACT: equal to TFLite Micro on all 36 output elements of 3 samples"
    )
    refused = run_cli(
        "validate",
        KWS,
        "--samples",
        "1",
        "--inputs",
        _save_inputs(tmp_path, 1, "f.npy", np.full((1, 49, 10, 1), np.nan)),
    )
    assert_refused(refused, "f.npy", "float64 values")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_validate_leaves_no_worker(shared_models, sig):
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeconv.cli", "validate", str(KWS), "--samples", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while len(worker_pids(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = worker_pids(proc.pid)
        assert len(workers) == 2
        time.sleep(0.5)
        proc.send_signal(sig)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [w for w in workers if Path(f"/proc/{w}").exists()] == []


def test_no_worker_is_left_after_a_refusal(shared_models):
    with pytest.raises(validation.ModelError, match="no such inputs file"):
        validation.validate_file(KWS, samples=1, inputs_file="/nonexistent/x.npy")
    assert_no_worker_left()


# Its name=value lines only look like the op-option lists of mutants.py, test_op_oracle.py, test_opchecks.py and
# test_ops_transpose_conv.py's _one_op: a shape match, no shared code (these are a report's fields)
def _report(**fields) -> validation.ValidationReport:
    base = dict(
        model="m.tflite",
        samples=3,
        bit_exact=True,
        mismatches_vs_tflm=0,
        mismatches_vs_tflite_ref=0,
        reference_disagreements=0,
        max_abs_diff=0,
        first_divergent_op=None,
        ram_bytes=1,
        flash_bytes=1,
        macs=1,
        arena_lower_bound=1,
        tflm_arena_bytes=1,
        references=["tflite_ref", "tflm"],
        oracle="tflm",
        elements_compared=30,
        follows_on_disagreement={"tflm": 0, "tflite_ref": 0},
    )
    return validation.ValidationReport(**{**base, **fields})


def test_headline_says_why_tflite_reference_is_the_oracle():
    undefined = _report(
        oracle="tflite_ref",
        mismatches_vs_tflm=5,
        reference_disagreements=5,
        follows_on_disagreement={"tflm": 0, "tflite_ref": 5},
        reference_status={"tflm": "has an undefined output for this model"},
    )
    assert validation.headline(undefined) == (
        "m.tflite: BIT-EXACT: equal to TFLite's reference on all 30 output elements of 3 samples; TFLite Micro "
        "disagrees with TFLite's reference on 5 of them and the C follows TFLite's reference "
        "(TFLite Micro has an undefined output for this model: see the notes)"
    )
    refused = _report(
        oracle="tflite_ref",
        references=["tflite_ref"],
        mismatches_vs_tflm=None,
        reference_disagreements=None,
        follows_on_disagreement=None,
        reference_status={"tflm": "refuses the model"},
    )
    assert validation.headline(refused) == (
        "m.tflite: BIT-EXACT: equal to TFLite's reference on all 30 output elements "
        "of 3 samples (TFLite Micro refuses the model: see the notes)"
    )
    split = _report(
        reference_disagreements=4,
        mismatches_vs_tflite_ref=1,
        bit_exact=False,
        mismatches_vs_oracle=3,
        max_abs_diff=1,
        first_divergent_op="op 2 ADD (output tensor 7 'y')",
        follows_on_disagreement={"tflm": 1, "tflite_ref": 3},
    )
    assert validation.headline(split) == (
        "m.tflite: MISMATCH: 3 of 30 output elements of 3 samples differ from TFLite Micro (max |diff| 1); "
        "first divergent op: op 2 ADD (output tensor 7 'y'); TFLite's reference disagrees with TFLite Micro "
        "on 4 of them and the C follows TFLite Micro on 1 and TFLite's reference on 3"
    )


def test_two_input_model_validated_from_shipped_in_xx_j_samples(tmp_path):
    """samples/<stem>/in_XX_J.npy: one sample = all its J files, in input order (input 1 has
    another shape here, so a file given to the wrong input would be refused); an incomplete
    sample, a gap in J, or both forms for one sample are refused in one line."""
    import edgeconv
    from modelgen import cached_model, tflite_from_function

    def build() -> bytes:
        import tensorflow as tf

        return tflite_from_function(lambda x, y: tf.nn.relu(x + 2.0 * y), shapes, seed=3)

    shapes = [(1, 4, 4, 3), (1, 1, 1, 3)]
    data = cached_model(dict(v=1, op="validate_two_inputs", shapes=shapes, seed=3), build)
    model = tmp_path / "two.tflite"
    model.write_bytes(data)
    folder = tmp_path / "samples" / "two"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(3):
        for j, shape in enumerate(shapes):
            np.save(folder / f"in_{i:02d}_{j}.npy", rng.integers(-128, 128, size=shape[1:], dtype=np.int8))
    report = edgeconv.validate(model, samples=0)
    assert report.samples == 3 and report.bit_exact and report.mismatches_vs_tflm == 0

    (folder / "in_01_1.npy").unlink()
    assert_refused(run_cli("validate", model, "--samples", "0"), "in_01_0.npy", "1 file(s)", "2 inputs")
    np.save(folder / "in_01_2.npy", np.zeros(shapes[1][1:], np.int8))
    with pytest.raises(validation.ModelError, match=r"in_01_1\.npy: missing"):
        validation.sample_groups(folder)
    (folder / "in_01_2.npy").rename(folder / "in_01_1.npy")
    np.save(folder / "in_02.npy", np.zeros(shapes[0][1:], np.int8))
    with pytest.raises(validation.ModelError, match="both in_02.npy and in_02_J.npy"):
        validation.sample_groups(folder)
