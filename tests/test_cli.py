"""The command line: exit codes, one-line errors, output folders that stay the user's, names."""

import json
import os
import stat

import pytest

from conftest import SHARED_MODELS, assert_refused
from conftest import run_cli as run

KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"
AD01 = SHARED_MODELS / "mlcommons_tiny" / "ad01_int8.tflite"


def test_missing_file(tmp_path):
    proc = run("compile", tmp_path / "nope.tflite", "-o", tmp_path / "out")
    assert_refused(proc, "no such file")
    assert not (tmp_path / "out").exists()


def test_not_a_tflite_file(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x10\x00\x00\x00NOPE" + b"\x00" * 64)
    proc = run("compile", bad, "-o", tmp_path / "out")
    assert_refused(proc, "not a .tflite model")
    assert not (tmp_path / "out").exists()


def test_truncated_model(shared_models, tmp_path):
    bad = tmp_path / "trunc.tflite"
    bad.write_bytes(KWS.read_bytes()[:3000])
    proc = run("compile", bad, "-o", tmp_path / "out")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_unsupported_op_names_op_index_and_tensor(tmp_path):
    from modelgen import cached_model, tflite_from_function

    def build():
        import tensorflow as tf

        return tflite_from_function(lambda x: tf.reverse(x, axis=[1]), [(1, 8, 4)], seed=0)

    model = tmp_path / "reverse.tflite"
    model.write_bytes(cached_model({"op": "reverse-unsupported"}, build))
    proc = run("compile", model, "-o", tmp_path / "out")
    assert_refused(proc, "unsupported op REVERSE_V2", "op ", "tensor")
    assert not (tmp_path / "out").exists()


def test_float_model_is_refused_with_advice(tmp_path):
    from modelgen import cached_model

    def build():
        import tensorflow as tf

        x = tf.keras.Input((4,), batch_size=1)
        m = tf.keras.Model(x, tf.keras.layers.Dense(2)(x))
        return tf.lite.TFLiteConverter.from_keras_model(m).convert()

    model = tmp_path / "float_dense.tflite"
    model.write_bytes(cached_model({"op": "float-dense"}, build))
    proc = run("compile", model, "-o", tmp_path / "out")
    assert_refused(proc, "float model", "edgeconv quantize")


def test_compile_writes_and_recompiles_in_place(shared_models, tmp_path):
    out = tmp_path / "gen"
    proc = run("compile", KWS, "-o", out, "--name", "kws", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["ram_bytes"] == 17344 and info["macs"] == 2664768
    assert (out / "kws.c").exists() and (out / "kws.h").exists()
    first = tree(out)
    (out / "stale.txt").write_text("old")
    proc = run("compile", KWS, "-o", out, "--name", "kws")
    assert proc.returncode == 0
    assert tree(out) == {**first, "stale.txt": b"old"}  # same bytes; the user's file is kept


def tree(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_user_main_c_in_output_folder_is_kept(shared_models, tmp_path):
    src = tmp_path / "fw" / "Core" / "Src"
    src.mkdir(parents=True)
    main_c = b'#include "kws.h"\nint main(void) { for (;;) kws_invoke(); }\n'
    (src / "main.c").write_bytes(main_c)
    proc = run("compile", KWS, "-o", src, "--name", "kws")
    assert proc.returncode == 0, proc.stderr
    assert (src / "main.c").read_bytes() == main_c and (src / "kws.c").exists()
    # build writes its own main.c: the user's is in the way, so build refuses and leaves all as it was
    before = tree(src)
    proc = run("build", KWS, "--board", "cortex-m4", "-o", src, "--name", "kws")
    assert_refused(proc, "main.c", "--force")
    assert tree(src) == before


def test_output_into_the_models_own_folder_keeps_the_model(shared_models, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    model = models / "kws.tflite"
    model.write_bytes(KWS.read_bytes())
    proc = run("compile", model, "-o", models)
    assert proc.returncode == 0, proc.stderr
    assert model.read_bytes() == KWS.read_bytes()
    assert (models / "kws.c").exists() and (models / "kws.h").exists()


def test_existing_file_as_output_is_refused(shared_models, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    for cmd in (
        ["compile", KWS, "-o", notes],
        ["build", KWS, "--board", "cortex-m4", "-o", notes],
        ["compile", KWS, "-o", notes / "sub"],
    ):
        proc = run(*cmd)
        assert_refused(proc, "notes.txt")
        assert "Error" not in proc.stderr
    assert notes.read_text() == "my notes" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_two_models_in_one_folder(shared_models, tmp_path):
    out = tmp_path / "out"
    assert run("compile", KWS, "-o", out, "--name", "kws").returncode == 0
    kws_files = tree(out)
    assert run("compile", AD01, "-o", out, "--name", "ad").returncode == 0
    both = tree(out)
    assert all(both[f] == kws_files[f] for f in kws_files if f != ".edgeconv-manifest.json")
    assert {"ad.c", "ad.h", "kws.c", "kws.h", "ec_conv.c", "ec_fully_connected.c"} <= set(both)
    # kws is recompiled from a model that needs only FULLY_CONNECTED: its conv, depthwise, pooling
    # and softmax files go; ad's files (ec_fully_connected.* shared with kws) stay, byte-identical
    (out / "ec_softmax.c").write_text((out / "ec_softmax.c").read_text() + "/* my tweak */\n")
    proc = run("compile", AD01, "-o", out, "--name", "kws")
    assert proc.returncode == 0, proc.stderr
    after = tree(out)
    for f in ("ad.c", "ad.h", "ec_fully_connected.c", "ec_fully_connected.h", "ec_common.h"):
        assert after[f] == both[f], f
    for f in ("ec_conv.c", "ec_conv.h", "ec_depthwise_conv.c", "ec_pooling.c", "ec_softmax.h"):
        assert f not in after, f
    assert after["ec_softmax.c"].endswith(b"/* my tweak */\n")  # edited: the user's now, left alone
    assert after["kws.c"] != both["kws.c"]
    manifest = json.loads(after[".edgeconv-manifest.json"])["files"]
    assert "ec_softmax.c" not in manifest
    assert manifest["ec_fully_connected.c"]["jobs"] == ["compile:ad", "compile:kws"]


def test_output_dot_is_the_current_folder(shared_models, tmp_path):
    (tmp_path / "README").write_text("mine")
    proc = run("compile", KWS, "-o", ".", "--name", "kws", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "kws.c").exists() and (tmp_path / "README").read_text() == "mine"
    assert not [p for p in tmp_path.parent.iterdir() if ".old-" in p.name or ".tmp-" in p.name]
    assert run("compile", KWS, "-o", ".", "--name", "kws", cwd=tmp_path).returncode == 0


def test_foreign_file_refused_then_forced(shared_models, tmp_path):
    (tmp_path / "kws.h").write_text("my header")
    proc = run("compile", KWS, "-o", tmp_path, "--name", "kws")
    assert_refused(proc, "kws.h", "--force overwrites it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kws.h"]
    assert (tmp_path / "kws.h").read_text() == "my header"
    proc = run("compile", KWS, "-o", tmp_path, "--name", "kws", "--force")
    assert proc.returncode == 0, proc.stderr
    assert "#define KWS_ARENA_SIZE 17344" in (tmp_path / "kws.h").read_text()


def test_edited_generated_file_refused_on_recompile(shared_models, tmp_path):
    assert run("compile", KWS, "-o", tmp_path, "--name", "kws").returncode == 0
    with open(tmp_path / "kws.c", "a") as f:
        f.write("/* tuned by hand */\n")
    before = tree(tmp_path)
    proc = run("compile", KWS, "-o", tmp_path, "--name", "kws")
    assert_refused(proc, "kws.c", "edited", "--force")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_new_folders_follow_umask(shared_models, tmp_path, umask):
    out = tmp_path / "a" / "b"
    proc = run("compile", KWS, "-o", out, "--name", "kws", preexec_fn=lambda: os.umask(umask))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((out / "kws.c").stat().st_mode) == 0o666 & ~umask


def test_build_writes_beside_user_files_and_rebuilds(shared_models, tmp_path):
    out = tmp_path / "fw"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = run("build", KWS, "--board", "cortex-m4", "-o", out, "--name", "kws", "--json")
    assert proc.returncode == 0, proc.stderr
    files = set(json.loads(proc.stdout)["files"])
    assert {"kws.c", "main.c", "link.ld", "firmware.elf", "firmware.map", "board_libc.c"} <= files
    assert {p.name for p in out.iterdir()} == files | {"notes.txt", ".edgeconv-manifest.json"}
    proc = run("build", KWS, "--board", "cortex-m4", "-o", out, "--name", "kws")
    assert proc.returncode == 0, proc.stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name or p.suffix in (".o", ".su")]


def test_quantize_and_train_refuse_foreign_outputs(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"not really a model")
    (tmp_path / "m.tflite").write_bytes(b"mine")
    proc = run("quantize", tmp_path / "m.keras", "--data", "digits")
    assert_refused(proc, "m.tflite", "--force")
    proc = run("quantize", tmp_path / "m.keras", "--data", "digits", "-o", tmp_path / "m.keras", "--force")
    assert_refused(proc, "m.keras", "input model")
    proc = run("train", "--arch", "tinyconv", "-o", tmp_path / "m.keras")
    assert_refused(proc, "m.keras", "--force")
    assert (tmp_path / "m.keras").read_bytes() == b"not really a model"
    assert (tmp_path / "m.tflite").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.tflite"]


@pytest.mark.parametrize(
    "args,words",
    [
        (["--name", "ec_conv"], ["ec_conv", "reserved", "ec_ prefix", "--name"]),
        (["--name", "EC_Conv"], ["EC_Conv", "reserved"]),
        (["--name", "stdint"], ["stdint", "reserved", "<stdint.h>"]),
        (["--name", "main"], ["main", "reserved"]),
        (["--name", "while"], ["while", "C keyword"]),
        (["--name", "_Model"], ["_Model", "underscore"]),
        (["--name", "kws-ref"], ["not a C identifier", "--name kws_ref"]),
        (["--name", "9lives"], ["not a C identifier", "--name m_9lives"]),
    ],
)
def test_bad_names_refused(shared_models, tmp_path, args, words):
    proc = run("compile", KWS, "-o", tmp_path / "o", *args)
    assert_refused(proc, *words)
    assert not (tmp_path / "o").exists()


def test_reserved_stem_refused_with_advice(shared_models, tmp_path):
    model = tmp_path / "ec_conv.tflite"
    model.write_bytes(KWS.read_bytes())
    for cmd in (
        ["compile", model, "-o", tmp_path / "o"],
        ["inspect", model],
        ["build", model, "--board", "cortex-m4", "-o", tmp_path / "o"],
    ):
        assert_refused(run(*cmd), "ec_conv", "reserved", "--name")
    assert not (tmp_path / "o").exists()
    proc = run("compile", model, "-o", tmp_path / "o", "--name", "conv_model")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "conv_model.c").exists()


def test_build_name_main_refused(shared_models, tmp_path):
    assert_refused(
        run("build", KWS, "--board", "cortex-m4", "-o", tmp_path / "fw", "--name", "main"), "main", "reserved"
    )
    assert not (tmp_path / "fw").exists()


def test_mixed_case_name_kept(shared_models, tmp_path):
    proc = run("compile", KWS, "-o", tmp_path, "--name", "MyModel")
    assert proc.returncode == 0, proc.stderr
    h = (tmp_path / "MyModel.h").read_text()
    assert "#define MYMODEL_ARENA_SIZE 17344" in h and "int MyModel_invoke(void);" in h
    assert "MyModel_arena" in (tmp_path / "MyModel.c").read_text()


def test_stem_that_is_not_an_identifier_is_sanitized(shared_models, tmp_path):
    model = tmp_path / "kws-ref.v2.tflite"
    model.write_bytes(KWS.read_bytes())
    proc = run("compile", model, "-o", tmp_path / "o", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["name"] == "kws_ref_v2"
    assert (tmp_path / "o" / "kws_ref_v2.h").exists()


def test_board_file_type_errors_are_sentences(shared_models, tmp_path):
    board = tmp_path / "b.toml"
    board.write_text('name = "b"\ncc = "arm-none-eabi-gcc"\ncflags = 5\nfamily = "cortex-m"\n')
    proc = run("build", KWS, "--board", board, "-o", tmp_path / "fw")
    assert_refused(proc, "cflags", "list of strings")
    assert "object" not in proc.stderr and "iterable" not in proc.stderr


def test_inspect_json(shared_models):
    proc = run("inspect", KWS, "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert [r["op"] for r in info["layers"]][:2] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert info["layers"][0]["macs"] == 320000
    assert sum(r["macs"] for r in info["layers"]) == info["macs"]
    reshape = [r for r in info["layers"] if r["op"] == "RESHAPE"][0]
    assert reshape["alias"] is True


def test_validate_json_fields(shared_models):
    proc = run("validate", KWS, "--samples", "3", "--seed", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    for key in (
        "model",
        "samples",
        "bit_exact",
        "mismatches_vs_tflm",
        "mismatches_vs_tflite_ref",
        "reference_disagreements",
        "max_abs_diff",
        "first_divergent_op",
        "ram_bytes",
        "flash_bytes",
        "macs",
    ):
        assert key in r
    assert r["bit_exact"] is True and r["first_divergent_op"] is None
    assert r["samples"] == 3 + len(list((KWS.parent / "samples" / KWS.stem).glob("in_*.npy")))


def test_validate_inputs_file(shared_models, tmp_path):
    import numpy as np

    x = np.random.default_rng(0).integers(-128, 128, size=(4, 1, 49, 10, 1)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    proc = run("validate", KWS, "--samples", "0", "--inputs", tmp_path / "x.npy", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["samples"] == 4


def _main_in_process(monkeypatch, capsys, args, failure):
    """Run the CLI in this process with compile_file replaced by one that raises `failure`."""
    import pytest as _pytest

    from edgeconv import cli
    from edgeconv.lowering import compiler

    def broken(*a, **k):
        raise failure

    monkeypatch.setattr(compiler, "compile_file", broken)
    monkeypatch.delenv("EDGECONV_DEBUG", raising=False)
    import signal as _signal

    handlers = {s: _signal.getsignal(s) for s in (_signal.SIGINT, _signal.SIGTERM)}
    try:
        with _pytest.raises(SystemExit) as info:
            cli.main(args)
    finally:
        for s, h in handlers.items():
            _signal.signal(s, h)
    return info.value.code, capsys.readouterr().err.strip().splitlines()


def test_unexpected_error_is_one_line_without_class_name(monkeypatch, capsys, tmp_path):
    code, lines = _main_in_process(
        monkeypatch, capsys, ["compile", str(KWS), "-o", str(tmp_path / "o")], KeyError("weights")
    )
    assert code == 2 and len(lines) == 1
    assert lines[0] == ("edgeconv: internal error: 'weights'; please report it (EDGECONV_DEBUG=1 shows the traceback)")
    assert "KeyError" not in lines[0]


def test_os_error_is_a_sentence_about_the_path(monkeypatch, capsys, tmp_path):
    import errno

    failure = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "o" / "kws.c"))
    code, lines = _main_in_process(monkeypatch, capsys, ["compile", str(KWS), "-o", str(tmp_path / "o")], failure)
    assert code == 2 and lines == [f"edgeconv: error: {tmp_path / 'o' / 'kws.c'}: permission denied"]
    failure = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "o"))
    code, lines = _main_in_process(monkeypatch, capsys, ["compile", str(KWS), "-o", str(tmp_path / "o")], failure)
    assert lines == [f"edgeconv: error: {tmp_path / 'o'}: no space left on the device"]
