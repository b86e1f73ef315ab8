"""The Python API is the command line's mirror: each command's function returns a typed result
whose to_dict() equals the command's --json on the same input, takes a model as a path or as
bytes with a name, and raises ModelError (one line) where the command exits 2."""

import json
from dataclasses import is_dataclass

import pytest

import edgeconv
from conftest import require_tools, run_cli
from edgeconv import ModelError
from mutants import Net


# Like mutants.py's conv builders and test_op_oracle.py's model: each hand-built model spells out its own tensors so a
# case reads whole; kept apart because shapes, scales and seeds differ
def tiny_model() -> bytes:
    """A CONV_2D into a FULLY_CONNECTED: weights in both MAC forms, an arena of a few hundred bytes."""
    import numpy as np

    rng = np.random.default_rng(11)
    n = Net()
    x = n.tensor("input", [1, 6, 6, 2], scale=0.05, zp=-3)
    ws = np.array([0.02, 0.03, 0.01, 0.02], dtype=np.float32)
    w = n.tensor("conv_w", [4, 3, 3, 2], scale=ws, zp=[0] * 4, data=rng.integers(-127, 128, (4, 3, 3, 2)), axis=0)
    b = n.tensor("conv_b", [4], "int32", scale=np.float32(0.05) * ws, zp=[0] * 4, data=rng.integers(-300, 300, 4))
    h = n.tensor("hidden", [1, 3, 3, 4], scale=0.08, zp=-128)
    n.op(
        "CONV_2D",
        [x, w, b],
        [h],
        padding=0,
        strideW=2,
        strideH=2,
        fusedActivationFunction=1,
        dilationWFactor=1,
        dilationHFactor=1,
    )
    fw = n.tensor("fc_w", [5, 36], scale=0.01, zp=0, data=rng.integers(-127, 128, (5, 36)))
    fb = n.tensor(
        "fc_b", [5], "int32", scale=np.float32(0.08) * np.float32(0.01), zp=0, data=rng.integers(-900, 900, 5)
    )
    y = n.tensor("scores", [1, 5], scale=0.1, zp=2)
    n.op("FULLY_CONNECTED", [h, fw, fb], [y], fusedActivationFunction=0, keepNumDims=False)
    return n.finish([x], [y])


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "tiny.tflite"
    path.write_bytes(tiny_model())
    return path


def cli_json(*args):
    proc = run_cli(*args, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def cli_json_in_process(capsys, *args):
    """The command line's --json, run in this process: for the TensorFlow commands, whose
    subprocess would spend most of its time importing TensorFlow again."""
    import signal

    from edgeconv.cli import main

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    capsys.readouterr()
    try:
        with pytest.raises(SystemExit) as info:
            main([*map(str, args), "--json"])
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    out, err = capsys.readouterr()
    assert info.value.code == 0, err[-2000:]
    # The JSON is the last line: the converter's Python prints land here too, where a real run
    # sends them to /dev/null (quiet.silenced redirects fd 1, which capsys does not use).
    return json.loads(out.strip().splitlines()[-1])


def test_every_command_has_a_function():
    from edgeconv.cli import main

    assert set(main.commands) == {
        "train",
        "quantize",
        "compile",
        "inspect",
        "validate",
        "build",
        "demo",
        "evaluate",
        "report",
        "advise",
    }
    for command in main.commands:
        assert callable(getattr(edgeconv, command)), command
        assert command in edgeconv.__doc__, command
    # edgeconv.demo stays the function once the submodule of that name is imported too
    from edgeconv.training.demo import run_demo  # noqa: F401

    assert callable(edgeconv.demo)


def test_compile_inspect_validate_match_their_json(model, tmp_path):
    out = tmp_path / "c"
    api = edgeconv.compile(model, out_dir=out)
    assert is_dataclass(api) and api.name == "tiny" and api.compiled.ram_bytes == api.ram_bytes
    assert api.to_dict() == cli_json("compile", model, "-o", out)
    assert api.files == sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert api.weights_mode == "auto" and [f["opcode"] for f in api.weight_forms] == ["CONV_2D", "FULLY_CONNECTED"]

    # bytes with a name: the same C, byte for byte; the result names the model by its name
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    from_bytes = edgeconv.compile(model.read_bytes(), out_dir=tmp_path / "b", name="tiny")
    assert from_bytes.to_dict() == {**api.to_dict(), "model": "tiny", "output_dir": str(tmp_path / "b")}
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()} == written
    assert edgeconv.compile(model.read_bytes()).name == "model"  # bytes without a name

    for weights in ("auto", "int8"):
        api = edgeconv.inspect(model, weights=weights)
        assert api.to_dict() == cli_json("inspect", model, "--weights", weights)
        assert api.board is None and api.instructions is None
        assert [row["op"] for row in api.layers] == ["CONV_2D", "FULLY_CONNECTED"]
    assert edgeconv.inspect(model.read_bytes(), name="tiny", weights="int8").to_dict() == {
        **api.to_dict(),
        "model": "tiny",
    }

    report = edgeconv.validate(model, samples=3, seed=1)
    assert report.bit_exact and report.samples == 3 and report.mismatches_vs_tflm == 0
    assert report.to_dict() == cli_json("validate", model, "--samples", 3, "--seed", 1)
    from_bytes = edgeconv.validate(model.read_bytes(), samples=3, seed=1, name="tiny")
    assert from_bytes.to_dict() == {**report.to_dict(), "model": "tiny"}


def test_bundle_and_package_match_their_json(model, tmp_path):
    other = tmp_path / "other.tflite"
    other.write_bytes(model.read_bytes())
    out = tmp_path / "bundle"
    api = edgeconv.compile([model, other], out, arena="shared")
    assert api.to_dict() == cli_json("compile", model, other, "-o", out, "--arena", "shared")
    assert [m["name"] for m in api.models] == ["tiny", "other"] and api.shared_arena_bytes > 0
    # the same models as bytes, named: the same files, byte for byte; results name them by name
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    from_bytes = edgeconv.compile(
        [model.read_bytes(), other.read_bytes()], tmp_path / "b", name=["tiny", "other"], arena="shared"
    )
    assert [m["model"] for m in from_bytes.models] == ["tiny", "other"]
    assert from_bytes.models == [{**m, "model": m["name"]} for m in api.models]
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()} == written

    out = tmp_path / "package"
    api = edgeconv.compile(model, out, format="cmake", package_name="tinylib")
    assert api.to_dict() == cli_json("compile", model, "-o", out, "--format", "cmake", "--package-name", "tinylib")
    assert (out / "CMakeLists.txt").exists()
    from_bytes = edgeconv.compile(
        model.read_bytes(), tmp_path / "pb", format="cmake", package_name="tinylib", name="tiny"
    )
    assert from_bytes.files == api.files and from_bytes.models == [{**api.models[0], "model": "tiny"}]
    with pytest.raises(ModelError, match="give format"):
        edgeconv.compile(model, out, package_name="tinylib")


def test_validate_inputs_from_bytes(model, tmp_path):
    import numpy as np

    inputs = tmp_path / "x.npy"
    np.save(inputs, np.random.default_rng(0).integers(-128, 128, (2, 6, 6, 2)).astype(np.int8))
    report = edgeconv.validate(model.read_bytes(), samples=0, inputs=inputs, name="tiny")
    assert report.samples == 2 and report.bit_exact and report.model == "tiny"


def test_board_commands_match_their_json(model, tmp_path):
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    out = tmp_path / "fw"
    api = edgeconv.build(model.read_bytes(), "cortex-m4", out, name="tiny")
    assert api.to_dict() == cli_json("build", model, "--board", "cortex-m4", "-o", out)
    assert api.elf == str(out / "firmware.elf") and (out / "tiny.c").exists() and api.flash_weights_bytes > 0

    api = edgeconv.inspect(model, board="cortex-m4")
    assert api.board == "cortex-m4" and api.instructions > 0
    assert all(row["instructions"] > 0 for row in api.layers)
    assert api.to_dict() == cli_json("inspect", model, "--board", "cortex-m4")

    report = edgeconv.validate(model.read_bytes(), samples=2, board="cortex-m4", name="tiny")
    assert report.bit_exact and report.board == "cortex-m4" and report.instructions > 0
    assert {**report.to_dict(), "model": "tiny.tflite"} == cli_json(
        "validate", model, "--samples", 2, "--board", "cortex-m4"
    )


def test_errors_are_one_line_model_errors(model, tmp_path):
    cases = [
        (lambda: edgeconv.compile(tmp_path / "nope.tflite"), "no such file"),
        (lambda: edgeconv.inspect(b"\x10\x00\x00\x00NOPE" + b"\x00" * 64), "not a .tflite model"),
        (lambda: edgeconv.compile(model.read_bytes(), name="9 lives"), "is not a C identifier"),
        (lambda: edgeconv.validate(model, samples=-1), "must be 0 or more"),
        (lambda: edgeconv.build(model, "no-such-board", tmp_path / "fw"), "no-such-board"),
        (lambda: edgeconv.train("no-such-arch", out=tmp_path / "m.keras"), "unknown architecture"),
    ]
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    # a folder that cannot be made (an OSError inside) is a ModelError too, and the file stays
    cases.append((lambda: edgeconv.compile(model, out_dir=blocker / "c"), "file"))
    said = []
    cases.append((lambda: edgeconv.demo(blocker, say=said.append), "file"))  # refused before it trains
    for call, words in cases:
        with pytest.raises(ModelError) as info:
            call()
        message = str(info.value)
        assert words in message and "\n" not in message, message
    assert blocker.read_text() == "mine" and said == []


def spy(monkeypatch, command):
    """Record what edgeconv.<command> returns when the command line calls it."""
    api, seen = getattr(edgeconv, command), []

    def recorded(*args, **kwargs):
        seen.append(api(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(edgeconv, command, recorded)
    return seen


def test_tensorflow_commands_match_their_json(tmp_path, capsys, monkeypatch):
    """demo (one epoch instead of 30: the full demo is tests/training/test_training.py's), quantize of
    the demo's model and train (one epoch), each once, through the command line: its --json
    must be the result the API returned to it."""
    pytest.importorskip("tensorflow")
    from edgeconv.training import demo as demo_module  # imported here too: `-k` may run this test alone

    monkeypatch.setitem(demo_module.DEMO_TRAINING, "epochs", 1)
    out = tmp_path / "demo"
    demos = spy(monkeypatch, "demo")
    cli = cli_json_in_process(capsys, "demo", "-o", out)
    (api,) = demos
    assert is_dataclass(api) and api.to_dict() == cli
    assert api.c_accuracy == api.int8_accuracy and api.bit_exact and api.output_dir == str(out)
    assert api.model_tflite == str(out / "digits_cnn.tflite") and api.seconds > 0

    quantized = spy(monkeypatch, "quantize")
    cli = cli_json_in_process(capsys, "quantize", api.model_keras, "-o", tmp_path / "q.tflite", "--calib", 16)
    (q,) = quantized
    assert q.output == str(tmp_path / "q.tflite") and q.mode == "int8" and q.calib_samples == 16 and q.layers
    assert json.loads(json.dumps(q.to_dict())) == cli

    trained = spy(monkeypatch, "train")
    model = tmp_path / "m.keras"
    cli = cli_json_in_process(capsys, "train", "--arch", "tinyconv", "--data", "digits", "-o", model, "--epochs", 1)
    (t,) = trained
    assert t.model == str(model) and t.data == "digits" and t.arch == "tinyconv" and 0 < t.float_accuracy <= 1
    assert is_dataclass(t) and t.to_dict() == cli
