"""Progress bars (edgeconv/progress.py) on terminals only, and TensorFlow's start-up chatter kept
off the user's terminal (edgeconv/quiet.py), proved on `edgeconv train` and `quantize` run as a
user runs them: in a pseudo-terminal, and on pipes with --json."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

from edgeconv import progress
from edgeconv.quiet import is_startup_chatter

ROOT = Path(__file__).resolve().parent.parent

# What TensorFlow, XLA and absl print at start-up, as the user would see it.
CHATTER = (
    "absl::InitializeLog",
    "oneDNN",
    "cpu_feature_guard",
    "This TensorFlow binary is optimized",
    "To enable the following instructions",
    "cuDNN",
    "cuFFT",
    "cuBLAS",
    "computation placer",
    "WARNING:absl",
    "UserWarning",
    "DeprecationWarning",
)


def user_env(**extra: str) -> dict:
    """The environment of a user who never heard of TF_CPP_MIN_LOG_LEVEL (conftest sets it)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "EDGECONV_PROGRESS", "EDGECONV_NO_PROGRESS", "EDGECONV_DEBUG")
    }
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(TERM="xterm-256color", COLUMNS="80", **extra)
    return env


def run_in_terminal(args: list[str], cwd: Path, env: dict, cols: int = 80, timeout: float = 600) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on a pseudo-terminal `cols` wide; everything it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    shown = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                proc.kill()
                raise AssertionError(f"{args} showed nothing for {timeout} s")
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
        proc.wait()
    return proc.returncode, shown.decode("utf-8", "replace")


def plain(terminal_text: str) -> str:
    """The text without colours and cursor moves; each redraw (\\r) a line of its own."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal_text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def assert_no_chatter(text: str) -> None:
    for line in plain(text).splitlines():
        assert not any(c in line for c in CHATTER), f"start-up chatter reached the user: {line!r}"


# -- the helper -------------------------------------------------------------------------------


def test_progress_is_off_unless_switched_on_and_on_a_terminal(monkeypatch):
    """Off by default (the API is silent), off on a pipe even when switched on; EDGECONV_PROGRESS
    forces it, EDGECONV_NO_PROGRESS and TERM=dumb stop it; nesting restores the outer switch."""
    monkeypatch.delenv("EDGECONV_PROGRESS", raising=False)
    monkeypatch.delenv("EDGECONV_NO_PROGRESS", raising=False)
    assert not progress.progress_enabled()
    with progress.progress_task("never shown", total=3) as advance:
        assert advance is progress._noop
    with progress.show_progress():
        assert not progress.progress_enabled()  # pytest's stderr is not a terminal
        monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
        assert progress.progress_enabled()
        monkeypatch.setenv("TERM", "dumb")
        assert not progress.progress_enabled()
        monkeypatch.setenv("TERM", "xterm")
        with progress.show_progress(False):
            assert not progress.progress_enabled()
        assert progress.progress_enabled()
        monkeypatch.setenv("EDGECONV_NO_PROGRESS", "1")
        assert not progress.progress_enabled()
    assert not progress.progress_enabled()
    monkeypatch.delenv("EDGECONV_NO_PROGRESS")
    monkeypatch.setenv("EDGECONV_PROGRESS", "1")
    assert not progress.progress_enabled()  # forced display still needs show_progress
    with progress.show_progress():
        assert progress.progress_enabled()


def test_nested_tasks_share_one_display_on_stderr(monkeypatch, capfd):
    """Nested tasks draw in one live display on stderr (never stdout), each removed when it ends;
    track() yields every item; the display is gone afterwards."""
    monkeypatch.setenv("EDGECONV_PROGRESS", "1")
    seen = []
    with progress.show_progress(), progress.progress_task("Outer step", total=2) as advance:
        for item in progress.track([10, 20, 30], "Inner loop"):
            seen.append(item)
        advance()
        assert progress._live["tasks"] == 1
        advance(1, description="Outer step, relabelled")
    assert seen == [10, 20, 30]
    assert progress._live == {"progress": None, "tasks": 0}
    out, err = capfd.readouterr()
    assert out == ""
    assert "Outer step" in err and "Inner loop" in err


def test_startup_chatter_is_dropped_and_everything_else_kept(tmp_path):
    """startup_chatter_filtered() drops absl's and TensorFlow's start-up lines written to fd 2 by
    any code (C included) and writes every other line back in order."""
    script = (
        "import os, sys\n"
        "from edgeconv.quiet import startup_chatter_filtered\n"
        "with startup_chatter_filtered():\n"
        "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() "
        "is called are written to STDERR\\n')\n"
        "    os.write(2, b'I0000 00:00:1795672737.117653   14499 cpu_feature_guard.cc:227] "
        "This TensorFlow binary\\n')\n"
        "    os.write(2, b'To enable the following instructions: AVX2 FMA, in other operations, "
        "rebuild TensorFlow\\n')\n"
        "    os.write(2, b'E0000 00:00:1.2 1 cuda_dnn.cc:8310] Unable to register cuDNN factory\\n')\n"
        "    os.write(2, b'a real error\\n')\n"
        "    print('from python', file=sys.stderr)\n"
        "print('done', file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=user_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "a real error\nfrom python\ndone\n"
    assert is_startup_chatter(
        "2026-11-26 06:00:00.123456: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on"
    )
    assert not is_startup_chatter("edgeconv: error: m.keras: no such model file")


# -- the commands, as a user runs them ---------------------------------------------------------


def test_train_and_quantize_show_progress_on_a_terminal_and_no_tensorflow_chatter(tmp_path):
    """Without TF_CPP_MIN_LOG_LEVEL, a bare `import tensorflow` prints absl's and TensorFlow's
    start-up lines here; `edgeconv train` and `quantize` in a terminal show a progress bar
    per epoch and none of those lines; `quantize --json` on pipes writes nothing at all on
    stderr (no bar, no chatter) and stdout holds the one JSON object. (Two commands only: each
    starts TensorFlow, ~15 s.)"""
    env = user_env()
    control = subprocess.run(
        [sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert "absl::InitializeLog" in control.stderr or "cpu_feature_guard" in control.stderr, (
        "TensorFlow printed no start-up line in this environment: the test below would prove nothing"
    )

    cli = [sys.executable, "-m", "edgeconv.cli"]
    rc, shown = run_in_terminal(
        cli + ["train", "--arch", "tinyconv", "--data", "digits", "--epochs", "2", "-o", "m.keras"], tmp_path, env
    )
    assert rc == 0, plain(shown)
    assert_no_chatter(shown)
    lines = plain(shown).splitlines()
    assert any(
        line.startswith(("⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", " "))
        and "Training tinyconv" in line
        and "/2" in line
        for line in lines
    ), plain(shown)
    assert lines[-1].startswith("m.keras: tinyconv on digits, test accuracy")
    assert max(len(line) for line in lines) <= 80
    assert "41/41" not in shown  # Keras' own per-batch bar is gone

    proc = subprocess.run(
        cli + ["quantize", "m.keras", "--calib", "16", "--json"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    report = json.loads(proc.stdout)
    assert report["calib_samples"] == 16 and Path(tmp_path / "m.tflite").is_file()


def test_the_api_is_silent_unless_asked(capfd, monkeypatch):
    """edgeconv.validate draws nothing by default; inside show_progress() it draws its bar (here
    forced: stderr is not a terminal under pytest)."""
    import edgeconv
    from mutants import base_bytes

    monkeypatch.setenv("EDGECONV_PROGRESS", "1")
    model = base_bytes("conv")
    assert edgeconv.validate(model, samples=3, name="conv").bit_exact
    assert capfd.readouterr().err == ""
    assert edgeconv.show_progress is progress.show_progress
    with edgeconv.show_progress():
        assert edgeconv.validate(model, samples=3, name="conv").bit_exact
    assert "Validating conv" in capfd.readouterr().err
