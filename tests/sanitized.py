"""Test support: build generated C with the promised flags plus ASan/UBSan, and run it.

The c_runtime is compiled once into a static archive, cached by the content of every runtime
file, the flags and the compiler, so each model costs one compiler call (its own .c and the
host main). Used by test_c_hygiene (shared models) and test_hostile_fields (mutants).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeconv.emit.emitter import EmittedModel, runtime_dir, runtime_file_text, runtime_version
from edgeconv.targets.firmware import main_from_template
from edgeconv.targets.hostbuild import WARNING_FLAGS, cache_root, compiler

SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1"]
FLAGS = WARNING_FLAGS + SANITIZE
RUN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": "print_stacktrace=1"}


class SanitizedBuildError(Exception):
    """The C did not build with the promised flags; the message is the first diagnostic."""


def _first_diagnostic(text: str) -> str:
    for line in text.splitlines():
        if "error" in line:
            return line.strip()
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


def runtime_archive() -> Path:
    """libec_sanitized.a of every c_runtime/*.c, built once per runtime content."""
    rt = runtime_dir()
    h = hashlib.sha256()
    for f in sorted(rt.glob("ec_*")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(" ".join([compiler(), *FLAGS]).encode())
    out = cache_root() / "sanitized-runtime" / h.hexdigest()[:24]
    archive = out / "libec_sanitized.a"
    if archive.exists():
        return archive
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if archive.exists():
            return archive
        work = Path(tempfile.mkdtemp(prefix="build-", dir=out))
        try:
            objects = []
            for c in sorted(rt.glob("ec_*.c")):
                obj = work / (c.stem + ".o")
                proc = subprocess.run(
                    [compiler(), *FLAGS, "-I", str(rt), "-c", str(c), "-o", str(obj)], capture_output=True, text=True
                )
                if proc.returncode != 0:
                    raise SanitizedBuildError(f"c_runtime/{c.name}: {_first_diagnostic(proc.stderr)}")
                objects.append(str(obj))
            partial = work / "lib.a"
            subprocess.run(["ar", "rcs", str(partial), *objects], check=True, capture_output=True)
            os.replace(partial, archive)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return archive


def sanitized_executable(compiled, emitted: EmittedModel, work: Path) -> Path:
    """The model's own C and the host main (boards/support/host_main.c.in), compiled with the
    promised flags plus the sanitizers and linked with the sanitized runtime archive.

    The emitted copies of the runtime files must equal c_runtime/ (they are copies); the model
    is compiled against the emitted headers."""
    work.mkdir(parents=True, exist_ok=True)
    rt = runtime_dir()
    version = runtime_version(rt)
    for fname, text in emitted.files.items():
        # Copies of c_runtime/, ec_common.h with the runtime version stamped in.
        if fname.startswith("ec_") and (rt / fname).exists() and runtime_file_text(rt, fname, version) != text:
            raise SanitizedBuildError(f"emitted {fname} differs from c_runtime/{fname}")
        (work / fname).write_text(text)
    (work / "main.c").write_text(main_from_template(compiled, "host_main.c.in"))
    exe = work / "model"
    own = [work / f"{compiled.name}.c", work / "main.c"]
    proc = subprocess.run(
        [compiler(), *FLAGS, "-I", str(work), *map(str, own), str(runtime_archive()), "-o", str(exe)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SanitizedBuildError(_first_diagnostic(proc.stderr))
    return exe


@dataclass
class SanitizedRun:
    returncode: int
    report: str  # the sanitizer's first finding ("" when clean)
    outputs: list[list[np.ndarray]]  # per sample, per model output (flat)
    stderr_tail: str = ""


def sanitizer_finding(stderr: str) -> str:
    for line in stderr.splitlines():
        if "runtime error" in line or "ERROR: AddressSanitizer" in line or "ERROR: LeakSanitizer" in line:
            return line.strip()
    return ""


def run_samples(exe: Path, compiled, samples: list[list[np.ndarray]], work: Path, timeout: float = 60) -> SanitizedRun:
    """One inference per sample (each a list of one array per model input); outputs decoded in
    the output tensors' types."""
    g = compiled.graph
    with open(work / "in.bin", "wb") as f:
        for sample in samples:
            for x, t in zip(sample, g.inputs):
                f.write(np.ascontiguousarray(x).astype(g.tensors[t].dtype).tobytes())
    proc = subprocess.run(
        [str(exe), str(work / "in.bin"), str(work / "out.bin")],
        capture_output=True,
        text=True,
        env={**os.environ, **RUN_ENV},
        timeout=timeout,
    )
    report = sanitizer_finding(proc.stderr)
    if proc.returncode != 0 and not report:
        report = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    outputs: list[list[np.ndarray]] = []
    if proc.returncode == 0:
        raw = (work / "out.bin").read_bytes()
        pos = 0
        for _ in samples:
            outs = []
            for t in g.outputs:
                tensor = g.tensors[t]
                dt = np.dtype(tensor.dtype)
                n = tensor.size * dt.itemsize
                outs.append(np.frombuffer(raw[pos : pos + n], dtype=dt).copy())
                pos += n
            outputs.append(outs)
    return SanitizedRun(proc.returncode, report, outputs, proc.stderr[-3000:])


def sanitized_equal(data: bytes, label: str, specs_samples) -> None:
    """The model built with the sanitizers runs clean and gives the host build's outputs;
    `specs_samples(input_specs)` makes the samples (each with `.arrays`)."""
    from edgeconv.checking.validation import input_specs
    from edgeconv.emit.emitter import emit
    from edgeconv.lowering.compiler import compile_bytes
    from edgeconv.targets.hostbuild import build_and_load

    model = compile_bytes(data, label)
    emitted = emit(model)
    host = build_and_load(model, emitted)
    samples = [s.arrays for s in specs_samples(input_specs(model))]
    with tempfile.TemporaryDirectory() as tmp:
        exe = sanitized_executable(model, emitted, Path(tmp))
        run = run_samples(exe, model, samples, Path(tmp))
    assert run.returncode == 0 and not run.report, f"{label}: {run.report}"
    for sample, theirs in zip(samples, run.outputs):
        for a, b in zip(host.run(sample), theirs):
            np.testing.assert_array_equal(a.reshape(-1), b)
