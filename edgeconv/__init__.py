"""edgeconv: compile int8 TFLite CNNs into dependency-free, bit-exact C99.

The Python API mirrors the command line; heavy imports (TensorFlow) happen only when a
function that needs them is called.

    import edgeconv
    edgeconv.train("tinyconv", "digits", "digits.keras", epochs=30)
    report = edgeconv.quantize("digits.keras", out="digits.tflite")
    model = edgeconv.compile("digits.tflite", out_dir="digits_c")
    print(edgeconv.validate("digits.tflite", samples=200).bit_exact)
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"


def train(arch, data=None, out="model.keras", **options):
    """Train a zoo architecture (edgeconv.zoo) on data; see edgeconv.training.train."""
    from .training import train as _train

    return _train(arch, data, out, **options)


def quantize(model, data=None, out=None, calib=200, seed=None, io_type=None, force=False, mode="int8"):
    """Full-integer PTQ of a .keras model; returns a QuantizeReport (accuracies, per-layer SNR).
    `mode`: "int8" (int8 activations) or "16x8" (int16 activations, int8 weights: more precision
    for about twice the activation RAM); `io_type`: the model's edges, the mode's integer type
    (int8 or int16) by default, or "float32"."""
    from quantize.ptq import quantize_model

    return quantize_model(model, data=data, out=out, calib=calib, seed=seed, io_type=io_type, force=force, mode=mode)


def compile(model, out_dir=None, name=None, force=False, weights="auto"):  # noqa: A001 - mirrors `edgeconv compile`
    """Compile a .tflite into C; writes the files to out_dir when given (files there that
    edgeconv did not write are refused unless force). `weights`: int8, int16 or auto (see
    `edgeconv compile --help`). Returns the CompiledModel (ram_bytes, macs, plan, graph,
    weights: the form each layer's weights took)."""
    from .compiler import compile_file
    from .emitter import emit
    from .outputs import FolderWrite, publish, text_files

    compiled = compile_file(model, name=name, weights=weights)
    if out_dir is not None:
        publish([FolderWrite(Path(out_dir), f"compile:{compiled.name}", text_files(emit(compiled).files))],
                force=force, protected=(Path(model),))
    return compiled


def validate(model, samples=20, seed=0, inputs=None):
    """Build the C on the host and compare it with TFLite Micro and TFLite's reference."""
    from .validation import validate_file

    return validate_file(model, samples=samples, seed=seed, inputs_file=inputs)
