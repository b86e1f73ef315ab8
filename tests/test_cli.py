"""The command line: exit codes, one-line errors, atomic output."""

import json

from conftest import SHARED_MODELS, assert_refused, run_cli as run

KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"


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

        return tflite_from_function(lambda x: tf.reduce_max(x, axis=1), [(1, 8, 4)], seed=0)

    model = tmp_path / "reduce_max.tflite"
    model.write_bytes(cached_model({"op": "reduce-max-unsupported"}, build))
    proc = run("compile", model, "-o", tmp_path / "out")
    assert_refused(proc, "unsupported op REDUCE_MAX", "op ", "tensor")
    assert not (tmp_path / "out").exists()


def test_float_model_is_refused_with_advice(tmp_path):
    from modelgen import cached_model

    def build():
        import tensorflow as tf

        x = tf.keras.Input((4,), batch_size=1)
        m = tf.keras.Model(x, tf.keras.layers.Dense(2)(x))
        return tf.lite.TFLiteConverter.from_keras_model(m).convert()

    model = tmp_path / "float.tflite"
    model.write_bytes(cached_model({"op": "float-dense"}, build))
    proc = run("compile", model, "-o", tmp_path / "out")
    assert_refused(proc, "float model", "edgeconv quantize")


def test_compile_writes_and_replaces_atomically(shared_models, tmp_path):
    out = tmp_path / "gen"
    proc = run("compile", KWS, "-o", out, "--name", "kws", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["ram_bytes"] == 16000 and info["macs"] == 2664768
    assert (out / "kws.c").exists() and (out / "kws.h").exists()
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "stale.txt").write_text("old")
    proc = run("compile", KWS, "-o", out, "--name", "kws")
    assert proc.returncode == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first  # stale file gone, same bytes


def test_bad_name(shared_models, tmp_path):
    proc = run("compile", KWS, "-o", tmp_path / "o", "--name", "9 bad-name")
    assert_refused(proc, "not a C identifier")


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
    for key in ("model", "samples", "bit_exact", "mismatches_vs_tflm", "mismatches_vs_tflite_ref",
                "reference_disagreements", "max_abs_diff", "first_divergent_op", "ram_bytes", "flash_bytes", "macs"):
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
