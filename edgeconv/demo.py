"""`edgeconv demo`: the whole pipeline on bundled data, end to end.

Trains a small CNN (tinyconv) on scikit-learn's 8x8 digits, quantizes it to int8, compiles it
to C, builds that C on the host and checks it: accuracy of the float model, the int8 model
(under TFLite Micro) and the generated C on the same held-out test split, and bit-exactness
against both references.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

DEMO_ARCH = "tinyconv"
DEMO_DATA = "digits"
DEMO_NAME = "digits_cnn"
# Chosen so that the float model clears 97% on the test split with margin (98.6% at seed 0).
DEMO_TRAINING = dict(epochs=30, batch_size=32, learning_rate=3e-3, width=2.0)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_demo(out_dir: str | Path = "edgeconv-demo", seed: int = 0, say: Callable[[str], None] = _say) -> dict:
    from quantize.ptq import quantize_input, quantize_model

    from .compiler import compile_file
    from .datasets import load_dataset, split
    from .emitter import emit, write_output
    from .hostbuild import build_and_load
    from .training import TEST_FRACTION, train
    from .validation import validate_bytes

    start = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"{DEMO_NAME}.keras"
    tflite_path = out / f"{DEMO_NAME}.tflite"
    c_dir = out / "c"

    say(f"[1/5] training {DEMO_ARCH} on {DEMO_DATA} ({DEMO_TRAINING['epochs']} epochs)")
    trained = train(DEMO_ARCH, DEMO_DATA, model_path, seed=seed, verbose=0, **DEMO_TRAINING)
    say(f"      float accuracy {trained.float_accuracy:.4f} on the test split")

    say("[2/5] quantizing to int8 (200 calibration samples)")
    q = quantize_model(model_path, out=tflite_path, calib=200, seed=seed)
    say(f"      int8 accuracy {q.int8_accuracy:.4f}")

    say("[3/5] compiling to C")
    compiled = compile_file(tflite_path, name=DEMO_NAME)
    emitted = emit(compiled)
    write_output(emitted, c_dir)

    say("[4/5] building the C on the host and running the test split")
    host = build_and_load(compiled, emitted)
    _, test = split(load_dataset(DEMO_DATA), TEST_FRACTION, seed)
    t_in = compiled.graph.tensors[compiled.graph.inputs[0]]
    xq = quantize_input(test.x, t_in.quant.s, t_in.quant.zp, np.int8).reshape((-1, *t_in.shape))
    c_pred = np.array([int(np.argmax(host.run([x])[0])) for x in xq])
    c_accuracy = float(np.mean(c_pred == test.y))
    say(f"      C accuracy {c_accuracy:.4f}")

    say("[5/5] checking bit-exactness against TFLite Micro and TFLite's reference kernels")
    report = validate_bytes(tflite_path.read_bytes(), tflite_path.name, samples=50, seed=seed,
                            extra_inputs=[[x] for x in xq])
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
