"""16x8 models (int16 activations, int8 weights) as the TFLite converter writes them, and
`edgeconv quantize --mode 16x8`.

The element-wise ops, pools and model edges come from the converter in 16x8 mode (the forms it
really writes: symmetric int16, `pot_scale_int16` false, float edges through QUANTIZE and
DEQUANTIZE); each must be bit-exact with TFLite Micro. Randomized parameters are in
tests/lowering/test_int16_elementwise.py.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edgeconv.checking.validation import validate_bytes
from edgeconv.frontend.reader import read_tflite_bytes
from modelgen import assert_bit_exact, cached_model, seeded_keras, tflite_from_function, tflite_from_keras

V = 1  # bump to rebuild the cached models of this file


def ops_and_types(data: bytes) -> list[tuple[str, list[str], list[str]]]:
    g = read_tflite_bytes(data)
    return [
        (op.opcode, [g.tensors[i].dtype for i in op.inputs if i >= 0], [g.tensors[i].dtype for i in op.outputs])
        for op in g.ops
    ]


def assert_int16_op(data: bytes, opcode: str) -> None:
    """The converter emitted `opcode` on int16 activations (not a float or int8 fallback)."""
    found = [(ins, outs) for op, ins, outs in ops_and_types(data) if op == opcode]
    assert found, f"the converter emitted no {opcode}: {ops_and_types(data)}"
    for ins, outs in found:
        assert outs == ["int16"] and ins[0] == "int16", (opcode, ins, outs)


BINARY = {
    "add": ("ADD", lambda tf: tf.add),
    "sub": ("SUB", lambda tf: tf.subtract),
    "mul": ("MUL", lambda tf: tf.multiply),
    "max": ("MAXIMUM", lambda tf: tf.maximum),
    "min": ("MINIMUM", lambda tf: tf.minimum),
}

BINARY_CASES = [
    ("add", (1, 4, 4, 8), (1, 4, 4, 8), 3.0, "relu"),
    ("add", (1, 4, 4, 8), (1, 1, 1, 8), 0.5, None),
    ("sub", (1, 4, 4, 8), (1, 4, 1, 1), 2.5, None),
    ("sub", (2, 1, 3, 4), (1, 5, 1, 4), 0.3, "relu6"),
    ("mul", (1, 4, 4, 8), (1, 1, 1, 8), 1.7, None),
    ("mul", (1, 5, 5, 3), (1, 5, 5, 3), 6.0, "relu"),
    ("max", (1, 4, 4, 8), (1, 1, 1, 8), 1.0, None),
    ("min", (3, 1, 4), (1, 5, 1), 1.0, None),
]


@pytest.mark.parametrize("case", range(len(BINARY_CASES)))
def test_binary_16x8(case):
    name, a, b, k, act = BINARY_CASES[case]
    opcode, op = BINARY[name]
    spec = dict(v=V, test="binary16x8", name=name, a=a, b=b, k=k, act=act, seed=case)

    def build():
        import tensorflow as tf

        def fn(x, y):
            z = op(tf)(x, y * k)
            return {"relu": tf.nn.relu, "relu6": tf.nn.relu6, None: lambda t: t}[act](z)

        return tflite_from_function(fn, [a, b], seed=case, mode="16x8")

    data = cached_model(spec, build)
    assert_int16_op(data, opcode)
    report = assert_bit_exact(data, f"{name}16x8_{case}", seed=case)
    if opcode in ("ADD", "SUB"):
        # The converter writes pot_scale_int16 false: TFLite's reference takes TFLite Micro's
        # general path, and the two agree.
        g = read_tflite_bytes(data)
        assert all(not op.options.get("pot_scale_int16", True) for op in g.ops if op.opcode == opcode)
    if "tflite_ref" in report.references:
        assert report.reference_disagreements == 0


@pytest.mark.parametrize(
    "layer, pool, strides, padding",
    [
        ("AveragePooling2D", 2, 2, "valid"),
        ("AveragePooling2D", 3, 2, "same"),
        ("MaxPooling2D", 2, 2, "valid"),
        ("MaxPooling2D", 3, 1, "same"),
    ],
)
def test_pool_16x8(layer, pool, strides, padding):
    spec = dict(v=V, test="pool16x8", layer=layer, pool=pool, strides=strides, padding=padding)

    def build():
        import tensorflow as tf

        seeded_keras(3)
        x = tf.keras.Input((9, 7, 3), batch_size=1)
        y = tf.keras.layers.Conv2D(4, 3, padding="same")(x)  # the pool's input has its own scale
        y = getattr(tf.keras.layers, layer)(pool, strides=strides, padding=padding)(y)
        return tflite_from_keras(tf.keras.Model(x, y), seed=3, mode="16x8", low=-2.0, high=2.0)

    data = cached_model(spec, build)
    assert_int16_op(data, "AVERAGE_POOL_2D" if layer.startswith("Average") else "MAX_POOL_2D")
    # The conv before the pool is the MAC helper's int16 CONV_2D.
    assert_bit_exact(data, f"{layer}16x8")


def test_float_edges_16x8():
    """float32 inputs and outputs of a 16x8 model: QUANTIZE float32 -> int16 and DEQUANTIZE
    int16 -> float32 around an int16 ADD."""
    spec = dict(v=V, test="edges16x8")

    def build():
        import tensorflow as tf

        return tflite_from_function(
            lambda x, y: tf.add(x, y * 2.0),
            [(1, 6, 8), (1, 6, 8)],
            seed=5,
            io_type=None,
            mode="16x8",
            low=-3.0,
            high=3.0,
        )

    data = cached_model(spec, build)
    kinds = ops_and_types(data)
    assert ("QUANTIZE", ["float32"], ["int16"]) in kinds and ("DEQUANTIZE", ["int16"], ["float32"]) in kinds, kinds
    rng = np.random.default_rng(5)
    extra = [[rng.uniform(-4, 4, size=(1, 6, 8)).astype(np.float32) for _ in range(2)] for _ in range(4)]
    assert_bit_exact(data, "edges16x8", extra_inputs=extra)


# ---------------------------------------------------------------------------------------------
# edgeconv quantize --mode 16x8


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "edgeconv.cli", *map(str, args)], capture_output=True, text=True)


def test_quantize_mode_16x8_zoo_model(tmp_path):
    """A zoo CNN (ResNet-8: residual ADDs, average pooling) quantized with `edgeconv quantize
    --mode 16x8` has int16 activations, int8 weights and int64 biases, int16 edges; its report
    names the mode and gives per-layer SNR."""
    from edgeconv.training.train import train

    train("resnet8", "digits", tmp_path / "m.keras", epochs=1, seed=0, verbose=0, width=0.25, depth=2)
    proc = _cli(
        "quantize", tmp_path / "m.keras", "-o", tmp_path / "m16.tflite", "--mode", "16x8", "--calib", "32", "--json"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["mode"] == "16x8" and report["io_type"] == "int16"
    layers = report["layers"]
    assert layers and all(layer["snr_db"] is None or layer["snr_db"] > 20 for layer in layers), layers
    data = (tmp_path / "m16.tflite").read_bytes()
    g = read_tflite_bytes(data)
    assert {"CONV_2D", "ADD", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= {op.opcode for op in g.ops}
    assert {g.tensors[i].dtype for i in g.inputs + g.outputs} == {"int16"}
    for op in g.ops:
        tensors = [g.tensors[i] for i in op.inputs if i >= 0]
        acts = [t for t in tensors if t.data is None] + [g.tensors[i] for i in op.outputs]
        assert {t.dtype for t in acts} == {"int16"}, (op.opcode, [t.dtype for t in acts])
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            assert tensors[1].dtype == "int8" and (len(tensors) < 3 or tensors[2].dtype == "int64")
    # End to end: the 16x8 model compiles and is bit-exact, on the host and as firmware on an
    # emulated Cortex-M4.
    assert_bit_exact(data, "resnet8_16x8", samples=4)
    if (
        shutil.which("arm-none-eabi-gcc")
        and shutil.which("qemu-system-arm")
        or os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS")
    ):
        report = validate_bytes(data, "resnet8_16x8_m4", samples=3, seed=1, board="cortex-m4")
        assert report.oracle == "tflm" and report.bit_exact, report.to_dict()


def test_quantize_mode_and_io_must_agree(tmp_path):
    proc = _cli("quantize", tmp_path / "absent.keras", "--mode", "16x8", "--io", "int8")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--io int8 does not go with --mode 16x8" in proc.stderr.strip().splitlines()[-1]
    proc = _cli("quantize", tmp_path / "absent.keras", "--mode", "int16")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "arch,data", [("tinyconv", "digits"), ("dscnn", "digits"), ("mobilenetv1", "digits"), ("conv1d", "signals")]
)
def test_quantize_mode_16x8_every_zoo_architecture(tmp_path, arch, data):
    """The other zoo architectures (ResNet-8 above), quantized with `edgeconv quantize --mode
    16x8`: int16 activations throughout, bit-exact with TFLite Micro on the host and as firmware
    on an emulated Cortex-M4."""
    from edgeconv.training.train import train

    train(arch, data, tmp_path / "m.keras", epochs=1, seed=0, verbose=0)
    proc = _cli("quantize", tmp_path / "m.keras", "-o", tmp_path / "m16.tflite", "--mode", "16x8", "--calib", "32")
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = (tmp_path / "m16.tflite").read_bytes()
    g = read_tflite_bytes(model)
    assert {g.tensors[i].dtype for i in g.inputs + g.outputs} == {"int16"}
    assert "CONV_2D" in {op.opcode for op in g.ops}
    assert_bit_exact(model, f"{arch}_16x8", samples=4)
    if (
        shutil.which("arm-none-eabi-gcc")
        and shutil.which("qemu-system-arm")
        or os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS")
    ):
        report = validate_bytes(model, f"{arch}_16x8_m4", samples=3, seed=1, board="cortex-m4")
        assert report.oracle == "tflm" and report.bit_exact, report.to_dict()
