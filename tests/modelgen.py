"""Test support: build small int8 .tflite models with the TFLite converter, cached on disk.

A model is described by a JSON-able spec (op parameters and a seed); the converted bytes are
cached under $EDGECONV_CACHE/models (default ~/.cache/edgeconv/models) keyed by the spec and
the TensorFlow version, so a second run does not pay for conversion.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeconv.checking.validation import ValidationReport, validate_bytes
from edgeconv.outputs import write_atomically
from edgeconv.targets.hostbuild import cache_root


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
    write_atomically(path, data)
    return data


def _representative(input_shapes, seed: int, count: int, low: float, high: float):
    rng = np.random.default_rng(seed + 1000)

    def gen():
        for _ in range(count):
            yield [rng.uniform(low, high, size=s).astype(np.float32) for s in input_shapes]

    return gen


def _convert(
    converter,
    input_shapes,
    seed: int,
    io_type,
    calib: int,
    low: float,
    high: float,
    per_channel_dense: bool = True,
    mode: str = "int8",
) -> bytes:
    """mode "int8": int8 activations and weights; "16x8": int16 activations, int8 weights (the
    converter's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8), where io_type
    "int8" means int16 model edges."""
    import tensorflow as tf

    if not per_channel_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(input_shapes, seed, calib, low, high)
    if mode == "16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
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


# Its parameters repeat tflite_from_function's (below): both hand them on to _convert, the one shared body;
# kept as two entry points because a Keras model and a tf.function convert differently
def tflite_from_keras(
    model,
    seed: int = 0,
    io_type="int8",
    calib: int = 32,
    low: float = -1.0,
    high: float = 1.0,
    per_channel_dense: bool = True,
    mode: str = "int8",
) -> bytes:
    """Full-integer conversion of a Keras model; io_type 'int8', 'uint8' or None (float edges);
    per_channel_dense=False gives FULLY_CONNECTED weights one scale (older converters' form)."""
    import tensorflow as tf

    shapes = [tuple(int(d) if d is not None else 1 for d in i.shape) for i in model.inputs]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return _convert(converter, shapes, seed, _io(io_type), calib, low, high, per_channel_dense, mode)


# Like tflite_from_keras above (same calibration parameters, same _convert), but for a tf.function over shapes
def tflite_from_function(
    fn,
    input_shapes,
    seed: int = 0,
    io_type="int8",
    calib: int = 32,
    low: float = -1.0,
    high: float = 1.0,
    mode: str = "int8",
) -> bytes:
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


def assert_bit_exact(
    data: bytes, label: str, samples: int = 8, seed: int = 0, extra_inputs: list | None = None
) -> ValidationReport:
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


def assert_exact_vs(
    oracle: str, data: bytes, label: str, samples: int = 6, seed: int = 0, extra_inputs: list | None = None
) -> ValidationReport:
    """Bit-exact against the named oracle ("tflm", or "tflite_ref" where TFLite Micro lacks an
    op: oracle_is), which must have run; every output element of every sample compared."""
    report = validate_bytes(data, label, samples=samples, seed=seed, extra_inputs=extra_inputs)
    assert oracle_is(report, oracle), (
        f"{label}: measured against {report.oracle}, not {oracle}: {report.reference_status}"
    )
    assert report.oracle in report.references, f"{label}: {report.oracle} did not run: {report.notes}"
    assert report.elements_compared > 0
    assert report.bit_exact and report.mismatches_vs_oracle == 0, (
        f"{label}: {report.mismatches_vs_oracle} elements differ from {oracle} (max |diff| {report.max_abs_diff}); "
        f"first divergent op: {report.first_divergent_op}"
    )
    return report


def opcodes(data: bytes) -> list[str]:
    """The opcodes of a .tflite's ops, in order."""
    from edgeconv.frontend.reader import read_tflite_bytes

    return [op.opcode for op in read_tflite_bytes(data).ops]


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


def dynamic_batch_model() -> bytes:
    """A Keras model with no fixed batch (Conv2D, Reshape, Flatten, Dense): Keras 3 and the
    converter emit SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE for it."""

    def build() -> bytes:
        import tensorflow as tf

        seeded_keras(0)
        x = tf.keras.Input((8, 8, 3))
        y = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
        y = tf.keras.layers.Reshape((16, 16))(y)
        y = tf.keras.layers.Flatten()(y)
        y = tf.keras.layers.Dense(5)(y)
        return tflite_from_keras(tf.keras.Model(x, y), seed=0)

    return cached_model({"test": "dynamic-batch-shape-ops"}, build)


def assert_exact(data: bytes, label: str, oracle: str, samples: list[list[np.ndarray]]) -> None:
    """Our C equals the oracle on every element of every output, for each sample (one list of
    model inputs each); one build and one reference for all of them."""
    from edgeconv.checking.references import TfliteRefReference, TflmReference
    from edgeconv.emit.emitter import emit
    from edgeconv.lowering.compiler import compile_bytes
    from edgeconv.targets.hostbuild import build_and_load

    model = compile_bytes(data, label)
    host = build_and_load(model, emit(model))
    ref = TflmReference(data) if oracle == "tflm" else TfliteRefReference(data)
    try:
        for k, inputs in enumerate(samples):
            ours = host.run(inputs)
            theirs = [np.asarray(o) for o in ref.run(inputs, len(ours))]
            for i, (a, b) in enumerate(zip(ours, theirs)):
                b = b.reshape(a.shape)
                bad = np.flatnonzero(a != b)
                assert bad.size == 0, (
                    f"{label}: sample {k}, output {i}: {bad.size} of {a.size} elements differ "
                    f"from {oracle} (first at {bad[0]}: {a.flat[bad[0]]} vs {b.flat[bad[0]]})"
                )
    finally:
        ref.close()
