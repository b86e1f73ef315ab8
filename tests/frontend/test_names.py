"""Names: the model name rule (one place, edgeconv.frontend.names) and model text in C comments."""

import re
import subprocess

import pytest

from conftest import SHARED_MODELS
from edgeconv.emit.emitter import emit, runtime_dir
from edgeconv.frontend.ir import ModelError
from edgeconv.frontend.names import (
    C_HEADERS,
    check_name,
    comment_text,
    name_from_stem,
    reserved_reason,
    sanitize,
    suggest,
)
from edgeconv.lowering.compiler import compile_bytes, compile_file
from edgeconv.outputs import publish_text
from edgeconv.targets.firmware import support_dir
from edgeconv.targets.hostbuild import WARNING_FLAGS

KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"


@pytest.mark.parametrize("name", ["kws", "MyModel", "model2", "m_9lives", "Kws_Ref", "x"])
def test_valid_names_are_kept_as_given(name):
    assert check_name(name) == name and reserved_reason(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "ec",
        "EC",
        "ec_conv",
        "Ec_Model",
        "stdint",
        "STDINT",
        "String",
        "pthread",
        "unistd",
        "main",
        "Main",
        "board_libc",
        "cortex_m_startup",
        "link",
        "firmware",
        "semihost_main",
        "int",
        "while",
        "_Bool",
        "_model",
        "__x",
        "_X",
    ],
)
def test_reserved_names_refused_with_a_working_suggestion(name):
    with pytest.raises(ModelError, match="reserved") as info:
        check_name(name)
    message = str(info.value)
    assert "\n" not in message and "--name" in message
    alternative = re.search(r"--name (\w+)$", message).group(1)
    assert check_name(alternative) == alternative


def test_every_runtime_and_support_file_stem_is_reserved():
    stems = {p.name.split(".")[0] for p in runtime_dir().iterdir() if p.suffix in (".c", ".h")}
    stems |= {p.name.split(".")[0] for p in support_dir().iterdir()}
    assert stems and all(reserved_reason(s) for s in stems), [s for s in stems if not reserved_reason(s)]
    for header in (
        "stdint",
        "stddef",
        "string",
        "math",
        "assert",
        "limits",
        "stdio",
        "stdlib",
        "errno",
        "time",
        "signal",
        "threads",
        "uchar",
        "stdatomic",
        "fcntl",
        "unistd",
        "pthread",
    ):
        assert header in C_HEADERS and reserved_reason(header.upper())


@pytest.mark.parametrize(
    "bad,fixed",
    [("kws-ref", "kws_ref"), ("9 bad-name", "m_9_bad_name"), ("é", "model"), ("__in-it", "in_it"), ("a.b.c", "a_b_c")],
)
def test_non_identifiers_refused_as_names_and_sanitized_as_stems(bad, fixed):
    with pytest.raises(ModelError, match="not a C identifier"):
        check_name(bad)
    assert sanitize(bad) == fixed and name_from_stem(bad) == fixed and suggest(bad) == fixed


def test_reserved_stem_refused_rather_than_renamed():
    with pytest.raises(ModelError, match=r"C name ec_conv, which is reserved .*pass --name"):
        name_from_stem("ec-conv")
    with pytest.raises(ModelError, match="reserved"):
        compile_bytes(b"", "stdio")  # the name is checked before the model is read


def test_python_api_uses_the_rule(shared_models):
    assert compile_file(KWS, name="MyModel").name == "MyModel"
    assert compile_file(KWS).name == "kws_ref_model"
    with pytest.raises(ModelError, match="reserved"):
        compile_file(KWS, name="math")
    with pytest.raises(ModelError, match="not a C identifier"):
        compile_file(KWS, name="my model")


def test_comment_text_is_inert():
    hostile = "a*/ b /* c ??/ d\\\ne\r\"f'g\u00e9\u2028" + "x" * 200 + "/"
    safe = comment_text(hostile)
    assert len(safe) <= 80 and safe.isascii() and safe.isprintable()
    for bad in ("*", "??", "\\", "\n", "\r", '"', "'"):
        assert bad not in safe
    assert comment_text("conv/") == "conv/_"  # never '/' right before the comment's own '*/'
    assert comment_text("model/conv2d/Relu;x:0") == "model/conv2d/Relu;x:0"


INJECTED = "in*/ int injected(void) { return 42; } /* ??/\n\\ \"q' \u00e9 /* */"


def _injected_model() -> bytes:
    from modelgen import cached_model

    def build() -> bytes:
        import flatbuffers
        from tensorflow.lite.python import schema_py_generated as schema

        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(KWS.read_bytes(), 0))
        sg = model.subgraphs[0]
        for t in (sg.inputs[0], sg.outputs[0], sg.operators[0].outputs[0]):
            sg.tensors[t].name = INJECTED.encode()
        model.description = INJECTED.encode()
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    return cached_model({"test": "comment-injection", "name": INJECTED}, build)


def test_tensor_name_cannot_inject_code(shared_models, tmp_path):
    compiled = compile_bytes(_injected_model(), "hostile")
    files = emit(compiled).files
    header = files["hostile.h"]
    assert "/* input 0: 'in_/ int injected(void) { return 42; } /_ __/__ _q_ _ /_ _/_' int8 [1, 49, 10, 1] */" in header
    out = publish_text(tmp_path / "src", "test", files)
    for c in ("hostile.c",):
        proc = subprocess.run(
            [
                "cc",
                *WARNING_FLAGS,
                "-Wcomment",
                "-Wtrigraphs",
                "-trigraphs",
                "-O0",
                "-c",
                str(out / c),
                "-o",
                str(tmp_path / "hostile.o"),
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
    symbols = subprocess.run(["nm", str(tmp_path / "hostile.o")], capture_output=True, text=True).stdout
    assert "hostile_invoke" in symbols and "injected" not in symbols
    # the header alone, preprocessed: the hostile text is all inside comments
    pre = subprocess.run(["cc", "-E", "-P", "-x", "c", str(out / "hostile.h")], capture_output=True, text=True)
    assert pre.returncode == 0 and "injected" not in pre.stdout
