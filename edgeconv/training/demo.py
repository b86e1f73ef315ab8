"""`edgeconv demo`: the whole pipeline on bundled data, end to end.

Trains a small CNN (tinyconv) on scikit-learn's 8x8 digits, quantizes it to int8, compiles it
to C, builds that C on the host and checks it: accuracy of the float model, the int8 model
(under TFLite Micro) and the generated C on the same held-out test split, and bit-exactness
against both references.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

DEMO_ARCH = "tinyconv"
DEMO_DATA = "digits"
DEMO_NAME = "digits_cnn"
# Chosen so that the float model clears 97% on the test split with margin (98.6% at seed 0).
DEMO_TRAINING = dict(epochs=30, batch_size=32, learning_rate=3e-3, width=2.0)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_demo(
    out_dir: str | Path = "edgeconv-demo", seed: int = 0, say: Callable[[str], None] = _say, force: bool = False
) -> dict:
    """Every step works in a private temporary folder; at the end the models go into out_dir and
    the C into out_dir/c in one publication (outputs.py), so an interrupted demo leaves
    out_dir as it was and a user's file there is never overwritten (unless `force`)."""
    from edgeconv.checking.validation import validate_bytes
    from edgeconv.outputs import FolderWrite, check_writable, publish, read_files, text_files
    from edgeconv.targets.hostbuild import build_and_load
    from edgeconv.training.datasets import load_dataset, split
    from edgeconv.training.train import TEST_FRACTION, history_path_for, metadata_path_for
    from quantize.ptq import quantize_input

    start = time.monotonic()
    out = Path(out_dir)
    c_dir = out / "c"
    job = f"demo:{DEMO_NAME}"
    model_names = [
        f"{DEMO_NAME}.keras",
        f"{DEMO_NAME}.history.json",
        f"{DEMO_NAME}.edgeconv.json",
        f"{DEMO_NAME}.tflite",
    ]
    check_writable(out, job, model_names, force=force)
    with tempfile.TemporaryDirectory(prefix="edgeconv-demo-") as tmp:
        work = Path(tmp)
        trained, q, compiled, emitted = _run_steps(work, seed, say)
        check_writable(c_dir, job, sorted(emitted.files), force=force)
        models = read_files(
            work,
            [
                trained.model_path.name,
                history_path_for(trained.model_path).name,
                metadata_path_for(trained.model_path).name,
                f"{DEMO_NAME}.tflite",
            ],
        )
        tflite_bytes = models[f"{DEMO_NAME}.tflite"]
    model_path = out / f"{DEMO_NAME}.keras"
    tflite_path = out / f"{DEMO_NAME}.tflite"

    say("[4/5] building the C on the host and running the test split")
    host = build_and_load(compiled, emitted)
    _, test = split(load_dataset(DEMO_DATA), TEST_FRACTION, seed)
    t_in = compiled.graph.tensors[compiled.graph.inputs[0]]
    xq = quantize_input(test.x, t_in.quant.s, t_in.quant.zp, np.int8).reshape((-1, *t_in.shape))
    c_pred = np.array([int(np.argmax(host.run([x])[0])) for x in xq])
    c_accuracy = float(np.mean(c_pred == test.y))
    say(f"      C accuracy {c_accuracy:.4f}")

    say("[5/5] checking bit-exactness against TFLite Micro and TFLite's reference kernels")
    report = validate_bytes(tflite_bytes, tflite_path.name, samples=50, seed=seed, extra_inputs=[[x] for x in xq])
    publish([FolderWrite(out, job, models), FolderWrite(c_dir, job, text_files(emitted.files))], force=force)
    return {
        "float_accuracy": round(trained.float_accuracy, 6),
        "int8_accuracy": round(q.int8_accuracy, 6),
        "c_accuracy": round(c_accuracy, 6),
        "bit_exact": report.bit_exact,
        "validated_samples": report.samples,
        "test_samples": int(len(test.y)),
        "ram_bytes": compiled.ram_bytes,
        "flash_bytes": emitted.flash_const_bytes,
        "macs": compiled.macs,
        "output_dir": str(out),
        "model_keras": str(model_path),
        "model_tflite": str(tflite_path),
        "c_sources": str(c_dir),
        "seconds": round(time.monotonic() - start, 1),
    }


def _run_steps(work: Path, seed: int, say: Callable[[str], None]):
    """Train, quantize and compile inside `work`."""
    from edgeconv.emit.emitter import emit
    from edgeconv.lowering.compiler import compile_file
    from edgeconv.training.quantizing import quantize_model
    from edgeconv.training.train import train

    model_path = work / f"{DEMO_NAME}.keras"
    tflite_path = work / f"{DEMO_NAME}.tflite"
    say(f"[1/5] training {DEMO_ARCH} on {DEMO_DATA} ({DEMO_TRAINING['epochs']} epochs)")
    trained = train(DEMO_ARCH, DEMO_DATA, model_path, seed=seed, verbose=0, **DEMO_TRAINING)
    say(f"      float accuracy {trained.float_accuracy:.4f} on the test split")

    say("[2/5] quantizing to int8 (200 calibration samples)")
    q = quantize_model(model_path, out=tflite_path, calib=200, seed=seed)
    say(f"      int8 accuracy {q.int8_accuracy:.4f}")

    say("[3/5] compiling to C")
    compiled = compile_file(tflite_path, name=DEMO_NAME)
    return trained, q, compiled, emit(compiled)
