"""Train -> quantize -> compile for every zoo architecture on bundled data; the accuracy
figures come from real predictions; the demo meets its acceptance line."""

import json
import subprocess
import sys

import numpy as np
import pytest

from edgeconv.checking.validation import validate_file
from edgeconv.emit.emitter import emit
from edgeconv.lowering.compiler import compile_file
from edgeconv.targets.hostbuild import build_and_load
from edgeconv.training import zoo
from edgeconv.training.datasets import load_dataset, split
from edgeconv.training.quantizing import quantize_model
from edgeconv.training.train import TEST_FRACTION, train
from quantize.ptq import quantize_input

# Small knobs keep the suite quick; the architectures' structure is unchanged.
QUICK = {
    "tinyconv": {},
    "dscnn": {"width": 0.5, "depth": 2},
    "resnet8": {"width": 0.5},
    "mobilenetv1": {"width": 0.25, "depth": 6},
    "conv1d": {"width": 0.5},
}


def _c_accuracy(tflite_path, data, seed):
    compiled = compile_file(tflite_path)
    host = build_and_load(compiled, emit(compiled))
    _, test = split(load_dataset(data), TEST_FRACTION, seed)
    t_in = compiled.graph.tensors[compiled.graph.inputs[0]]
    if t_in.dtype == "int8":
        xs = quantize_input(test.x, t_in.quant.s, t_in.quant.zp, np.int8)
    else:
        xs = test.x
    preds = [int(np.argmax(host.run([x.reshape(t_in.shape)])[0])) for x in xs]
    return float(np.mean(np.array(preds) == test.y))


@pytest.mark.parametrize("arch", sorted(zoo.ARCHITECTURES))
def test_zoo_architecture_end_to_end(arch, tmp_path):
    data = zoo.DEFAULT_DATA[arch]
    result = train(arch, data, tmp_path / f"{arch}.keras", epochs=3, seed=0, verbose=0, **QUICK[arch])
    assert result.model_path.exists() and result.history_path.exists() and result.metadata_path.exists()
    assert len(json.loads(result.history_path.read_text())["loss"]) == 3
    report = quantize_model(result.model_path, out=tmp_path / f"{arch}.tflite", calib=64)
    chance = 1.0 / len(load_dataset(data).class_names)
    assert report.float_accuracy > 2 * chance, report
    assert report.layers and all(layer.snr_db is None or layer.snr_db > 5 for layer in report.layers), report.layers
    validation = validate_file(tmp_path / f"{arch}.tflite", samples=10, seed=0)
    assert validation.bit_exact, validation.to_dict()
    # The int8 accuracy the report claims is what the generated C predicts, sample by sample.
    assert _c_accuracy(tmp_path / f"{arch}.tflite", data, 0) == pytest.approx(report.int8_accuracy)


def test_float_io_quantization(tmp_path):
    train("tinyconv", "digits", tmp_path / "m.keras", epochs=2, seed=1, verbose=0)
    report = quantize_model(tmp_path / "m.keras", out=tmp_path / "m.tflite", calib=32, io_type="float32")
    validation = validate_file(tmp_path / "m.tflite", samples=10, seed=1)
    assert validation.bit_exact
    assert _c_accuracy(tmp_path / "m.tflite", "digits", 1) == pytest.approx(report.int8_accuracy)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "edgeconv.cli", *map(str, args)], capture_output=True, text=True)


def test_quantize_refuses_mismatched_data(tmp_path):
    train("tinyconv", "digits", tmp_path / "m.keras", epochs=1, seed=0, verbose=0)
    np.savez(tmp_path / "shape.npz", x=np.zeros((10, 9, 9, 1)), y=np.zeros(10))
    proc = _cli("quantize", tmp_path / "m.keras", "--data", tmp_path / "shape.npz")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "the model takes [8, 8, 1]" in proc.stderr.strip().splitlines()[-1]
    np.savez(tmp_path / "labels.npz", x=np.zeros((10, 8, 8, 1)), y=np.arange(10) + 3)
    proc = _cli("quantize", tmp_path / "m.keras", "--data", tmp_path / "labels.npz")
    assert proc.returncode == 2 and "out of range for 10 classes" in proc.stderr
    assert not (tmp_path / "m.tflite").exists()


def test_demo_acceptance(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "edgeconv.cli", "demo", "--json", "-o", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout)
    assert r["float_accuracy"] >= 0.97
    assert abs(r["int8_accuracy"] - r["float_accuracy"]) <= 0.01
    assert r["c_accuracy"] == r["int8_accuracy"]
    assert r["bit_exact"] is True
    for key in ("ram_bytes", "flash_bytes", "macs"):
        assert r[key] > 0
    assert (tmp_path / "demo" / "c" / "digits_cnn.c").exists()
