"""Quantization error per layer: each op's quantized output, dequantized, against the float
model's tensor of the same name (the converter keeps the Keras layers' names), accumulated over
float samples. The quantized model runs under TFLite Micro, the float one under TFLite's
reference kernels, both keeping every tensor. The error is end to end: what the network has lost
by that layer. Used by `edgeconv quantize` (its per-layer table) and `edgeconv report --float`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeconv.frontend.ir import Graph, ModelError, Op


@dataclass
class LayerError:
    """Quantization error of one op's output: the int8 tensor dequantized against the float
    model's tensor of the same name, accumulated over the samples. snr_db None: no error."""

    op: int
    opcode: str
    tensor: str
    float_tensor: str
    snr_db: float | None
    max_abs_error: float

    def to_dict(self) -> dict:
        return {
            "op": self.op,
            "opcode": self.opcode,
            "tensor": self.tensor,
            "float_tensor": self.float_tensor,
            "snr_db": self.snr_db,
            "max_abs_error": self.max_abs_error,
        }


@dataclass
class Quantization:
    """What `--float` adds: per-layer SNR, the ops that could not be paired, the samples used."""

    samples: int
    source: str  # where the samples came from
    layers: list[LayerError]
    unmatched: list[str]  # "op 3 CONV_2D (tensor name)": no float tensor of that name

    def to_dict(self) -> dict:
        return {
            "samples": self.samples,
            "source": self.source,
            "layers": [layer.to_dict() for layer in self.layers],
            "unmatched": self.unmatched,
        }


def tensor_label(graph: Graph, t: int) -> str:
    """A tensor's name as reports show it: the converter's first name, at most 48 characters."""
    name = graph.tensors[t].name.split(";")[0]
    return name if len(name) <= 48 else "..." + name[-45:]


def _name_key(name: str) -> str:
    return name.split(";")[0]


def _strip_root(name: str) -> str:
    """The name without its first path component (the wrapping model's name, which Keras
    numbers per process: functional_3/conv2d/Relu and functional/conv2d/Relu are one layer)."""
    parts = _name_key(name).split("/", 1)
    return parts[1] if len(parts) == 2 else parts[0]


def pair_tensors(int8: Graph, flt: Graph) -> tuple[list[tuple[Op, int, int]], list[str]]:
    """(op, int8 tensor, float tensor) for each op whose quantized output has a float tensor of
    the same name (exactly, or once the wrapping model's name is dropped, if that names one
    tensor only); and the ops that found none. QUANTIZE/DEQUANTIZE (the model's edges) are
    neither."""
    exact: dict[str, int] = {}
    stripped: dict[str, list[int]] = {}
    for i, t in flt.tensors.items():
        if t.data is None:
            exact.setdefault(_name_key(t.name), i)
            stripped.setdefault(_strip_root(t.name), []).append(i)
    pairs, unmatched = [], []
    for op in int8.ops:
        if op.opcode in ("QUANTIZE", "DEQUANTIZE") or not op.outputs:
            continue
        t = int8.tensors[op.outputs[0]]
        if t.quant is None or t.data is not None:
            continue
        f = exact.get(_name_key(t.name))
        if f is None and len(stripped.get(_strip_root(t.name), [])) == 1:
            f = stripped[_strip_root(t.name)][0]
        if f is None or flt.tensors[f].shape != t.shape:
            unmatched.append(f"op {op.index} {op.opcode} ({tensor_label(int8, t.index)})")
        else:
            pairs.append((op, t.index, f))
    return pairs, unmatched


def _quantize_for(t, x: np.ndarray) -> np.ndarray:
    """A float sample as the int8 model's input takes it (TFLite's rounding), or as is."""
    from quantize.ptq import quantize_input

    x = np.asarray(x, dtype=np.float32).reshape(t.shape)
    if t.dtype in ("int8", "uint8", "int16"):
        return quantize_input(x, t.quant.s, t.quant.zp, np.dtype(t.dtype).type)
    return x


def dequantize(t, values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if t.quant is None:
        return v
    if t.quant.per_channel:
        shape = [1] * v.ndim
        shape[t.quant.axis] = -1
        s = np.asarray(t.quant.scale, dtype=np.float64).reshape(shape)
        zp = np.asarray(t.quant.zero_point, dtype=np.float64).reshape(shape)
        return (v - zp) * s
    return (v - t.quant.zp) * t.quant.s


def quantization_error(
    int8_bytes: bytes, float_bytes: bytes, x: np.ndarray, source: str, timeout: float
) -> Quantization:
    """SNR per paired layer over the float samples `x` (samples first)."""
    from edgeconv.checking.references import TfliteRefReference, TflmReference
    from edgeconv.frontend.reader import read_tflite_bytes
    from edgeconv.progress import track

    gq, gf = read_tflite_bytes(int8_bytes), read_tflite_bytes(float_bytes)
    if len(gq.inputs) != 1 or len(gf.inputs) != 1:
        raise ModelError("--float: the int8 and the float model must each have one input")
    tq, tf_ = gq.tensors[gq.inputs[0]], gf.tensors[gf.inputs[0]]
    if int(np.prod(tq.shape)) != int(np.prod(tf_.shape)):
        raise ModelError(f"--float: the Keras model takes {list(tf_.shape)}, the .tflite {list(tq.shape)}")
    pairs, unmatched = pair_tensors(gq, gf)
    signal = np.zeros(len(pairs))
    noise = np.zeros(len(pairs))
    worst = np.zeros(len(pairs))
    with (
        TflmReference(int8_bytes, preserve_all_tensors=True, timeout=timeout) as qi,
        TfliteRefReference(float_bytes, timeout=timeout) as fi,
    ):
        for sample in track(x, "Measuring the error per layer"):
            fi.run([np.asarray(sample, dtype=np.float32).reshape(tf_.shape)], len(gf.outputs))
            qi.run([_quantize_for(tq, sample)], len(gq.outputs))
            for k, (_, qt, ft) in enumerate(pairs):
                f = np.asarray(fi.tensor(ft), dtype=np.float64)
                q = dequantize(gq.tensors[qt], qi.tensor(qt)).reshape(f.shape)
                signal[k] += float(np.sum(f * f))
                err = f - q
                noise[k] += float(np.sum(err * err))
                worst[k] = max(worst[k], float(np.max(np.abs(err))) if err.size else 0.0)
    layers = []
    for k, (op, qt, ft) in enumerate(pairs):
        if noise[k] == 0:
            snr = None
        elif signal[k] == 0:
            snr = float("-inf")
        else:
            snr = round(10 * math.log10(signal[k] / noise[k]), 2)
        layers.append(
            LayerError(op.index, op.opcode, tensor_label(gq, qt), tensor_label(gf, ft), snr, float(f"{worst[k]:.6g}"))
        )
    return Quantization(len(x), source, layers, unmatched)
