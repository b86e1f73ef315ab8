"""Test support: build small int8 .tflite models with the TFLite converter, cached on disk.

A model is described by a JSON-able spec (op parameters and a seed); the converted bytes are
cached under $EDGECONV_CACHE/models (default ~/.cache/edgeconv/models) keyed by the spec and
the TensorFlow version, so a second run does not pay for conversion.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from edgeconv.targets.hostbuild import cache_root
from edgeconv.checking.validation import ValidationReport, validate_bytes


def _cache_root() -> Path:
    root = cache_root() / "models"
    root.mkdir(parents=True, exist_ok=True)
    return root


def cached_model(spec: dict, build: Callable[[], bytes]) -> bytes:
    import tensorflow as tf

    key = hashlib.sha256(json.dumps({"spec": spec, "tf": tf.__version__}, sort_keys=True).encode()).hexdigest()[:32]
    path = _cache_root() / f"{key}.tflite"
    if path.exists():
        return path.read_bytes()
    data = build()
    tmp = path.with_suffix(f".{os.getpid()}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return data


def _representative(input_shapes, seed: int, count: int, low: float, high: float):
    rng = np.random.default_rng(seed + 1000)

    def gen():
        for _ in range(count):
            yield [rng.uniform(low, high, size=s).astype(np.float32) for s in input_shapes]

    return gen


def _convert(converter, input_shapes, seed: int, io_type, calib: int, low: float, high: float,
             per_channel_dense: bool = True, mode: str = "int8") -> bytes:
    """mode "int8": int8 activations and weights; "16x8": int16 activations, int8 weights (the
    converter's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8), where io_type
    "int8" means int16 model edges."""
    import tensorflow as tf

    if not per_channel_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(input_shapes, seed, calib, low, high)
    if mode == "16x8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        if io_type is not None:
            io_type = tf.int16
    elif mode == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    else:
        raise ValueError(f"mode {mode!r}: int8 or 16x8")
    if io_type is not None:
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    return converter.convert()


def tflite_from_keras(model, seed: int = 0, io_type="int8", calib: int = 32, low: float = -1.0, high: float = 1.0,
                      per_channel_dense: bool = True, mode: str = "int8") -> bytes:
    """Full-integer conversion of a Keras model; io_type 'int8', 'uint8' or None (float edges);
    per_channel_dense=False gives FULLY_CONNECTED weights one scale (older converters' form)."""
    import tensorflow as tf

    shapes = [tuple(int(d) if d is not None else 1 for d in i.shape) for i in model.inputs]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return _convert(converter, shapes, seed, _io(io_type), calib, low, high, per_channel_dense, mode)


def tflite_from_function(fn, input_shapes, seed: int = 0, io_type="int8", calib: int = 32, low: float = -1.0, high: float = 1.0,
                        mode: str = "int8") -> bytes:
    """Full-integer conversion of a tf.function over float inputs of the given shapes."""
    import tensorflow as tf

    specs = [tf.TensorSpec(s, tf.float32) for s in input_shapes]
    concrete = tf.function(fn).get_concrete_function(*specs)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    return _convert(converter, [tuple(s) for s in input_shapes], seed, _io(io_type), calib, low, high, mode=mode)


def _io(io_type):
    import tensorflow as tf

    return {"int8": tf.int8, "uint8": tf.uint8, None: None, "float32": None}[io_type]


def seeded_keras(seed: int) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)


def assert_bit_exact(data: bytes, label: str, samples: int = 8, seed: int = 0,
                     extra_inputs: list | None = None) -> ValidationReport:
    report = validate_bytes(data, label, samples=samples, seed=seed, extra_inputs=extra_inputs)
    assert "tflm" in report.references, f"{label}: TFLite Micro did not run the model: {report.notes}"
    assert report.bit_exact, (
        f"{label}: {report.mismatches_vs_tflm} elements differ from TFLite Micro "
        f"(max |diff| {report.max_abs_diff}); first divergent op: {report.first_divergent_op}"
    )
    return report


def oracle_is(report: ValidationReport, oracle: str) -> bool:
    """The report was measured against `oracle`; "tflite_ref" (TFLite Micro lacks an op) also
    holds where TFLite Micro ran the rest of the model op by op and TFLite's reference the ops
    it lacks (validation's "tflm_ops", its notes naming those ops)."""
    if oracle == "tflite_ref" and report.oracle == "tflm_ops":
        return any("TFLite's reference kernels ran" in n for n in report.notes)
    return report.oracle == oracle


def assert_exact_vs_oracle(data: bytes, label: str, samples: int = 8, seed: int = 0) -> ValidationReport:
    """Bit-exact against whichever oracle validation chose: TFLite Micro, or TFLite's reference
    kernels where TFLite Micro refuses or fails the model (an op it lacks in int16, say); the
    report's notes must then say why. Every output element of every sample is compared."""
    report = validate_bytes(data, label, samples=samples, seed=seed)
    assert report.elements_compared > 0, f"{label}: nothing compared: {report.notes}"
    if report.oracle != "tflm":
        assert report.notes, f"{label}: the oracle is {report.oracle} and no note says why"
    assert report.bit_exact, (
        f"{label}: {report.mismatches_vs_oracle} elements differ from the oracle ({report.oracle}; max |diff| "
        f"{report.max_abs_diff}); first divergent op: {report.first_divergent_op}; notes: {report.notes}"
    )
    return report
