"""outputs.publish: the user's files are never overwritten or deleted, a job replaces exactly
its own files, everything is atomic, and an interrupted command (a real SIGINT or SIGTERM)
leaves the output folder as it was and no temporary file anywhere."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SHARED_MODELS
from edgeconv import outputs
from edgeconv.lowering.compiler import compile_file
from edgeconv.outputs import MANIFEST, TEMP_MARK, FolderWrite, Interrupted, OutputError, publish

VWW = SHARED_MODELS / "mlcommons_tiny" / "vww_96_int8.tflite"
KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def temp_files(*folders: Path) -> list[Path]:
    return [
        p for f in folders if f.exists() for p in f.rglob("*") if TEMP_MARK in p.name or p.name.startswith("edgeconv-")
    ]


def manifest(folder: Path) -> dict:
    return json.loads((folder / MANIFEST).read_text())["files"]


def test_first_write_records_hashes_and_job(tmp_path):
    out = tmp_path / "a" / "b"
    publish([FolderWrite(out, "compile:m", {"m.c": b"int x;\n", "m.h": b"\n"})])
    assert snapshot(out) == {"m.c": b"int x;\n", "m.h": b"\n", MANIFEST: (out / MANIFEST).read_bytes()}
    import hashlib

    m = manifest(out)
    assert m == {
        "m.c": {"sha256": hashlib.sha256(b"int x;\n").hexdigest(), "jobs": ["compile:m"]},
        "m.h": {"sha256": hashlib.sha256(b"\n").hexdigest(), "jobs": ["compile:m"]},
    }


def test_foreign_file_refused_before_anything_is_written(tmp_path):
    (tmp_path / "m.h").write_text("mine")
    with pytest.raises(OutputError, match=r"m\.h exists and is not edgeconv's output; --force overwrites it"):
        publish([FolderWrite(tmp_path, "compile:m", {"m.c": b"c", "m.h": b"h"})])
    assert snapshot(tmp_path) == {"m.h": b"mine"}
    publish([FolderWrite(tmp_path, "compile:m", {"m.c": b"c", "m.h": b"h"})], force=True)
    assert (tmp_path / "m.h").read_bytes() == b"h"
    assert manifest(tmp_path)["m.h"]["jobs"] == ["compile:m"]


def test_edited_output_is_the_users_again(tmp_path):
    publish([FolderWrite(tmp_path, "compile:m", {"m.c": b"c1", "m.h": b"h1"})])
    (tmp_path / "m.h").write_bytes(b"h1 plus my edit")
    with pytest.raises(OutputError, match="edited since edgeconv wrote it"):
        publish([FolderWrite(tmp_path, "compile:m", {"m.c": b"c2", "m.h": b"h2"})])
    assert (tmp_path / "m.c").read_bytes() == b"c1" and (tmp_path / "m.h").read_bytes() == b"h1 plus my edit"


def test_jobs_share_a_folder_and_replace_only_their_own(tmp_path):
    publish([FolderWrite(tmp_path, "compile:a", {"a.c": b"a", "rt.c": b"rt", "only_a.c": b"oa", "gone_a.c": b"ga"})])
    publish([FolderWrite(tmp_path, "compile:b", {"b.c": b"b", "rt.c": b"rt"})])
    (tmp_path / "gone_a.c").write_bytes(b"user edited this")
    (tmp_path / "notes.txt").write_bytes(b"user")
    assert manifest(tmp_path)["rt.c"]["jobs"] == ["compile:a", "compile:b"]
    # a drops rt.c, only_a.c and gone_a.c: only_a.c goes, rt.c stays for b, the edited one stays (forgotten)
    publish([FolderWrite(tmp_path, "compile:a", {"a.c": b"a2"})])
    assert snapshot(tmp_path) == {
        "a.c": b"a2",
        "b.c": b"b",
        "rt.c": b"rt",
        "gone_a.c": b"user edited this",
        "notes.txt": b"user",
        MANIFEST: (tmp_path / MANIFEST).read_bytes(),
    }
    m = manifest(tmp_path)
    assert sorted(m) == ["a.c", "b.c", "rt.c"] and m["rt.c"]["jobs"] == ["compile:b"]


def test_protected_input_is_never_written(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"model")
    with pytest.raises(OutputError, match="input model"):
        publish([FolderWrite(tmp_path, "quantize:m", {"m.tflite": b"new"})], force=True, protected=(model,))
    assert model.read_bytes() == b"model"


def test_non_folder_output_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("n")
    for target in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "sub"):
        with pytest.raises(OutputError, match="notes.txt"):
            publish([FolderWrite(target, "compile:m", {"m.c": b"c"})], force=True)
    assert snapshot(tmp_path) == {"notes.txt": b"n"}


def test_unreadable_manifest_refused_unless_force(tmp_path):
    (tmp_path / MANIFEST).write_text("not json")
    with pytest.raises(OutputError, match="not an edgeconv manifest"):
        publish([FolderWrite(tmp_path, "compile:m", {"m.c": b"c"})])
    publish([FolderWrite(tmp_path, "compile:m", {"m.c": b"c"})], force=True)
    assert sorted(manifest(tmp_path)) == ["m.c"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_modes_follow_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        publish([FolderWrite(tmp_path / "new" / "deeper", "compile:m", {"m.c": b"c"})])
    finally:
        os.umask(old)
    for folder in (tmp_path / "new", tmp_path / "new" / "deeper"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask
    for f in ("m.c", MANIFEST):
        assert stat.S_IMODE((tmp_path / "new" / "deeper" / f).stat().st_mode) == 0o666 & ~umask


def test_interrupt_while_writing_leaves_everything_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "out"
    publish([FolderWrite(out, "compile:m", {"m.c": b"old c", "m.h": b"old h"})])
    before = snapshot(out)
    real = outputs._write_temp
    calls = []

    def interrupted_on_second(folder, name, content, mode, token):
        calls.append(name)
        path = real(folder, name, content, mode, token)
        if len(calls) == 2:  # after the file exists, before publish has recorded it
            raise Interrupted(signal.SIGTERM)
        return path

    monkeypatch.setattr(outputs, "_write_temp", interrupted_on_second)
    with pytest.raises(Interrupted):
        publish(
            [
                FolderWrite(out, "compile:m", {"m.c": b"new c", "m.h": b"new h"}),
                FolderWrite(tmp_path / "fresh" / "c", "compile:m", {"x.c": b"x"}),
            ]
        )
    assert snapshot(out) == before
    assert not (tmp_path / "fresh").exists()  # folders made for the publication are removed too
    assert not temp_files(tmp_path)


# Its signalling os.replace is like test_api_keyboard_interrupt_during_commit_comes_after_it's, but SIGTERM under
# the CLI's handlers: kept apart, each test shows the signal it sends and what it then expects
def test_signal_during_commit_is_held_until_the_commit_is_done(tmp_path, monkeypatch):
    """A real SIGTERM sent to this process in the middle of the renames: the commit finishes,
    then Interrupted says the folder was fully written."""
    out = tmp_path / "out"
    publish([FolderWrite(out, "compile:m", {"m.c": b"old c", "m.h": b"old h", "stale.c": b"s"})])
    real_replace = os.replace
    sent = []

    def replace_and_signal(src, dst):
        if not sent:
            sent.append(dst)
            os.kill(os.getpid(), signal.SIGTERM)
        real_replace(src, dst)

    old_handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    outputs.install_signal_handlers()
    try:
        monkeypatch.setattr(outputs.os, "replace", replace_and_signal)
        with pytest.raises(Interrupted) as info:
            publish([FolderWrite(out, "compile:m", {"m.c": b"new c", "m.h": b"new h"})])
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
    assert sent and info.value.signum == signal.SIGTERM and info.value.committed == [out]
    assert snapshot(out) == {"m.c": b"new c", "m.h": b"new h", MANIFEST: (out / MANIFEST).read_bytes()}
    assert sorted(manifest(out)) == ["m.c", "m.h"]
    assert not temp_files(tmp_path)


# --- real signals sent to a running `edgeconv compile` / `edgeconv build` -----------------------


def _caught_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


def _open_temp_in(pid: int, folder: Path) -> bool:
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(str(folder) in link and TEMP_MARK in link for link in links)


def _cross_compiler_running(pid: int, out: Path) -> bool:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return any(b"arm-none-eabi" in Path(f"/proc/{c}/cmdline").read_bytes() for c in children)
    except OSError:
        return False


def _run_and_signal(args, sig, moment, out: Path, tmpdir: Path) -> subprocess.CompletedProcess:
    """Start the CLI; once `moment` is true of it, send `sig`."""
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeconv.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    # The CLI's handlers are installed before any work starts: wait for them (SigCgt).
    while proc.poll() is None and not _caught_signals(proc.pid) & (1 << (signal.SIGTERM - 1)):
        time.sleep(0.002)
    while proc.poll() is None and time.monotonic() < deadline and not moment(proc.pid, out):
        time.sleep(0.0005)
    if proc.poll() is None:
        proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


MOMENTS = {
    "at-start": lambda pid, out: True,  # while reading and compiling the model
    "writing": _open_temp_in,  # a temporary output file is open (best effort: writes are fast)
    "compiler-running": _cross_compiler_running,  # build: arm-none-eabi-gcc is running
}


def _check_interrupted(proc, sig, out: Path, before: dict, after_ok) -> None:
    if proc.returncode == 0:  # the signal came after the work was done: then it is complete
        after_ok()
        return
    assert proc.returncode == 128 + sig, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"edgeconv: interrupted by {signal.Signals(sig).name}"), lines[0]
    if "fully written" in lines[0]:  # delivered during the commit, so after it
        after_ok()
    else:  # "nothing was written" if it came before the command had begun
        assert lines[0].endswith((f"{out} was left as it was", "nothing was written")), lines[0]
        assert snapshot(out.parent) == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("moment", ["at-start", "writing"])
def test_signal_during_compile(shared_models, tmp_path, sig, moment):
    out = tmp_path / "proj" / "out"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out.mkdir(parents=True)
    (out / "main.c").write_text("int main(void) { return 0; }\n")
    assert (
        subprocess.run(
            [sys.executable, "-m", "edgeconv.cli", "compile", KWS, "-o", out, "--name", "m"], capture_output=True
        ).returncode
        == 0
    )
    before = snapshot(out.parent)

    vww_arena = compile_file(VWW).ram_bytes

    def complete():
        assert (out / "m.h").read_text().count(f"#define M_ARENA_SIZE {vww_arena}") == 1
        assert (out / "main.c").read_text() == "int main(void) { return 0; }\n"

    proc = _run_and_signal(["compile", VWW, "-o", out, "--name", "m"], sig, MOMENTS[moment], out, tmpdir)
    _check_interrupted(proc, sig, out, before, complete)
    assert not temp_files(tmp_path / "proj") and not any(tmpdir.iterdir())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("moment", ["at-start", "compiler-running"])
def test_signal_during_build(shared_models, tmp_path, sig, moment):
    import shutil

    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    out = tmp_path / "proj" / "fw"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("my notes")
    before = snapshot(out.parent)

    def complete():
        assert (out / "firmware.elf").exists() and (out / "notes.txt").read_text() == "my notes"

    proc = _run_and_signal(
        ["build", VWW, "--board", "cortex-m4", "-o", out, "--name", "m"], sig, MOMENTS[moment], out, tmpdir
    )
    _check_interrupted(proc, sig, out, before, complete)
    assert proc.returncode != 0, "the signal should have arrived long before the build was done"
    assert not temp_files(tmp_path / "proj") and not any(tmpdir.iterdir())


# Its signalling os.replace is like test_signal_during_commit_is_held_until_the_commit_is_done's, but SIGINT with
# no CLI handlers: kept apart, each test shows the signal it sends and what it then expects
def test_api_keyboard_interrupt_during_commit_comes_after_it(tmp_path, monkeypatch):
    """Without the CLI's handlers (the Python API), a SIGINT in the middle of the renames still
    waits for the commit, then raises Python's own KeyboardInterrupt."""
    out = tmp_path / "out"
    publish([FolderWrite(out, "compile:m", {"m.c": b"old c", "m.h": b"old h"})])
    real_replace = os.replace
    sent = []

    def replace_and_signal(src, dst):
        if not sent:
            sent.append(dst)
            os.kill(os.getpid(), signal.SIGINT)
        real_replace(src, dst)

    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        monkeypatch.setattr(outputs.os, "replace", replace_and_signal)
        with pytest.raises(KeyboardInterrupt):
            publish([FolderWrite(out, "compile:m", {"m.c": b"new c", "m.h": b"new h"})])
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, old)
    assert sent and (out / "m.c").read_bytes() == b"new c" and (out / "m.h").read_bytes() == b"new h"
    assert not temp_files(tmp_path)
