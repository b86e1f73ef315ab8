"""Generated C: deterministic, warning-free, no float in an int8 model, a usable header."""

import re
import subprocess

import pytest

from conftest import SHARED_MODELS
from edgeconv.emit.emitter import emit
from edgeconv.lowering.compiler import compile_file
from edgeconv.outputs import publish_text
from edgeconv.targets.hostbuild import WARNING_FLAGS

KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"


def test_deterministic(shared_models):
    a = emit(compile_file(KWS)).files
    b = emit(compile_file(KWS)).files
    assert a == b


def test_no_float_in_int8_model(shared_models):
    files = emit(compile_file(KWS)).files
    for name, text in files.items():
        if name.endswith(".c"):
            code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
            assert not re.search(r"\b(float|double)\b", code), name


def test_header_macros(shared_models):
    files = emit(compile_file(KWS, name="kws")).files
    h = files["kws.h"]
    assert "#define KWS_ARENA_SIZE 17344" in h
    assert "#define KWS_INPUT0_DIMS {1, 49, 10, 1}" in h
    assert "#define KWS_OUTPUT0_ZERO_POINT -128" in h
    assert "int kws_invoke(void);" in h
    assert "model sha256: " in h


@pytest.mark.parametrize("rel", ["mlcommons_tiny/vww_96_int8.tflite", "tflite_micro/person_detect.tflite"])
def test_generated_c_compiles_strict(shared_models, tmp_path, rel):
    out = publish_text(tmp_path / "gen", "test", emit(compile_file(SHARED_MODELS / rel)).files)
    for c in sorted(out.glob("*.c")):
        proc = subprocess.run(
            ["cc", *WARNING_FLAGS, "-O1", "-c", str(c), "-o", str(tmp_path / (c.stem + ".o"))],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr


def test_no_libc_beyond_stdint_string(shared_models):
    files = emit(compile_file(KWS)).files
    for name, text in files.items():
        for inc in re.findall(r"#include <([^>]+)>", text):
            # arm_acle.h: the compiler's own intrinsics header (ACLE), no library behind it,
            # included only under __ARM_FEATURE_SIMD32/DSP; avr/pgmspace.h: avr-libc's
            # program-memory macros (pgm_read_*, memcpy_P), only on an AVR
            # on an AVR (ec_common.h)
            assert inc in ("stdint.h", "string.h", "arm_acle.h", "avr/pgmspace.h"), (name, inc)
        assert "malloc" not in text
