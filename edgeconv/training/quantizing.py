"""`edgeconv quantize`: full-integer post-training quantization of a trained Keras model, with
what it costs.

The quantizer itself is quantize.ptq (the converter, a lower layer that knows no edgeconv). Around
it, this module: takes the data, seed and split `edgeconv train` recorded beside the model, draws
the calibration samples (seeded) from the training split, silences TensorFlow and shows progress,
then reports the float accuracy (Keras) and the quantized model's (TFLite Micro) on the held-out
test split and, per layer, how much precision quantization costs: the signal-to-noise ratio of
the dequantized activations against the float model's, in dB, on test samples
(edgeconv.checking.quanterror). The class names go into the .tflite's metadata
(edgeconv.frontend.labels) and the file is written through edgeconv.outputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgeconv.frontend.ir import ModelError
from edgeconv.quiet import quiet_tensorflow_logs, silenced
from quantize import ptq

quiet_tensorflow_logs()
DEBUG_SAMPLES = 64
# A reference's time limit per sample while measuring the error per layer (the zoo's models run in
# milliseconds; the limit only catches a hung reference).
LAYER_ERROR_TIMEOUT_S = 60.0


@dataclass
class LayerError:
    layer: str  # the Keras layer name the converter kept in the tensor name
    op: str
    snr_db: float | None  # None: no quantization error at all


@dataclass
class QuantizeReport:
    output: str
    io_type: str
    calib_samples: int
    test_samples: int
    float_accuracy: float
    int8_accuracy: float  # the quantized model's accuracy (int16 activations in mode 16x8)
    layers: list[LayerError] = field(default_factory=list)
    mode: str = "int8"  # int8 or 16x8

    def to_dict(self) -> dict:
        return asdict(self)


def check_mode(mode: str, io_type: str | None) -> str:
    """quantize.ptq.check_mode, refusing with a ModelError: the mode checked and the model's edge
    type (io_type, or the mode's integer type when None)."""
    try:
        return ptq.check_mode(mode, io_type)
    except ptq.QuantizeError as exc:
        raise ModelError(str(exc)) from None


def predict_tflite(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Class scores from the quantized model under TFLite Micro (the oracle edgeconv's C matches)."""
    from edgeconv.checking.references import TflmReference
    from edgeconv.frontend.reader import read_tflite_bytes
    from edgeconv.progress import track

    g = read_tflite_bytes(model_bytes)
    t_in = g.tensors[g.inputs[0]]
    ref = TflmReference(model_bytes)
    outs = []
    for sample in track(x, "Scoring the int8 model (TFLite Micro)"):
        if t_in.dtype in ("int8", "uint8", "int16"):
            sample = ptq.quantize_input(sample, t_in.quant.s, t_in.quant.zp, np.dtype(t_in.dtype).type)
        outs.append(ref.run([sample.reshape(t_in.shape)], 1)[0].reshape(-1))
    return np.stack(outs)


def layer_errors(float_bytes: bytes, int8_bytes: bytes, x: np.ndarray) -> list[LayerError]:
    """Per op output of the quantized model (int8 or 16x8): SNR of its dequantized values against the same tensor
    of the float model (edgeconv.checking.quanterror, which `edgeconv report --float` uses too), accumulated over the
    samples `x`. The error is end to end: what the network has lost by that layer. Each row is named after
    the Keras layer the converter kept in the tensor's name."""
    from edgeconv.checking.quanterror import quantization_error
    from edgeconv.frontend.reader import read_tflite_bytes

    graph = read_tflite_bytes(int8_bytes)
    ops = {op.index: op for op in graph.ops}
    measured = quantization_error(int8_bytes, float_bytes, x, "", timeout=LAYER_ERROR_TIMEOUT_S)
    layers = []
    for row in measured.layers:
        parts = graph.tensors[ops[row.op].outputs[0]].name.split(";")[0].split("/")
        layers.append(LayerError(parts[-2] if len(parts) >= 2 else parts[0], row.opcode, row.snr_db))
    return layers


def quantize_keras(
    model,
    train_x: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    out: str | Path,
    calib: int = 200,
    seed: int = 0,
    io_type: str | None = None,
    layer_report: bool = True,
    force: bool = False,
    protected: tuple[Path, ...] = (),
    mode: str = "int8",
    class_names: list[str] | None = None,
) -> QuantizeReport:
    """Quantize an in-memory Keras model; write the .tflite to `out` atomically (outputs.py:
    a file at `out` that edgeconv did not write is refused, unless `force`). `mode`: int8 or
    16x8 (int16 activations); `io_type`: the model's inputs and outputs, int8 (mode int8),
    int16 (mode 16x8) or float32; None: the mode's integer type."""
    from edgeconv.outputs import FolderWrite, check_writable, publish
    from edgeconv.progress import progress_task

    io_type = check_mode(mode, io_type)
    if calib < 1:
        raise ModelError("--calib must be at least 1")
    out = Path(out)
    check_writable(out.parent, f"quantize:{out.stem}", [out.name], force=force, protected=protected)
    rng = np.random.default_rng(seed)
    calib_x = train_x[rng.choice(len(train_x), size=min(calib, len(train_x)), replace=False)]

    try:
        # the bar is opened before silenced(): it draws on a copy of the terminal's descriptor
        with progress_task("Converting, calibrating", total=len(calib_x)) as advance, silenced():
            quantized = ptq.quantize_keras(model, calib_x, mode=mode, io_type=io_type, advance=advance)
    except ptq.QuantizeError as exc:
        raise ModelError(str(exc)) from None
    model_bytes = quantized.tflite

    float_pred = np.argmax(model.predict(test_x, batch_size=256, verbose=0), axis=-1)
    int8_pred = np.argmax(predict_tflite(model_bytes, test_x), axis=-1)
    layers: list[LayerError] = []
    if layer_report:
        with silenced():
            float_bytes = quantized.float_tflite()
        debug_x = test_x[rng.choice(len(test_x), size=min(DEBUG_SAMPLES, len(test_x)), replace=False)]
        layers = layer_errors(float_bytes, model_bytes, debug_x)

    if class_names:  # carried into the C as <NAME>_NUM_LABELS / <name>_labels (edgeconv/frontend/labels.py)
        from edgeconv.frontend.labels import add_labels

        model_bytes = add_labels(model_bytes, class_names)
    publish(
        [FolderWrite(out.parent, f"quantize:{out.stem}", {out.name: model_bytes})], force=force, protected=protected
    )
    return QuantizeReport(
        output=str(out),
        io_type=io_type,
        calib_samples=len(calib_x),
        test_samples=len(test_x),
        float_accuracy=float(np.mean(float_pred == test_y)),
        int8_accuracy=float(np.mean(int8_pred == test_y)),
        layers=layers,
        mode=mode,
    )


# Same parameters as edgeconv.quantize (__init__.py), the public API that forwards here; kept apart: one layer each
def quantize_model(
    model_path: str | Path,
    data: str | Path | None = None,
    out: str | Path | None = None,
    calib: int = 200,
    seed: int | None = None,
    io_type: str | None = None,
    layer_report: bool = True,
    force: bool = False,
    mode: str = "int8",
) -> QuantizeReport:
    """Quantize a saved .keras model. Data, seed and split default to those `edgeconv train`
    recorded beside the model, so the test split is the one training held out. `mode` and
    `io_type` as in quantize_keras."""
    from edgeconv.outputs import check_writable
    from edgeconv.training.datasets import check_data, load_dataset, split
    from edgeconv.training.train import TEST_FRACTION, read_metadata

    io_type = check_mode(mode, io_type)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelError(f"{model_path}: no such model file")
    meta = read_metadata(model_path)
    data = data if data is not None else meta.get("data")
    if data is None:
        raise ModelError(f"{model_path}: no --data given and no training metadata beside the model")
    seed = seed if seed is not None else int(meta.get("seed", 0))
    out = Path(out) if out is not None else model_path.with_suffix(".tflite")
    check_writable(out.parent, f"quantize:{out.stem}", [out.name], force=force, protected=(model_path,))

    import tensorflow as tf

    try:
        # Like reports/htmlreport.py's Keras loading (same one-line refusal); kept apart: reports does not import
        # training
        model = tf.keras.models.load_model(model_path, compile=False)
    except Exception as exc:
        raise ModelError(
            f"{model_path}: cannot load the Keras model ({' '.join(str(exc).split())[:200] or 'unreadable'})"
        ) from None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(
            f"{model_path}: quantize takes models with one input and one output "
            f"(this one has {len(model.inputs)} and {len(model.outputs)})"
        )
    ds = load_dataset(data)
    expected = tuple(int(d) for d in model.inputs[0].shape[1:])
    if ds.input_shape != expected:
        raise ModelError(f"{data}: samples have shape {list(ds.input_shape)}, the model takes {list(expected)}")
    n_out = int(model.outputs[0].shape[-1])
    check_data(ds.x, ds.y, str(data), num_classes=n_out)
    train_ds, test_ds = split(ds, float(meta.get("test_fraction", TEST_FRACTION)), seed)
    return quantize_keras(
        model,
        train_ds.x,
        test_ds.x,
        test_ds.y,
        out,
        calib=calib,
        seed=seed,
        io_type=io_type,
        layer_report=layer_report,
        force=force,
        protected=(model_path,),
        mode=mode,
        class_names=[str(n) for n in ds.class_names],
    )
