"""Full-integer post-training quantization with the TFLite converter: a Keras model and
representative (calibration) samples in, a .tflite model's bytes out. Weights are quantized per
channel. Two modes:

- "int8": int8 activations and weights (TFLITE_BUILTINS_INT8), the default;
- "16x8": int16 activations, int8 weights, int64 biases
  (EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8): much finer activations for
  models whose activations span a wide dynamic range (audio, denoising, regression), for about
  twice the activation RAM.

This package is the lowest layer: it imports nothing from edgeconv. The `quantize` command around
it (edgeconv/training/quantizing.py) loads the data, silences TensorFlow, shows progress, scores
the result and writes the file. A request refused here raises QuantizeError with a one-line
message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MODES = ("int8", "16x8")
# The integer edge type of each mode: a model's inputs and outputs are that type or float32.
MODE_IO = {"int8": "int8", "16x8": "int16"}
IO_TYPES = ("int8", "int16", "float32")


class QuantizeError(ValueError):
    """A quantization request refused (mode, I/O type), or the converter failing; the message is
    one line, the one `edgeconv quantize` prints."""


def quantize_input(x: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """Float -> int8/uint8/int16 as TFLite's QUANTIZE does: round(x / scale) half away from zero, in
    float32, plus the zero point, saturated."""
    q = np.asarray(x, dtype=np.float32) / np.float32(scale)
    q = np.trunc(q + np.copysign(np.float32(0.5), q))
    info = np.iinfo(dtype)
    return np.clip(q + zero_point, info.min, info.max).astype(dtype)


def check_mode(mode: str, io_type: str | None) -> str:
    """The mode checked and the model's edge type: io_type, or the mode's integer type when
    None. Integer edges must have the activations' type (the converter's rule)."""
    if mode not in MODES:
        raise QuantizeError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    if io_type is None:
        return MODE_IO[mode]
    if io_type not in IO_TYPES:
        raise QuantizeError(f"--io must be one of {', '.join(IO_TYPES)}, not {io_type!r}")
    if io_type != "float32" and io_type != MODE_IO[mode]:
        raise QuantizeError(
            f"--io {io_type} does not go with --mode {mode}: its integer inputs and outputs are "
            f"{MODE_IO[mode]} (or use --io float32)"
        )
    return io_type


def fixed_batch(model, input_shape: tuple[int, ...]):
    """The Keras model behind a batch-1 input: static shapes, so no shape subgraphs. Build it once
    per quantization: its tensor names are what pairs float and quantized layers."""
    import tensorflow as tf

    inp = tf.keras.Input(input_shape, batch_size=1)
    return tf.keras.Model(inp, model(inp, training=False))


def _configure(converter, calib_x: np.ndarray, io_type: str, mode: str, advance: Callable[[], Any]) -> None:
    import tensorflow as tf

    def representative():
        for sample in calib_x:
            yield [sample[None].astype(np.float32)]
            advance()

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    if mode == "16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io_type in ("int8", "int16"):
        converter.inference_input_type = getattr(tf, io_type)
        converter.inference_output_type = getattr(tf, io_type)


@dataclass
class Quantized:
    """A quantized model: its .tflite bytes, the edge type, and the batch-1 Keras model that was
    converted (whose float conversion pairs with it tensor by tensor)."""

    tflite: bytes
    io_type: str
    mode: str
    fixed_model: Any  # a tf.keras.Model

    def float_tflite(self) -> bytes:
        """The same batch-1 model converted without quantization: float tensors under the names
        of the quantized model's (the converter keeps the Keras layer names)."""
        return convert_float(self.fixed_model)


def convert_float(fixed_model) -> bytes:
    """A batch-1 Keras model (fixed_batch) converted to a float .tflite, unquantized."""
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(fixed_model).convert()


def quantize_keras(
    model, calib_x: np.ndarray, mode: str = "int8", io_type: str | None = None, advance: Callable[[], Any] | None = None
) -> Quantized:
    """Full-integer quantization of an in-memory Keras model with one input, calibrated on
    `calib_x` (samples without the batch axis, float). `mode`: int8 or 16x8 (int16 activations);
    `io_type`: the model's inputs and outputs, int8 (mode int8), int16 (mode 16x8) or float32;
    None: the mode's integer type. `advance()` is called after each calibration sample (a
    progress bar). TensorFlow's log lines are the caller's to silence."""
    io_type = check_mode(mode, io_type)
    if len(calib_x) < 1:
        raise QuantizeError("no calibration samples")
    fixed = fixed_batch(model, tuple(int(d) for d in calib_x.shape[1:]))
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    try:
        _configure(converter, calib_x, io_type, mode, advance if advance is not None else (lambda: None))
        model_bytes = converter.convert()
    except Exception as exc:
        raise QuantizeError(
            f"the TFLite converter failed: {(str(exc).splitlines() or ['no reason given'])[0][:300]}"
        ) from None
    return Quantized(model_bytes, io_type, mode, fixed)
