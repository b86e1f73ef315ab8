"""The header a firmware engineer wants: float helpers (bit-exact with TFLite's QUANTIZE and
DEQUANTIZE rounding), class labels carried in the .tflite, section macros for the arena and
the weights, inputs and outputs outside the arena, a user-given arena, and EC_PROFILE_OP
overridable by the user."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import SHARED_MODELS
from edgeconv.checking.references import TflmReference
from edgeconv.checking.validation import random_inputs, shipped_samples
from edgeconv.emit.bundle import BundleOptions, compile_models, emit_bundle
from edgeconv.frontend.labels import add_labels, read_labels
from edgeconv.lowering.compiler import compile_file
from edgeconv.targets.hostbuild import WARNING_FLAGS

SPEECH = SHARED_MODELS / "tflite_micro" / "micro_speech_quantized.tflite"
AD = SHARED_MODELS / "mlcommons_tiny" / "ad01_int8.tflite"


def build(work, files, main, flags=()):
    for name, text in files.items():
        (work / name).write_text(text)
    (work / "main.c").write_text(main)
    exe = work / "prog"
    proc = subprocess.run(
        ["cc", *WARNING_FLAGS, "-O1", *flags, "-I", str(work), *map(str, sorted(work.glob("*.c"))), "-o", str(exe)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return exe


def tflite_quantize(x: np.ndarray, scale: float, zp: int, lo: int, hi: int) -> np.ndarray:
    """TFLite's AffineQuantize: round(x / scale) in float32, half away from zero, + zp, clamped."""
    with np.errstate(over="ignore"):  # huge inputs: +-inf, clamped as the C saturates them
        q = (x.astype(np.float32) / np.float32(scale)).astype(np.float64)
    r = np.sign(q) * np.floor(np.abs(q) + 0.5)
    return np.clip(r + zp, lo, hi).astype(np.int64)


def test_float_helpers_bit_exact(shared_models, tmp_path):
    model = compile_file(SPEECH, name="speech")
    t_in, t_out = model.graph.tensors[model.graph.inputs[0]], model.graph.tensors[model.graph.outputs[0]]
    n_in, n_out = t_in.size, t_out.size
    files = emit_bundle([model], BundleOptions(float_helpers=True)).files
    exe = build(
        tmp_path,
        files,
        f"""#include <stdio.h>
#include "speech_float.h"
int main(void) {{
    static float x[{n_in}];
    static float y[{n_out}];
    if (fread(x, sizeof(float), {n_in}, stdin) != {n_in}) return 3;
    if (speech_quantize_input(0, x) != 0 || speech_quantize_input(1, x) != -1) return 4;
    fwrite(speech_input(0), 1, {n_in}, stdout);
    if (speech_invoke() != 0 || speech_dequantize_output(0, y) != 0 || speech_dequantize_output(1, y) != -1) return 5;
    fwrite(speech_output(0), 1, {n_out}, stdout);
    fwrite(y, sizeof(float), {n_out}, stdout);
    return 0;
}}
""",
    )
    # the int8-only model file has no float; the helpers' file has it all
    assert not re.search(r"\b(float|double)\b", re.sub(r"/\*.*?\*/", "", files["speech.c"], flags=re.S))
    assert re.search(r"\bfloat\b", files["speech_float.c"])
    s, zp = t_in.quant.s, t_in.quant.zp
    rng = np.random.default_rng(0)
    k = np.arange(n_in) % 300 - 150
    x = np.concatenate(
        [
            ((k[: n_in // 2] + 0.5) * np.float32(s)),  # exact-looking ties, both signs
            rng.normal(0, 20 * s, n_in - n_in // 2 - 6),
            [1e30, -1e30, 3.4e38, -0.0, 128.49 * s, -129.51 * s],
        ]
    ).astype(np.float32)
    out = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True)
    assert out.returncode == 0
    q = np.frombuffer(out.stdout[:n_in], dtype=np.int8)
    np.testing.assert_array_equal(q.astype(np.int64), tflite_quantize(x, s, zp, -128, 127))
    raw = np.frombuffer(out.stdout[n_in : n_in + n_out], dtype=np.int8)
    y = np.frombuffer(out.stdout[n_in + n_out :], dtype=np.float32)
    expected = np.float32(t_out.quant.s) * (raw.astype(np.float32) - np.float32(t_out.quant.zp))
    assert y.tobytes() == expected.astype(np.float32).tobytes()
    # and the quantized input is what TFLite Micro computes the model on: the output matches
    with TflmReference(SPEECH.read_bytes()) as ref:
        np.testing.assert_array_equal(raw, ref.run([q.reshape(t_in.shape)], 1)[0].reshape(-1))


def test_labels_from_the_model_metadata(shared_models, tmp_path):
    names = ["silence", "unknown", "yes", 'no "quoted" \\ ??= ü']
    labelled = tmp_path / "speech.tflite"
    labelled.write_bytes(add_labels(SPEECH.read_bytes(), names))
    assert read_labels(labelled.read_bytes()) == names and read_labels(SPEECH.read_bytes()) is None
    # TFLite Micro ignores the entry: same outputs
    sample = shipped_samples(SPEECH)[0]
    with TflmReference(SPEECH.read_bytes()) as a, TflmReference(labelled.read_bytes()) as b:
        np.testing.assert_array_equal(a.run(sample, 1)[0], b.run(sample, 1)[0])
    r = compile_models([labelled], tmp_path / "out")
    assert r.models[0]["labels"] == 4
    h = (tmp_path / "out" / "speech.h").read_text()
    assert "#define SPEECH_NUM_LABELS 4" in h and "extern const char *const speech_labels[SPEECH_NUM_LABELS];" in h
    exe = build(
        tmp_path / "out",
        {},
        """#include <stdio.h>
#include "speech.h"
int main(void) {
    int i;
    for (i = 0; i < SPEECH_NUM_LABELS; ++i) printf("%s\\n", speech_labels[i]);
    return 0;
}
""",
    )
    out = subprocess.run([str(exe)], capture_output=True)
    assert out.stdout.decode("utf-8").splitlines() == names
    # the plain one-model compile emits them too
    import edgeconv

    edgeconv.compile(labelled, tmp_path / "plain")
    assert "#define SPEECH_NUM_LABELS 4" in (tmp_path / "plain" / "speech.h").read_text()


def test_profile_op_user_defined_sees_every_op_once_in_order(shared_models, tmp_path):
    model = compile_file(AD, name="ad")
    (tmp_path / "my_config.h").write_text("""/* the user's edgeconv settings */
#include <stdint.h>
void my_profile(int32_t op);
#define EC_PROFILE_OP(i) my_profile(i)
""")
    exe = build(
        tmp_path,
        emit_bundle([model]).files,
        """#include <stdio.h>
#include "ad.h"
static int32_t seen[256];
static int count;
void my_profile(int32_t op);
void my_profile(int32_t op) { if (count < 256) seen[count] = op; ++count; }
int main(void) {
    int i;
    (void)ad_invoke();
    for (i = 0; i < count; ++i) printf("%d\\n", (int)seen[i]);
    return 0;
}
""",
        flags=['-DEC_CONFIG_HEADER="my_config.h"'],
    )
    out = subprocess.run([str(exe)], capture_output=True, text=True)
    assert [int(v) for v in out.stdout.split()] == list(range(len(model.steps)))
    assert len(model.steps) > 5


def test_inputs_and_outputs_outside_the_arena(shared_models, tmp_path):
    inside = compile_file(SPEECH, name="speech")
    outside = compile_file(SPEECH, name="speech", io_outside_arena=True)
    io = sum(-(-b.size // 16) * 16 for b in outside.io_blocks)
    assert outside.plan.size < inside.plan.size and outside.ram_bytes == outside.plan.size + io
    assert {t for b in outside.io_blocks for t in b.tensors} >= set(outside.graph.inputs + outside.graph.outputs)
    files = emit_bundle([outside]).files
    assert f"#define SPEECH_ARENA_SIZE {outside.plan.size}" in files["speech.h"]
    assert f"#define SPEECH_IO_BYTES {io}" in files["speech.h"]
    n_in = inside.graph.tensors[inside.graph.inputs[0]].size
    exe = build(
        tmp_path,
        files,
        f"""#include <stdio.h>
#include "speech.h"
int main(void) {{
    while (fread(speech_input(0), 1, {n_in}, stdin) == {n_in}) {{
        (void)speech_invoke();
        fwrite(speech_output(0), 1, SPEECH_OUTPUT0_BYTES, stdout);
    }}
    return 0;
}}
""",
    )
    samples = shipped_samples(SPEECH) + random_inputs(inside, 4, 3)
    data = b"".join(np.asarray(s[0], dtype=np.int8).tobytes() for s in samples)
    got = np.frombuffer(subprocess.run([str(exe)], input=data, capture_output=True).stdout, dtype=np.int8)
    with TflmReference(SPEECH.read_bytes()) as ref:
        expected = np.concatenate([ref.run(s, 1)[0].reshape(-1) for s in samples])
    np.testing.assert_array_equal(got, expected)


def test_user_arena(shared_models, tmp_path):
    model = compile_file(AD, name="ad")
    files = emit_bundle([model], BundleOptions(arena="user")).files
    assert "int ad_init(void *arena);" in files["ad.h"] and "#define AD_ARENA_ALIGNMENT 16" in files["ad.h"]
    n_in = model.graph.tensors[model.graph.inputs[0]].size
    exe = build(
        tmp_path,
        files,
        f"""#include <stdio.h>
#include "ad.h"
static union {{ uint8_t bytes[AD_ARENA_SIZE + 16]; int64_t align; }} buf;
int main(void) {{
    if (ad_invoke() != -1 || ad_input(0) != (void *)0 || ad_output(0) != (const void *)0) return 3;
    if (ad_init((void *)0) != -1 || ad_init(buf.bytes + 1) != -1) return 4;
    if (ad_init(buf.bytes) != 0 || (uint8_t *)ad_input(0) < buf.bytes) return 5;
    if (fread(ad_input(0), 1, {n_in}, stdin) != {n_in}) return 6;
    if (ad_invoke() != 0) return 7;
    fwrite(ad_output(0), 1, AD_OUTPUT0_BYTES, stdout);
    return 0;
}}
""",
    )
    sample = shipped_samples(AD)[0]
    out = subprocess.run([str(exe)], input=np.asarray(sample[0], dtype=np.int8).tobytes(), capture_output=True)
    assert out.returncode == 0
    with TflmReference(AD.read_bytes()) as ref:
        np.testing.assert_array_equal(np.frombuffer(out.stdout, dtype=np.int8), ref.run(sample, 1)[0].reshape(-1))


def test_section_macros_place_arena_and_weights(shared_models, tmp_path):
    cc = "arm-none-eabi-gcc"
    if shutil.which(cc) is None:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail(f"{cc} missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip(f"{cc} not installed")
    from elftools.elf.elffile import ELFFile

    files = emit_bundle(
        [compile_file(SPEECH, name="speech"), compile_file(AD, name="ad")], BundleOptions(arena="shared")
    ).files
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "placement.h").write_text(
        '#define EC_ARENA_SECTION __attribute__((section(".sdram")))\n'
        '#define EC_WEIGHTS_SECTION __attribute__((section(".qspi_weights")))\n'
    )
    # Like the gcc line of lowering/test_int16_mac.py's test_requantize_s64_matches_tflite, but for arm-none-eabi-gcc
    # with a config header: each test spells out its whole command line, so a failure reads without a helper
    flags = [
        "-mcpu=cortex-m4",
        "-mthumb",
        "-std=c99",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        '-DEC_CONFIG_HEADER="placement.h"',
    ]
    placed = {}
    for src in ("speech.c", "ec_shared_arena.c"):
        obj = tmp_path / (src + ".o")
        proc = subprocess.run(
            [cc, *flags, "-I", str(tmp_path), "-c", str(tmp_path / src), "-o", str(obj)], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        with open(obj, "rb") as f:
            elf = ELFFile(f)
            for sym in elf.get_section_by_name(".symtab").iter_symbols():
                if sym["st_info"]["type"] == "STT_OBJECT" and isinstance(sym["st_shndx"], int):
                    placed[sym.name] = elf.get_section(sym["st_shndx"]).name
    assert placed["ec_shared_arena"] == ".sdram"
    weights = [n for n in placed if n.startswith("speech_op") and ("weights" in n or "bias" in n)]
    assert weights and all(placed[n] == ".qspi_weights" for n in weights), placed
    # without the macros: the toolchain's own sections
    proc = subprocess.run(
        [
            cc,
            *flags[:-1],
            "-I",
            str(tmp_path),
            "-c",
            str(tmp_path / "ec_shared_arena.c"),
            "-o",
            str(tmp_path / "plain.o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "plain.o", "rb") as f:
        elf = ELFFile(f)
        sym = elf.get_section_by_name(".symtab").get_symbol_by_name("ec_shared_arena")[0]
        assert elf.get_section(sym["st_shndx"]).name in (".bss", ".bss.ec_shared_arena", "COMMON")


def test_type_codes_are_real_macros_and_two_headers_coexist(shared_models, tmp_path):
    """<P>_TYPE names an EC_TYPE_* macro that the header defines (one code per element type, from
    edgeconv.frontend.dtypes), identically in every header, so two models' headers go together."""
    from edgeconv.frontend.dtypes import ELEMENT_TYPES

    files = emit_bundle([compile_file(SPEECH, name="speech"), compile_file(AD, name="ad")]).files
    for h in ("speech.h", "ad.h"):
        assert (
            "#define SPEECH_INPUT0_TYPE EC_TYPE_INT8" in files[h] or "#define AD_INPUT0_TYPE EC_TYPE_INT8" in files[h]
        )
        assert "/* EC_TYPE" not in files[h]
        codes = dict(re.findall(r"^#define (EC_TYPE_\w+) (\d+)$", files[h], re.M))
        assert codes == {t.macro: str(t.code) for t in ELEMENT_TYPES.values()}
    assert len({t.code for t in ELEMENT_TYPES.values()}) == len(ELEMENT_TYPES)
    exe = build(
        tmp_path,
        files,
        """#include "speech.h"
#include "ad.h"
#if SPEECH_INPUT0_TYPE != EC_TYPE_INT8 || AD_OUTPUT0_TYPE != EC_TYPE_INT8 || EC_TYPE_INT8 == EC_TYPE_INT16
#error "type codes"
#endif
int main(void) {
    switch (SPEECH_OUTPUT0_TYPE) {
    case EC_TYPE_INT8: return 0;
    case EC_TYPE_FLOAT32: return 3;
    default: return 4;
    }
}
""",
    )
    assert subprocess.run([str(exe)]).returncode == 0
