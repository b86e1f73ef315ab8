"""Board builds: every profile cross-compiles a real model warning-free; flash and RAM come
from the ELF; a model that does not fit is refused with the shortfall."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import SHARED_MODELS
from edgeconv.emit.emitter import emit
from edgeconv.frontend.boards import boards_dir, list_boards, load_board
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import compile_file
from edgeconv.targets.firmware import build_firmware

KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"
VWW = SHARED_MODELS / "mlcommons_tiny" / "vww_96_int8.tflite"
# The AVR profile is built and run in tests/targets/test_avr.py: KWS needs 48 KB of its 8 KB SRAM.
TARGETS = [b for b in list_boards() if load_board(b).family not in ("host", "avr")]


def need_toolchain(board: str) -> None:
    cc = load_board(board).cc
    if shutil.which(cc) is None:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail(f"{cc} is missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip(f"{cc} is not installed")


def test_every_profile_is_listed():
    assert set(TARGETS) >= {
        "cortex-m0plus",
        "cortex-m4",
        "cortex-m7",
        "cortex-m33",
        "cortex-m55",
        "riscv32",
        "stm32h743",
        "nrf52840",
        "rp2040",
        "esp32c3",
    }
    for b in TARGETS:
        board = load_board(b)
        assert board.flash_bytes > 0 and board.ram_bytes > 0 and board.part


@pytest.mark.parametrize("board", TARGETS)
def test_build_every_profile(shared_models, tmp_path, board):
    need_toolchain(board)
    r = build_firmware(KWS, board, tmp_path / "fw", name="kws")
    assert (tmp_path / "fw" / "firmware.elf").exists() and (tmp_path / "fw" / "link.ld").exists()
    assert not list((tmp_path / "fw").glob("*.o"))
    compiled = compile_file(KWS, name="kws", board=load_board(board))  # weights chosen as build chooses
    emitted = emit(compiled)
    # The ELF's read-only objects named after the model are exactly the emitted constants.
    assert r.flash_weights_bytes == emitted.flash_const_bytes
    # activations plus the kernels' scratch (im2col columns, padded rows), at the lower bound and
    # below TFLite Micro's 22,820 B arena for this model (../shared/anchors/tflm-cortex-m4)
    assert r.ram_arena_bytes == compiled.ram_bytes == compiled.plan.lower_bound < 22820
    # kernels + startup, no interpreter; each MAC kernel links only the loop variants its layers
    # name (one entry point per family and weight form): 14,464-14,800 B on the DSP cores,
    # 10,048 on cortex-m0plus (31,264 on cortex-m4 when one dispatcher linked every variant)
    assert 1000 < r.flash_code_bytes < 15500
    assert 64 <= r.ram_stack_bytes < 2048
    assert r.flash_bytes == r.flash_code_bytes + r.flash_weights_bytes
    assert r.ram_bytes == r.ram_arena_bytes + r.ram_stack_bytes + r.ram_data_bytes


def test_model_too_big_is_refused(shared_models, tmp_path):
    need_toolchain("cortex-m0plus")
    with pytest.raises(ModelError, match=r"does not fit cortex-m0plus .*flash: needs [\d,]+ B .* short"):
        build_firmware(VWW, "cortex-m0plus", tmp_path / "fw")
    assert not (tmp_path / "fw").exists()
    assert not list(tmp_path.iterdir())


# Its `edgeconv build --json` run is like frontend/test_boards.py's, but checks the sizes: each test shows its whole
# command
def test_cli_build(shared_models, tmp_path):
    need_toolchain("cortex-m4")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeconv.cli",
            "build",
            str(KWS),
            "--board",
            "cortex-m4",
            "-o",
            str(tmp_path / "fw"),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["board"] == "cortex-m4" and r["flash_bytes"] > r["flash_weights_bytes"] > 0
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeconv.cli",
            "build",
            str(VWW),
            "--board",
            "cortex-m0plus",
            "-o",
            str(tmp_path / "big"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "short" in proc.stderr
    assert not (tmp_path / "big").exists()
    proc = subprocess.run(
        [sys.executable, "-m", "edgeconv.cli", "build", str(KWS), "--board", "nosuch", "-o", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "unknown board 'nosuch'" in proc.stderr


def test_user_board_file(shared_models, tmp_path):
    need_toolchain("cortex-m4")
    text = (boards_dir() / "cortex-m4.toml").read_text()
    custom = tmp_path / "tiny-m4.toml"
    custom.write_text(
        text.replace('name = "cortex-m4"', 'name = "tiny-m4"').replace("ram_bytes = 131072", "ram_bytes = 8192")
    )
    with pytest.raises(ModelError, match=r"does not fit tiny-m4 .*RAM: needs"):
        build_firmware(KWS, str(custom), tmp_path / "fw")


def _su_frames(folder) -> dict[str, int]:
    """Frames read straight from the .su files: `file:line:col:name<TAB>bytes<TAB>kind`."""
    frames = {}
    for su in folder.glob("*.su"):
        for line in su.read_text().splitlines():
            where, size, _kind = line.split("\t")
            frames[where.rsplit(":", 1)[-1]] = int(size)
    return frames


def test_stack_worst_path_includes_out_of_line_helper(shared_models, tmp_path):
    """micro_speech's one-channel depthwise runs as a convolution whose register-blocked loop
    is a static helper GCC keeps out of line: the worst path goes through it, and the need is
    exactly the .su frames along the named path plus the interrupt room (the old estimate,
    main + invoke + deepest kernel + 128, missed such helpers)."""
    need_toolchain("cortex-m4")
    from edgeconv.frontend.boards import load_board
    from edgeconv.targets.firmware import build_in_folder
    from edgeconv.targets.stack import EXCEPTION_FRAME_BYTES

    compiled = compile_file(SHARED_MODELS / "tflite_micro" / "micro_speech_quantized.tflite")
    r = build_in_folder(tmp_path, load_board("cortex-m4"), compiled, emit(compiled))
    # (ec_conv2d_s8_w16: the entry point of the int16 weight form that auto chooses on cortex-m4)
    assert r.stack_worst_path[:4] == ["Reset_Handler", "main", "micro_speech_quantized_invoke", "ec_conv2d_s8_w16"]
    helper = r.stack_worst_path[-1]
    assert len(r.stack_worst_path) == 5 and helper.startswith("ec_conv.c:")
    su = _su_frames(tmp_path)
    assert su[helper.rsplit(":", 1)[-1]] > 0
    along = sum(su[f.rsplit(":", 1)[-1]] for f in r.stack_worst_path)
    assert r.stack_worst_path_bytes == along
    assert r.stack_uncertain == [] and r.stack_margin_bytes == 0
    assert r.stack_need_bytes == (along + EXCEPTION_FRAME_BYTES + 7) // 8 * 8
    assert r.ram_stack_bytes == r.stack_need_bytes  # no stack_bytes in the profile: sized to the need


def test_stack_analysis_flags_what_it_cannot_bound(tmp_path):
    """A helper one call level down is counted; recursion, an indirect call and a dynamic frame
    make the figure uncertified, with a stated margin."""
    need_toolchain("cortex-m4")
    from edgeconv.targets.stack import UNCERTIFIED_MARGIN_BYTES, analyse

    src = tmp_path / "k.c"
    src.write_text(
        "#define NI __attribute__((noinline))\n"
        "NI int leaf(volatile int *p);\n"
        "static NI int helper(int n) { volatile int big[40]; big[n & 31] = n; return leaf(big) + 1; }\n"
        "NI int leaf(volatile int *p) { return p[1]; }\n"
        "NI int kernel(int n) { return helper(n) + 1; }\n"
        "int main(void) { return kernel(3); }\n"
    )
    cc = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-O2", "-fstack-usage", "-fcallgraph-info=su", "-c"]
    subprocess.run(cc + [str(src), "-o", str(tmp_path / "k.o")], cwd=tmp_path, check=True)
    a = analyse([(tmp_path / "k.su", tmp_path / "k.ci")])
    su = _su_frames(tmp_path)
    assert a.worst_path == ["main", "kernel", "k.c:helper", "leaf"]
    assert su["helper"] >= 160 and a.worst_path_bytes == su["main"] + su["kernel"] + su["helper"] + su["leaf"]
    assert a.uncertain == [] and a.margin_bytes == 0

    bad = tmp_path / "bad.c"
    bad.write_text(
        "int rec(int n) { return n ? rec(n - 1) + 1 : 0; }\n"
        "int vla(int n) { volatile char b[n]; b[0] = 1; return b[0]; }\n"
        "int call(int (*f)(int)) { return f(2) + 1; }\n"
        "int main(void) { return rec(3) + vla(5) + call(rec); }\n"
    )
    subprocess.run(
        cc[:-2] + ["-O0", "-fstack-usage", "-fcallgraph-info=su", "-c", str(bad), "-o", str(tmp_path / "bad.o")],
        cwd=tmp_path,
        check=True,
    )
    b = analyse([(tmp_path / "bad.su", tmp_path / "bad.ci")])
    text = " | ".join(b.uncertain)
    assert "rec and rec recurse" in text and "vla has a dynamic frame" in text and "call makes an indirect call" in text
    assert b.margin_bytes == UNCERTIFIED_MARGIN_BYTES
    assert b.need_bytes >= b.worst_path_bytes + b.interrupt_bytes + UNCERTIFIED_MARGIN_BYTES


def test_board_stack_too_small_is_refused(shared_models, tmp_path):
    need_toolchain("cortex-m4")
    model = SHARED_MODELS / "mlcommons_tiny" / "ad01_int8.tflite"
    text = (boards_dir() / "cortex-m4.toml").read_text().replace('name = "cortex-m4"', 'name = "small-stack"')
    roomy = tmp_path / "roomy.toml"
    # (top-level keys go before the [part] table: after it, TOML puts them in the last table)
    roomy.write_text(text.replace("[part]", "stack_bytes = 4096\n\n[part]"))
    r = build_firmware(model, str(roomy), tmp_path / "ok")
    need = r.stack_need_bytes
    assert r.ram_stack_bytes == 4096 and 64 < need < 4096
    assert r.ram_bytes == r.ram_arena_bytes + 4096 + r.ram_data_bytes
    small = tmp_path / "small-stack.toml"
    small.write_text(text.replace("[part]", f"stack_bytes = {need - 64}\n\n[part]"))
    proc = subprocess.run(
        [sys.executable, "-m", "edgeconv.cli", "build", str(model), "--board", str(small), "-o", str(tmp_path / "fw")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    path = " > ".join(r.stack_worst_path)
    assert f"stack: needs {need} B (worst path {path}: {r.stack_worst_path_bytes} B" in proc.stderr
    assert r.stack_worst_path[:4] == ["Reset_Handler", "main", "ad01_int8_invoke", "ec_fully_connected_s8"]
    assert f"has {need - 64} B, 64 B short" in proc.stderr
    assert not (tmp_path / "fw").exists()
