"""Several models, one firmware: one runtime copy (byte-identical whatever the model, versioned,
checked at C compile time), shared and user arenas, the CLI's several-model compile and
--runtime folder, and two and three shared models linked into one Cortex-M4 firmware, each
bit-exact with TFLite Micro under QEMU, with a shared arena and without."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import SHARED_MODELS, require_tools
from edgeconv.checking.references import TflmReference
from edgeconv.checking.validation import random_inputs, shipped_samples
from edgeconv.emit.bundle import BundleOptions, compile_models, emit_bundle
from edgeconv.emit.emitter import emit, runtime_version
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import compile_file
from edgeconv.targets.hostbuild import WARNING_FLAGS

KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"
SPEECH = SHARED_MODELS / "tflite_micro" / "micro_speech_quantized.tflite"
AD = SHARED_MODELS / "mlcommons_tiny" / "ad01_int8.tflite"
PATHS = {"kws": KWS, "speech": SPEECH, "ad": AD}


def _models(*names, io_outside=()):
    return [compile_file(PATHS[n], name=n, io_outside_arena=n in io_outside) for n in names]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "edgeconv.cli", *map(str, args)], capture_output=True, text=True)


def test_one_runtime_copy_identical_whatever_the_model(shared_models):
    kws, speech, ad = _models("kws", "speech", "ad")
    bundle = emit_bundle([kws, speech, ad])
    singles = [emit(m).files for m in (kws, speech, ad)]
    runtime = set(bundle.runtime_files)
    # the union of what each model uses, each file once, and the same bytes as a one-model emit
    assert runtime == {f for files in singles for f in files if f.startswith("ec_")}
    for files in singles:
        for name, text in files.items():
            if name.startswith("ec_"):
                assert bundle.runtime_files[name] == text, name
    assert set(bundle.files) == runtime | {f"{n}.{e}" for n in ("kws", "speech", "ad") for e in "hc"}
    version = runtime_version()
    assert f'#define EC_RUNTIME_VERSION "{version.text}"' in bundle.runtime_files["ec_common.h"]
    assert f"#define EC_MODEL_RUNTIME_VERSION_ID {version.ident}" in bundle.files["kws.c"]
    # deterministic, also for several models and a shared arena
    again = emit_bundle(_models("kws", "speech", "ad"), BundleOptions(arena="shared"))
    assert emit_bundle(_models("kws", "speech", "ad"), BundleOptions(arena="shared")).files == again.files
    assert "#define EC_SHARED_ARENA_SIZE 17344" in again.files["ec_shared_arena.h"]  # kws is the largest


def test_two_models_link_into_one_host_program(shared_models, tmp_path):
    """The issue's first failure: two models in one build gave `multiple definition of
    ec_conv2d_s8`. The shared and user arenas link and run, warning-free under the strict flags
    (the static one: the Cortex-M4 firmware below)."""
    for arena in ("shared", "user"):
        work = tmp_path / arena
        work.mkdir()
        for name, text in emit_bundle(
            _models("speech", "ad"), BundleOptions(arena=arena, float_helpers=True)
        ).files.items():
            (work / name).write_text(text)
        (work / "main.c").write_text(
            '#include "speech.h"\n#include "ad.h"\n'
            + ("static union { uint8_t b[SPEECH_ARENA_SIZE]; int64_t a; } buf;\n" if arena == "user" else "")
            + "int main(void) {\n"
            + ("    if (speech_init(buf.b) != 0 || ad_init(buf.b) != 0) return 1;\n" if arena == "user" else "")
            + "    return speech_invoke() + ad_invoke();\n}\n"
        )
        # Its cc command line only looks like frontend/test_boards.py's `edgeconv build` runs (a shape match): each test
        # spells out its own command
        proc = subprocess.run(
            [
                "cc",
                *WARNING_FLAGS,
                "-O0",
                "-I",
                str(work),
                *map(str, sorted(work.glob("*.c"))),
                "-o",
                str(work / "prog"),
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        assert subprocess.run([str(work / "prog")]).returncode == 0


def test_model_against_another_runtime_version_fails_to_compile(shared_models, tmp_path):
    files = emit(_models("ad")[0]).files
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    mine = runtime_version()
    other_text, other_ident = "0.0.9+deadbeef", "0xdeadbeefUL"
    common = (tmp_path / "ec_common.h").read_text()
    (tmp_path / "ec_common.h").write_text(common.replace(mine.text, other_text).replace(mine.ident, other_ident))
    proc = subprocess.run(
        ["cc", *WARNING_FLAGS, "-c", str(tmp_path / "ad.c"), "-o", str(tmp_path / "ad.o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "#error" in line]
    assert any(f"ad.c was generated for edgeconv runtime {mine.text}" in e for e in errors), proc.stderr
    assert any(f"this ec_common.h is runtime {other_text}" in e for e in errors), proc.stderr
    # the runtime's own files compile against it: only the model notices
    (tmp_path / "ec_common.h").write_text(common)
    proc = subprocess.run(
        ["cc", *WARNING_FLAGS, "-c", str(tmp_path / "ad.c"), "-o", str(tmp_path / "ad.o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_same_name_refused(shared_models):
    kws = compile_file(KWS, name="m")
    with pytest.raises(ModelError, match="two models are named 'm'"):
        emit_bundle([kws, kws])
    with pytest.raises(ModelError, match="runtime file"):
        emit_bundle([compile_file(KWS, name="ec_conv")])


def tree(folder, hidden=False):
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and (hidden or not p.name.startswith("."))
    }


def test_cli_several_models_and_runtime_folder(shared_models, tmp_path):
    out = tmp_path / "out"
    proc = run_cli(
        "compile",
        KWS,
        SPEECH,
        "-o",
        out,
        "--name",
        "kws",
        "--name",
        "speech",
        "--shared-arena",
        "--float-helpers",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["shared_arena_bytes"] == 17344 and [m["name"] for m in info["models"]] == ["kws", "speech"]
    files = tree(out)
    assert {"kws.c", "kws_float.c", "speech.h", "ec_shared_arena.c", "ec_conv.c", "ec_common.h"} <= set(files)
    assert sum(1 for f in files if f == "ec_common.h") == 1
    # same compile again (through the API the command calls): same bytes
    compile_models([KWS, SPEECH], out, names=["kws", "speech"], arena="shared", float_helpers=True)
    assert tree(out) == files

    # a third model into its own folder, using the runtime folder: only missing files are added
    ad_out = tmp_path / "ad"
    r = compile_models([AD], ad_out, names=["ad"], runtime=out)
    assert r.runtime_files_added == []  # kws already brought every file ad uses
    assert sorted(tree(ad_out)) == ["ad.c", "ad.h"]

    # a runtime file that differs is refused in one line; nothing is written
    (out / "ec_fully_connected.c").write_text((out / "ec_fully_connected.c").read_text() + "/* mine */\n")
    before = tree(out, hidden=True)
    proc = run_cli("compile", AD, "-o", tmp_path / "ad2", "--name", "ad", "--runtime", out)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "ec_fully_connected.c differs from edgeconv runtime" in proc.stderr
    assert tree(out, hidden=True) == before and not (tmp_path / "ad2").exists()

    # an empty runtime folder gets the runtime, the model folder none of it
    compile_models([AD], tmp_path / "ad3", names=["ad"], runtime=tmp_path / "rt")
    assert sorted(tree(tmp_path / "ad3")) == ["ad.c", "ad.h"]
    assert "ec_common.h" in tree(tmp_path / "rt")

    # two models with one name
    proc = run_cli("compile", KWS, KWS, "-o", tmp_path / "x")
    assert proc.returncode == 2 and "two models are named 'kws_ref_model'" in proc.stderr
    assert not (tmp_path / "x").exists()


@pytest.fixture
def _arm_tools():
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")


def _samples(model, path, count=3):
    shipped = shipped_samples(path)[:count]
    return shipped + random_inputs(model, count - len(shipped), 7)


@pytest.mark.parametrize(
    "names,arena,io_outside",
    [
        (("kws", "speech"), "shared", ()),
        (("kws", "speech", "ad"), "static", ("speech",)),
    ],
)
def test_models_in_one_cortex_m4_firmware_bit_exact(shared_models, _arm_tools, names, arena, io_outside):
    from edgeconv.targets.bundle_firmware import build_emulated_bundle

    models = _models(*names, io_outside=io_outside)
    samples = {m.name: _samples(m, PATHS[m.name]) for m in models}
    fw = build_emulated_bundle(models, "cortex-m4", arena=arena)
    try:
        # one runtime copy in the firmware: each kernel file compiled once, one ec_common.h
        assert fw.files.count("ec_conv.c") == 1 and fw.files.count("ec_common.h") == 1
        if arena == "shared":
            assert "ec_shared_arena.c" in fw.files
        # the report counts every model's arena (or the one shared arena), not the first model's alone
        expected_arena = max(m.plan.size for m in models) if arena == "shared" else sum(m.plan.size for m in models)
        assert fw.report.ram_arena_bytes == expected_arena
        outs = fw.run(samples)
    finally:
        fw.close()
    for m in models:
        with TflmReference(PATHS[m.name].read_bytes()) as ref:
            for k, sample in enumerate(samples[m.name]):
                expected = ref.run(sample, len(m.graph.outputs))
                for e, got in zip(expected, outs[m.name][k]):
                    np.testing.assert_array_equal(got, e.reshape(got.shape), err_msg=f"{m.name} sample {k}")


def test_python_api_compiles_several_models(shared_models, tmp_path):
    import edgeconv

    r = edgeconv.compile([SPEECH, AD], tmp_path / "out", name=["speech", "ad"], arena="shared", float_helpers=True)
    assert r.shared_arena_bytes == 6448 and [m["name"] for m in r.models] == ["speech", "ad"]
    assert {"speech_float.c", "ad.c", "ec_shared_arena.h", "ec_common.h"} <= {
        p.name for p in (tmp_path / "out").iterdir()
    }
    # without out_dir nothing is written; the files are the same
    again = edgeconv.compile([SPEECH, AD], None, name=["speech", "ad"], arena="shared", float_helpers=True)
    assert again.files == sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
