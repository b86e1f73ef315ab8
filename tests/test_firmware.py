"""Board builds: every profile cross-compiles a real model warning-free; flash and RAM come
from the ELF; a model that does not fit is refused with the shortfall."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import SHARED_MODELS
from edgeconv.boards import boards_dir, list_boards, load_board
from edgeconv.compiler import compile_file
from edgeconv.emitter import emit
from edgeconv.firmware import build_firmware
from edgeconv.ir import ModelError

KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"
VWW = SHARED_MODELS / "mlcommons_tiny" / "vww_96_int8.tflite"
TARGETS = [b for b in list_boards() if load_board(b).family != "host"]


def need_toolchain(board: str) -> None:
    cc = load_board(board).cc
    if shutil.which(cc) is None:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail(f"{cc} is missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip(f"{cc} is not installed")


def test_every_profile_is_listed():
    assert set(TARGETS) == {"cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "riscv32"}
    for b in TARGETS:
        board = load_board(b)
        assert board.flash_bytes > 0 and board.ram_bytes > 0 and board.part


@pytest.mark.parametrize("board", TARGETS)
def test_build_every_profile(shared_models, tmp_path, board):
    need_toolchain(board)
    r = build_firmware(KWS, board, tmp_path / "fw", name="kws")
    assert (tmp_path / "fw" / "firmware.elf").exists() and (tmp_path / "fw" / "link.ld").exists()
    assert not list((tmp_path / "fw").glob("*.o"))
    compiled = compile_file(KWS, name="kws")
    emitted = emit(compiled)
    # The ELF's read-only objects named after the model are exactly the emitted constants.
    assert r.flash_weights_bytes == emitted.flash_const_bytes
    assert r.ram_arena_bytes == compiled.ram_bytes == 16000
    assert 1000 < r.flash_code_bytes < 16000  # kernels + startup, no interpreter
    assert 64 <= r.ram_stack_bytes < 2048
    assert r.flash_bytes == r.flash_code_bytes + r.flash_weights_bytes
    assert r.ram_bytes == r.ram_arena_bytes + r.ram_stack_bytes + r.ram_data_bytes


def test_model_too_big_is_refused(shared_models, tmp_path):
    need_toolchain("cortex-m0plus")
    with pytest.raises(ModelError, match=r"does not fit cortex-m0plus .*flash: needs [\d,]+ B .* short"):
        build_firmware(VWW, "cortex-m0plus", tmp_path / "fw")
    assert not (tmp_path / "fw").exists()
    assert not list(tmp_path.iterdir())


def test_cli_build(shared_models, tmp_path):
    need_toolchain("cortex-m4")
    proc = subprocess.run([sys.executable, "-m", "edgeconv.cli", "build", str(KWS), "--board", "cortex-m4",
                           "-o", str(tmp_path / "fw"), "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["board"] == "cortex-m4" and r["flash_bytes"] > r["flash_weights_bytes"] > 0
    proc = subprocess.run([sys.executable, "-m", "edgeconv.cli", "build", str(VWW), "--board", "cortex-m0plus",
                           "-o", str(tmp_path / "big")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "short" in proc.stderr
    assert not (tmp_path / "big").exists()
    proc = subprocess.run([sys.executable, "-m", "edgeconv.cli", "build", str(KWS), "--board", "nosuch",
                           "-o", str(tmp_path / "x")], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown board 'nosuch'" in proc.stderr


def test_user_board_file(shared_models, tmp_path):
    need_toolchain("cortex-m4")
    text = (boards_dir() / "cortex-m4.toml").read_text()
    custom = tmp_path / "tiny-m4.toml"
    custom.write_text(text.replace('name = "cortex-m4"', 'name = "tiny-m4"').replace("ram_bytes = 131072", "ram_bytes = 8192"))
    with pytest.raises(ModelError, match=r"does not fit tiny-m4 .*RAM: needs"):
        build_firmware(KWS, str(custom), tmp_path / "fw")
