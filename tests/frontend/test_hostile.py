"""Hostile .tflite files, made by editing a real model through TFLite's flatbuffer object API:
each is refused with exit 2 and one line naming what is wrong and where; no traceback, no
output folder."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_MODELS

KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"


def edited(edit) -> bytes:
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(KWS.read_bytes(), 0))
    edit(model, model.subgraphs[0])
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _set_shape(index, shape, signature=None):
    def edit(m, sg):
        sg.tensors[index].shape = np.array(shape, dtype=np.int32)
        if signature is not None:
            sg.tensors[index].shapeSignature = np.array(signature, dtype=np.int32)

    return edit


def _set_input(op, position, tensor):
    inputs = np.array(op.inputs, dtype=np.int32)  # the object API's arrays are read-only
    inputs[position] = tensor
    op.inputs = inputs


def _cycle(m, sg):
    _set_input(sg.operators[0], 0, sg.operators[1].outputs[0])


def _never_written(m, sg):
    from tensorflow.lite.python import schema_py_generated as schema

    t = schema.TensorT()
    t.shape = np.array([1, 25, 5, 64], dtype=np.int32)
    t.type = schema.TensorType.INT8
    t.name = b"orphan"
    t.buffer = 0
    t.quantization = sg.tensors[sg.operators[1].inputs[0]].quantization
    sg.tensors.append(t)
    _set_input(sg.operators[1], 0, len(sg.tensors) - 1)


def _scale(value):
    def edit(m, sg):
        sg.tensors[sg.operators[1].inputs[0]].quantization.scale = np.array([value], dtype=np.float32)

    return edit


def _axis_mismatch(m, sg):
    q = sg.tensors[sg.operators[0].inputs[1]].quantization  # 64 per-channel scales
    q.zeroPoint = np.zeros(3, dtype=np.int64)


def _buffer(m, sg):
    sg.tensors[sg.operators[0].inputs[1]].buffer = 100000


def _tensor_index(m, sg):
    _set_input(sg.operators[2], 0, 100000)


def _opcode(m, sg):
    sg.operators[3].opcodeIndex = 999


def _conv_options(edit):
    """An edit of the first op's (a CONV_2D's) builtin options."""

    def apply(m, sg):
        edit(sg.operators[0])

    return apply


def _no_options(op):
    op.builtinOptionsType, op.builtinOptions = 0, None


def _wrong_options(op):
    from tensorflow.lite.python import schema_py_generated as schema

    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.Pool2DOptions, schema.Pool2DOptionsT()


def _padding(op):
    op.builtinOptions.padding = 7


def _extra_input(op):
    op.inputs = np.append(op.inputs, op.inputs[0]).astype(np.int32)


def _extra_output(m, sg):
    import copy

    op = sg.operators[0]
    extra = copy.deepcopy(sg.tensors[op.outputs[0]])
    extra.name = b"extra"
    sg.tensors.append(extra)
    op.outputs = np.append(op.outputs, len(sg.tensors) - 1).astype(np.int32)


def _version(m, sg):
    m.version = 2


def _buffer_zero(m, sg):
    m.buffers[0].data = np.array([1, 2, 3, 4], dtype=np.uint8)


def _variable_weights(m, sg):
    sg.tensors[sg.operators[0].inputs[1]].isVariable = True


def _sparse_weights(m, sg):
    from tensorflow.lite.python import schema_py_generated as schema

    w = sg.tensors[sg.operators[0].inputs[1]]
    sparsity = schema.SparsityParametersT()
    sparsity.traversalOrder = np.arange(len(w.shape), dtype=np.int32)
    sparsity.dimMetadata = []
    for size in w.shape:
        d = schema.DimensionMetadataT()
        d.format, d.denseSize = 0, int(size)
        sparsity.dimMetadata.append(d)
    w.sparsity = sparsity


def _constant_input(m, sg):
    from tensorflow.lite.python import schema_py_generated as schema

    x = sg.tensors[sg.inputs[0]]
    buf = schema.BufferT()
    buf.data = np.zeros(int(np.prod(x.shape)), dtype=np.uint8)
    m.buffers.append(buf)
    x.buffer = len(m.buffers) - 1


def _bias_scale(m, sg):
    """KWS's last op is its FULLY_CONNECTED (per-tensor weights): a bias scale 100x off."""

    def code(op):
        return max(m.operatorCodes[op.opcodeIndex].builtinCode, m.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)

    fc = next(op for op in sg.operators if code(op) == 9)
    b = sg.tensors[fc.inputs[2]]
    b.quantization.scale = np.array(b.quantization.scale, dtype=np.float32) * 100


CASES = {
    "buffer out of range": (_buffer, ["refers to buffer 100000", "tensor"]),
    "tensor index out of range": (_tensor_index, ["op 2", "refers to tensor 100000"]),
    "opcode out of range": (_opcode, ["op 3", "opcode 999"]),
    "absurd shape": (_set_shape(0, [1, 65536, 65536, 1]), ["tensor 0", "absurd shape"]),
    "zero-sized tensor": (_set_shape(0, [1, 0, 10, 1]), ["tensor 0", "zero-sized"]),
    "negative dimension": (_set_shape(0, [1, -49, 10, 1]), ["tensor 0", "negative dimension"]),
    "dynamic shape": (_set_shape(0, [1, 49, 10, 1], [1, -1, 10, 1]), ["tensor 0", "dynamic shape"]),
    "cycle": (_cycle, ["op 0", "no earlier op writes"]),
    "tensor never written": (_never_written, ["op 1", "'orphan'", "no earlier op writes"]),
    "scale zero": (_scale(0.0), ["scale <= 0"]),
    "scale negative": (_scale(-0.5), ["scale <= 0"]),
    "per-axis length mismatch": (_axis_mismatch, ["64 quantization scales but 3 zero points"]),
    "conv options missing": (_conv_options(_no_options), ["op 0 CONV_2D", "has no Conv2DOptions"]),
    "conv options of another type": (_conv_options(_wrong_options), ["op 0 CONV_2D", "Pool2DOptions"]),
    "padding out of range": (_conv_options(_padding), ["op 0 CONV_2D", "padding 7 is not a valid value"]),
    "extra input": (_conv_options(_extra_input), ["op 0 CONV_2D", "has 4 inputs"]),
    "extra output": (_extra_output, ["op 0 CONV_2D", "has 2 outputs"]),
    "schema version": (_version, ["schema version 2"]),
    "non-empty buffer 0": (_buffer_zero, ["buffer 0 holds 4 bytes"]),
    "is_variable weights": (_variable_weights, ["tensor 1", "is_variable"]),
    "sparse weights": (_sparse_weights, ["tensor 1", "sparse"]),
    "constant graph input": (_constant_input, ["model input tensor 0", "is a constant"]),
    "bias scale off": (_bias_scale, ["FULLY_CONNECTED", "bias", "2% of the output scale"]),
}


def compile_edited(
    tmp_path: Path, edit, name: str = "hostile.tflite", timeout: float | None = None
) -> subprocess.CompletedProcess:
    """`edgeconv compile` (a subprocess) of the KWS model after `edit`, written to tmp_path/name,
    into tmp_path/out."""
    model = tmp_path / name
    model.write_bytes(edited(edit))
    return subprocess.run(
        [sys.executable, "-m", "edgeconv.cli", "compile", str(model), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_model_refused(shared_models, tmp_path, case):
    edit, words = CASES[case]
    proc = compile_edited(tmp_path, edit, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.tflite"]


def test_unedited_roundtrip_still_compiles(shared_models, tmp_path):
    """The editing path itself does not break models."""
    proc = compile_edited(tmp_path, lambda m, sg: None, name="same.tflite")
    assert proc.returncode == 0, proc.stderr


def _huge_bias(m, sg):
    """A bias near 2^31: TFLite would overflow its int32 accumulator, undefined in C."""
    op = sg.operators[0]
    buf = m.buffers[sg.tensors[op.inputs[2]].buffer]
    bias = np.full(len(buf.data) // 4, 2**31 - 1000, dtype=np.int32)
    buf.data = np.frombuffer(bias.tobytes(), dtype=np.uint8)


def test_accumulator_overflow_refused_naming_the_layer(shared_models, tmp_path):
    proc = compile_edited(tmp_path, _huge_bias)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert "op 0 CONV_2D" in line and "accumulator could overflow" in line and "2^31 - 1" in line
    assert not (tmp_path / "out").exists()


def test_real_models_have_headroom(shared_models):
    """The worst-case accumulators of the shared models, proven below 2^31 - 1."""
    from edgeconv.lowering.compiler import compile_file

    for path in sorted(SHARED_MODELS.glob("*/*.tflite")):
        compile_file(path)  # raises if any layer could overflow


def _absurd_output_scale(m, sg):
    sg.tensors[sg.operators[0].outputs[0]].quantization.scale = np.array([1e-30], dtype=np.float32)


def test_absurd_scale_ratio_refused(shared_models, tmp_path):
    proc = compile_edited(tmp_path, _absurd_output_scale)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "op 0 CONV_2D" in proc.stderr and "requantization multiplier" in proc.stderr
