"""edgeconv evaluate: float / int8 (TFLite Micro) / C accuracy on labelled data.

The digits model is trained and quantized once (4 epochs) and cached under
$EDGECONV_CACHE/evaluate, keyed by its recipe and the TensorFlow version."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import edgeconv
from conftest import assert_refused, require_tools, run_cli
from edgeconv.frontend.ir import ModelError

KWS = "mlcommons_tiny/kws_ref_model.tflite"
KWS_SAMPLES = "mlcommons_tiny/samples/kws_ref_model"
AD01 = "mlcommons_tiny/ad01_int8.tflite"
AD01_SAMPLES = "mlcommons_tiny/samples/ad01_int8"
MICRO_SPEECH = "tflite_micro/micro_speech_quantized.tflite"
MICRO_SPEECH_SAMPLES = "tflite_micro/samples/micro_speech_quantized"

# The demo's architecture and data, fewer epochs (the demo trains 30).
DIGITS_RECIPE = {
    "arch": "tinyconv",
    "data": "digits",
    "epochs": 4,
    "seed": 0,
    "width": 1.0,
    "learning_rate": 3e-3,
    "calib": 100,
}


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> dict:
    """A digits model (.keras and .tflite), its test split as test.npz, and what train and
    quantize measured on that split; built once, cached on disk."""
    import tensorflow as tf

    from edgeconv.targets.hostbuild import cache_root

    key = hashlib.sha256(json.dumps({"recipe": DIGITS_RECIPE, "tf": tf.__version__}, sort_keys=True).encode())
    folder = cache_root() / "evaluate" / key.hexdigest()[:24]
    if not (folder / "figures.json").exists():
        from edgeconv.training.datasets import load_dataset, split
        from edgeconv.training.train import TEST_FRACTION

        work = Path(str(folder) + f".{os.getpid()}.partial")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        r = DIGITS_RECIPE
        t = edgeconv.train(
            r["arch"],
            r["data"],
            work / "digits.keras",
            epochs=r["epochs"],
            seed=r["seed"],
            width=r["width"],
            learning_rate=r["learning_rate"],
            verbose=0,
        )
        q = edgeconv.quantize(work / "digits.keras", out=work / "digits.tflite", calib=r["calib"], seed=r["seed"])
        _, test = split(load_dataset("digits"), TEST_FRACTION, r["seed"])
        np.savez(work / "test.npz", x=test.x, y=test.y)
        (work / "figures.json").write_text(
            json.dumps({"float": t.float_accuracy, "int8": q.int8_accuracy, "samples": q.test_samples})
        )
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(work, folder)
    # A private copy: reports are written beside the files.
    here = tmp_path_factory.mktemp("digits")
    for name in ("digits.keras", "digits.tflite", "test.npz", "figures.json"):
        shutil.copy(folder / name, here / name)
    return {
        "dir": here,
        "keras": here / "digits.keras",
        "tflite": here / "digits.tflite",
        "npz": here / "test.npz",
        **json.loads((here / "figures.json").read_text()),
    }


def cli_json(*args) -> dict:
    proc = run_cli("evaluate", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_digits_float_int8_and_c(digits):
    """The demo's model with --float: float, int8 and C accuracy on the test split; the int8
    figure is the one quantize measured on the same split (TFLite Micro), the float one
    train's; the C equals the int8 model exactly; API == --json; the HTML report embeds both
    confusion matrices."""
    report = digits["dir"] / "eval.html"
    api = edgeconv.evaluate(digits["tflite"], digits["npz"], float_model=digits["keras"], report=report)
    assert api.samples == digits["samples"] == 359
    assert api.c_equals_int8 and api.c_mismatches == 0 and api.c_elements_compared == 359 * 10
    assert api.first_c_mismatch is None
    assert api.int8_accuracy == api.c_accuracy == pytest.approx(digits["int8"], abs=1e-12)
    assert api.float_accuracy == pytest.approx(digits["float"], abs=1e-12)
    assert api.float_accuracy > 0.9 and api.int8_accuracy > 0.9
    (out,) = api.outputs
    assert out["kind"] == "classification" and out["classes"] == 10 and out["class_names"] is None
    for runner in ("float", "int8", "c"):
        s = out["scores"][runner]
        confusion = np.array(s["confusion"])
        assert confusion.sum() == 359 and np.trace(confusion) == s["correct"]
        assert s["top1"] == s["correct"] / 359 and s["top_k"] >= s["top1"]
        counts = confusion.sum(axis=1)
        assert s["recall"] == [confusion[c, c] / counts[c] for c in range(10)]
        assert s["balanced"] == pytest.approx(np.mean(s["recall"]), abs=1e-15)
    assert out["scores"]["int8"] == out["scores"]["c"]
    wrong = 359 - out["scores"]["c"]["correct"]
    assert len(out["misclassified"]) == min(20, wrong) and all(
        m["true"] != m["predicted"] for m in out["misclassified"]
    )
    assert out["misclassified"][0]["sample"].startswith("test.npz[")
    assert 0.9 < out["float_int8_agreement"] <= 1.0
    html = report.read_text()
    assert api.report == str(report) and html.count("data:image/png;base64,") == 2  # float, C = int8
    assert "equals the int8 model exactly" in html

    # API == --json (without the float model: TensorFlow starts once per test run, not twice)
    png = digits["dir"] / "confusion.png"
    cli = cli_json(digits["tflite"], "--data", digits["npz"], "--top-k", 3, "--report", png)
    api = edgeconv.evaluate(digits["tflite"], digits["npz"], top_k=3, report=png)
    assert cli == api.to_dict() and cli["float_accuracy"] is None and cli["report"] == str(png)
    assert cli["outputs"][0]["scores"]["c"]["top_k"] >= cli["c_accuracy"]
    from matplotlib.image import imread

    image = imread(png)
    assert image.ndim == 3 and image.shape[0] >= 300 and len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 10


def test_digits_text_fits_80_columns(digits):
    proc = run_cli("evaluate", digits["tflite"], "--data", digits["npz"], "--top-k", 3)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, proc.stdout
    assert lines[0] == "digits.tflite on test.npz: 359 samples"
    assert any("top-3" in line for line in lines) and any(line.startswith("    true\\pred") for line in lines)
    assert "C equals the int8 model exactly: all 3,590 output elements" in proc.stdout
    # a report file edgeconv did not write is the user's: refused, and left as it was
    mine = digits["dir"] / "mine.png"
    mine.write_bytes(b"user's")
    proc = run_cli("evaluate", digits["tflite"], "--data", digits["npz"], "--report", mine)
    assert_refused(proc, "mine.png")
    assert mine.read_bytes() == b"user's"


def test_kws_shared_samples(shared_models):
    """The shared model's labelled samples (in_XX.npy + INDEX.txt): int8 and C top-1 on the 10
    labelled ones (in_10 has label=None and is left out, said in a note)."""
    r = edgeconv.evaluate(shared_models / KWS, shared_models / KWS_SAMPLES)
    assert r.samples == 10 and r.int8_runner == "TFLite Micro" and r.c_runner == "host"
    assert r.int8_accuracy == r.c_accuracy == 1.0
    assert r.c_equals_int8 and r.c_elements_compared == 120
    (out,) = r.outputs
    assert out["classes"] == 12 and out["scores"]["c"]["correct"] == 10 and out["scores"]["float"] is None
    assert out["scores"]["c"]["recall"][1] is None  # no sample of class 1
    assert out["misclassified"] == []
    assert any("in_10.npy: label=None" in n for n in r.notes)


def test_ad01_reconstruction(shared_models, tmp_path):
    """An autoencoder: its output is scored against its input (real units) and the 0/1 labels
    give the anomaly score's ROC AUC; the same figures from an .npz whose y is the input."""
    r = edgeconv.evaluate(shared_models / AD01, shared_models / AD01_SAMPLES)
    (out,) = r.outputs
    assert out["kind"] == "reconstruction" and out["elements"] == 640 and r.int8_accuracy is None
    c = out["scores"]["c"]
    assert c == out["scores"]["int8"] and r.c_equals_int8
    assert c["rmse"] == pytest.approx(3.3410, abs=5e-4)
    assert c["cosine"] == pytest.approx(0.9940, abs=5e-5)
    assert c["max_abs_error"] == pytest.approx(17.38, abs=5e-3)
    assert c["anomaly_auc"] == pytest.approx(1 / 3)
    assert set(c["mse_by_label"]) == {"0", "1"}

    # the same as plain regression: x the stored int8 samples, y their real values
    files = sorted((shared_models / AD01_SAMPLES).glob("in_*.npy"))
    x = np.stack([np.load(f).reshape(640) for f in files])
    from edgeconv.frontend.reader import read_tflite_bytes

    g = read_tflite_bytes((shared_models / AD01).read_bytes())
    q = g.tensors[g.inputs[0]].quant
    np.savez(tmp_path / "ad01.npz", x=x, y=(x.astype(np.float64) - q.zp) * q.s)
    r2 = edgeconv.evaluate(shared_models / AD01, tmp_path / "ad01.npz")
    s = r2.outputs[0]["scores"]["c"]
    assert r2.outputs[0]["kind"] == "regression" and r2.samples == len(files)
    if len(files) == r.samples:
        assert s["rmse"] == pytest.approx(c["rmse"], rel=1e-9) and s["cosine"] == pytest.approx(c["cosine"], rel=1e-9)
    proc = run_cli("evaluate", shared_models / AD01, "--data", shared_models / AD01_SAMPLES)
    assert proc.returncode == 0 and "reconstruction of the input" in proc.stdout and "anomaly ROC AUC" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80, proc.stdout


def test_bad_data_one_line_exit_2(shared_models, tmp_path):
    model = shared_models / KWS
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(6, 49, 10, 1), dtype=np.int64).astype(np.int8)
    np.savez(tmp_path / "shape.npz", x=x[:, :40], y=np.zeros(6, np.int64))
    assert_refused(run_cli("evaluate", model, "--data", tmp_path / "shape.npz"), "shape.npz", "shape")
    np.savez(tmp_path / "noy.npz", x=x)
    assert_refused(run_cli("evaluate", model, "--data", tmp_path / "noy.npz"), "noy.npz", "holds no y")
    np.savez(tmp_path / "range.npz", x=x, y=np.array([0, 1, 2, 3, 12, 5]))
    assert_refused(run_cli("evaluate", model, "--data", tmp_path / "range.npz"), "label 12 is out of range", "0..11")

    # the same refusals through the API, and the other ways data can be wrong
    def refused(path, *words):
        with pytest.raises(ModelError) as info:
            edgeconv.evaluate(model, path)
        for w in words:
            assert w in str(info.value), str(info.value)

    refused(tmp_path / "range.npz", "label 12 is out of range")
    np.savez(tmp_path / "neg.npz", x=x, y=np.array([0, 1, -1, 3, 4, 5]))
    refused(tmp_path / "neg.npz", "label -1 is out of range")
    np.savez(tmp_path / "frac.npz", x=x, y=np.array([0, 1, 2.5, 3, 4, 5]))
    refused(tmp_path / "frac.npz", "whole numbers", "2.5")
    np.savez(tmp_path / "count.npz", x=x, y=np.zeros(5, np.int64))
    refused(tmp_path / "count.npz", "different numbers of samples")
    np.savez(tmp_path / "onehot.npz", x=x, y=np.eye(10)[[0, 1, 2, 3, 4, 5]])
    refused(tmp_path / "onehot.npz", "(10,) per sample", "12")
    np.savez(tmp_path / "nanx.npz", x=np.full((6, 49, 10, 1), np.nan, np.float32), y=np.zeros(6, np.int64))
    refused(tmp_path / "nanx.npz", "NaN")
    np.savez(tmp_path / "wide.npz", x=x.astype(np.int64) + 200, y=np.zeros(6, np.int64))
    refused(tmp_path / "wide.npz", "outside int8")
    np.save(tmp_path / "plain.npy", x)
    refused(tmp_path / "plain.npy", "not an .npz")
    np.savez(tmp_path / "obj.npz", x=np.array([object()], dtype=object), y=np.zeros(1))
    refused(tmp_path / "obj.npz", "pickled")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really")
    refused(tmp_path / "junk.npz", "damaged")
    refused(tmp_path / "missing.npz", "no such data file")
    folder = tmp_path / "samples"
    folder.mkdir()
    np.save(folder / "in_00.npy", x[0])
    refused(folder, "INDEX.txt")
    (folder / "INDEX.txt").write_text("in_00.npy\tsomething\tlabel=3.5\n")
    refused(folder, "label=3.5", "whole number")
    with pytest.raises(ModelError, match="--report"):
        edgeconv.evaluate(model, shared_models / KWS_SAMPLES, report=tmp_path / "r.pdf")


def test_c_differing_from_int8_exits_1(shared_models, monkeypatch, capsys):
    """A C whose output differs (a host build made to add 1 to one element) is loud: exit 1,
    the count and the first differing element named."""
    import edgeconv.targets.hostbuild as hostbuild
    from edgeconv.cli import main

    real = hostbuild.build_and_load

    def skewed(model, emitted):
        host = real(model, emitted)
        run = host.run

        def run_skewed(inputs):
            outs = run(inputs)
            v = outs[0].reshape(-1)  # a view: the output's 4th element, one LSB off
            v[3] = v[3] + 1 if v[3] < 127 else v[3] - 1
            return outs

        host.run = run_skewed
        return host

    monkeypatch.setattr(hostbuild, "build_and_load", skewed)
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(shared_models / KWS), "--data", str(shared_models / KWS_SAMPLES)])
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "C DIFFERS from the int8 model on 10 of 120 output elements" in out
    assert "first: sample 0 (in_00.npy), output 0 ('Identity') element [0, 3]" in out


def test_multi_output_model(tmp_path):
    """Any .tflite with several outputs: each is scored on its own (class indices, regression
    targets, 0/1 labels of a sigmoid), and the C equals TFLite Micro on all of them."""
    from modelgen import cached_model, seeded_keras, tflite_from_keras

    def build() -> bytes:
        import tensorflow as tf

        seeded_keras(3)
        inp = tf.keras.Input((12,), batch_size=1)
        h = tf.keras.layers.Dense(16, activation="relu")(inp)
        cls = tf.keras.layers.Dense(5, activation="softmax", name="cls")(h)
        reg = tf.keras.layers.Dense(3, name="reg")(h)
        yes = tf.keras.layers.Dense(1, activation="sigmoid", name="yes")(h)
        return tflite_from_keras(tf.keras.Model(inp, [cls, reg, yes]), seed=3)

    data = cached_model({"test": "evaluate_three_heads", "seed": 3}, build)
    from edgeconv.frontend.reader import read_tflite_bytes

    g = read_tflite_bytes(data)
    sizes = [int(np.prod(g.tensors[t].shape)) for t in g.outputs]
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, size=(40, 12)).astype(np.float32)
    ys = {
        f"y{j}": {5: rng.integers(0, 5, size=40), 3: rng.normal(size=(40, 3)), 1: rng.integers(0, 2, size=40)}[n]
        for j, n in enumerate(sizes)
    }
    np.savez(tmp_path / "two.npz", x=x, **ys)
    r = edgeconv.evaluate(data, tmp_path / "two.npz", name="two")
    assert r.model == "two" and r.c_equals_int8 and r.c_elements_compared == 40 * 9
    kinds = {o["elements"]: (o["kind"], o.get("binary")) for o in r.outputs}
    assert kinds == {5: ("classification", False), 3: ("regression", None), 1: ("classification", True)}
    # the scores are what the int8 model's outputs give
    from edgeconv.checking.references import TflmReference
    from quantize.ptq import quantize_input

    q_in = g.tensors[g.inputs[0]].quant
    xq = quantize_input(x, q_in.s, q_in.zp, np.int8)
    with TflmReference(data) as ref:
        outs = [ref.run([xq[i].reshape(1, 12)], 3) for i in range(40)]
    for o in r.outputs:
        t = g.tensors[g.outputs[o["index"]]]
        real = np.stack([(out[o["index"]].reshape(-1).astype(np.float64) - t.quant.zp) * t.quant.s for out in outs])
        y = ys[f"y{o['index']}"]
        if o.get("binary"):
            assert o["scores"]["c"]["top1"] == np.mean((real[:, 0] >= 0.5) == y) and o["classes"] == 2
        elif o["kind"] == "classification":
            assert o["scores"]["c"]["top1"] == np.mean(np.argmax(real, axis=1) == y)
        else:
            assert o["scores"]["c"]["rmse"] == pytest.approx(np.sqrt(np.mean((real - y) ** 2)), rel=1e-12)
    # one y for a model with three outputs: refused, naming y0, y1 and y2
    np.savez(tmp_path / "one.npz", x=x, y=ys["y0"])
    with pytest.raises(ModelError, match="y0, y1, y2"):
        edgeconv.evaluate(data, tmp_path / "one.npz")


def _need_emulator():
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")


def test_board_runs_the_c_emulated(shared_models):
    _need_emulator()
    r = edgeconv.evaluate(shared_models / MICRO_SPEECH, shared_models / MICRO_SPEECH_SAMPLES, board="cortex-m4")
    assert r.board == "cortex-m4" and r.c_runner == "emulated cortex-m4"
    assert r.samples == 2 and r.int8_accuracy == r.c_accuracy == 1.0 and r.c_equals_int8


def test_confusion_text_and_auc():
    from edgeconv.reports.evaluate import confusion_lines, roc_auc

    small = confusion_lines([[3, 1], [0, 2]], ["yes", "no"])
    assert small == ["true\\pred   0  1", "0 yes       3  1", "1 no        .  2"]
    k = 30
    m = np.eye(k, dtype=int) * 5
    m[4, 7] = 3
    m[2, 1] = 1
    lines = confusion_lines(m.tolist(), None, 80)
    assert "too many for 80 columns" in lines[0] and len(lines) == 3
    assert lines[1].split()[0] == "3" and "true 4" in lines[1] and "predicted 7" in lines[1]
    assert all(len(line) <= 80 for line in lines)
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])) == 0.75
    assert roc_auc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5
    assert roc_auc(np.array([1.0]), np.array([True])) is None
    from edgeconv.reports.evaluate import match_float_outputs

    a, b = np.zeros((2, 3)), np.ones((2, 5))
    assert [o.shape[1] for o in match_float_outputs([a, b], [5, 3])] == [5, 3]  # by size
    assert [o.shape[1] for o in match_float_outputs([a, b], [3, 5])] == [3, 5]


def test_model_tflite_micro_refuses_runs_op_by_op(tmp_path):
    """FULLY_CONNECTED -> EXP: TFLite Micro lacks EXP, so the int8 model runs op by op (TFLite
    Micro per op, TFLite's reference for EXP), as validate's oracle does; the C equals it."""
    from edgeconv.checking.op_oracle import TITLE
    from mutants import Net

    rng = np.random.default_rng(11)
    n = Net()
    x = n.tensor("input", [1, 16], scale=0.05, zp=-3)
    fs = rng.uniform(0.002, 0.02, 10).astype(np.float32)
    fw = n.tensor("fc_w", [10, 16], scale=fs, zp=[0] * 10, data=rng.integers(-127, 128, (10, 16)))
    fb = n.tensor("fc_b", [10], "int32", scale=np.float32(0.05) * fs, zp=[0] * 10, data=rng.integers(-900, 900, 10))
    y = n.tensor("fc_out", [1, 10], scale=0.09, zp=-2)
    n.op("FULLY_CONNECTED", [x, fw, fb], [y], fusedActivationFunction=0, keepNumDims=False)
    e = n.tensor("exp_out", [1, 10], scale=0.2, zp=-128)
    n.op("EXP", [y], [e])
    data = n.finish([x], [e])
    xs = rng.integers(-128, 128, size=(24, 16)).astype(np.int8)
    np.savez(tmp_path / "exp.npz", x=xs, y=rng.integers(0, 10, size=24))
    r = edgeconv.evaluate(data, tmp_path / "exp.npz", name="fc_exp")
    assert r.int8_runner == TITLE and r.c_equals_int8 and r.c_elements_compared == 240
    assert any("TFLite Micro refuses the model" in note and "EXP" in note for note in r.notes), r.notes
    assert 0.0 <= r.c_accuracy == r.int8_accuracy <= 1.0


def test_class_names_from_the_model_then_the_data(shared_models, tmp_path):
    """Class names: the model's own (labels metadata, edgeconv/frontend/labels.py) first, else the .npz's
    class_names; the printed matrix and recall use them."""
    from edgeconv.frontend.labels import add_labels
    from edgeconv.reports.evaluate import confusion_lines

    files = sorted((shared_models / KWS_SAMPLES).glob("in_0*.npy"))  # in_00..in_09: labelled
    x = np.stack([np.load(f) for f in files])
    y = np.array([7, 2, 6, 8, 5, 0, 8, 9, 4, 3])  # INDEX.txt's labels of in_00..in_09
    words = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence", "unknown"]
    np.savez(tmp_path / "kws.npz", x=x, y=y, class_names=np.array(words))
    r = edgeconv.evaluate(shared_models / KWS, tmp_path / "kws.npz")
    assert r.outputs[0]["class_names"] == words and r.c_accuracy == 1.0
    assert r.outputs[0]["scores"]["c"]["confusion"][7][7] == 1  # "stop"
    assert (
        confusion_lines(r.outputs[0]["scores"]["c"]["confusion"], words)[8]
        == "7 stop       .  .  .  .  .  .  .  1  .  .  .  ."
    )
    upper = [w.upper() for w in words]
    labelled = add_labels((shared_models / KWS).read_bytes(), upper)
    r = edgeconv.evaluate(labelled, tmp_path / "kws.npz", name="kws_ref_model")  # the same C: built once
    assert r.outputs[0]["class_names"] == upper
