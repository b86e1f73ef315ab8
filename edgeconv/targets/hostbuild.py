"""Build generated C into a host library with cffi, cached by content hash.

The cache key covers every source file, the compiler flags and the Python ABI, so an edited
kernel or model can never be served a stale library. The C is compiled with the same warning
flags the project promises (-Wall -Wextra -Werror -pedantic, C99).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.emit.emitter import EmittedModel
from edgeconv.frontend.dtypes import numpy_dtype
from edgeconv.outputs import write_atomically
from edgeconv.quiet import silenced

WARNING_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def host_flags() -> list[str]:
    """The host board profile's flags (boards/host.toml), always with the warning flags."""
    from edgeconv.frontend.boards import load_board

    flags = list(load_board("host").cflags)
    return flags + [f for f in WARNING_FLAGS if f not in flags]


class BuildError(Exception):
    pass


def cache_root() -> Path:
    """$EDGECONV_CACHE, else $XDG_CACHE_HOME/edgeconv or ~/.cache/edgeconv."""
    return Path(
        os.environ.get("EDGECONV_CACHE")
        or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgeconv")
    )


def cache_dir() -> Path:
    path = cache_root() / "hostlib"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class HostModel:
    """A generated model loaded into this process."""

    name: str
    lib: Any
    ffi: Any
    inputs: list[tuple[tuple[int, ...], str, int]]  # (shape, dtype, arena offset)
    outputs: list[tuple[tuple[int, ...], str, int]]
    arena_size: int

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != len(self.inputs):
            raise ValueError(f"{self.name} takes {len(self.inputs)} inputs, got {len(inputs)}")
        for i, (x, (shape, dtype, _)) in enumerate(zip(inputs, self.inputs)):
            arr = np.ascontiguousarray(np.asarray(x, dtype=numpy_dtype(dtype)).reshape(shape))
            dst = getattr(self.lib, f"{self.name}_input")(i)
            self.ffi.memmove(dst, arr.tobytes(), arr.nbytes)
        getattr(self.lib, f"{self.name}_invoke")()
        outs = []
        for i, (shape, dtype, _) in enumerate(self.outputs):
            src = getattr(self.lib, f"{self.name}_output")(i)
            n = int(np.prod(shape, dtype=np.int64)) * numpy_dtype(dtype).itemsize
            outs.append(np.frombuffer(self.ffi.buffer(src, n), dtype=numpy_dtype(dtype)).reshape(shape).copy())
        return outs

    def arena(self) -> np.ndarray:
        base = getattr(self.lib, f"{self.name}_arena_base")()
        return np.frombuffer(self.ffi.buffer(base, self.arena_size), dtype=np.uint8).copy()


def _cdef(name: str) -> str:
    return (
        f"void *{name}_input(int index);\n"
        f"const void *{name}_output(int index);\n"
        f"int {name}_invoke(void);\n"
        f"const uint8_t *{name}_arena_base(void);\n"
    )


def build_host_library(emitted: EmittedModel, name: str, extra_flags: list[str] | None = None) -> Path:
    """Compile the files into a Python extension; return the path of the shared library."""
    import cffi  # imported here: only validation needs a compiler

    flags = host_flags() + list(extra_flags or [])
    h = hashlib.sha256()
    for fname in sorted(emitted.files):
        h.update(fname.encode() + b"\0" + emitted.files[fname].encode() + b"\0")
    h.update(" ".join(flags).encode())
    h.update(sysconfig.get_config_var("EXT_SUFFIX").encode())
    key = h.hexdigest()[:24]
    module = f"_ec_{name}_{key}"
    out = cache_dir() / key
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    lib_path = out / (module + suffix)
    if lib_path.exists():
        return lib_path

    lock_path = cache_dir() / f"{key}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if lib_path.exists():
            return lib_path
        work = Path(tempfile.mkdtemp(prefix="build-", dir=cache_dir()))
        try:
            src_dir = work / "src"
            src_dir.mkdir()
            for fname, text in emitted.files.items():
                (src_dir / fname).write_text(text)
            # The generated C is compiled on its own with the strict flags; cffi's wrapper
            # (which is not -pedantic clean) only links the objects.
            objects = compile_objects(src_dir, work / "obj", flags + ["-fPIC"])
            ffi = cffi.FFI()
            ffi.cdef(_cdef(name))
            ffi.set_source(
                module,
                f'#include "{name}.h"',
                include_dirs=[str(src_dir)],
                extra_objects=[str(o) for o in objects],
            )
            try:
                with silenced():
                    built = ffi.compile(tmpdir=str(work / "build"), verbose=False)
            except Exception as exc:  # setuptools raises its own CompileError types
                raise BuildError(f"building the host wrapper failed: {_first_error(exc)}") from None
            write_atomically(lib_path, Path(built).read_bytes())
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return lib_path


def compiler() -> str:
    from edgeconv.frontend.boards import load_board

    return os.environ.get("CC") or load_board("host").cc


def run_tool(cmd: list[str], work: Path) -> subprocess.CompletedProcess:
    """Run a compiler or linker with its temporary files inside `work` (TMPDIR), in its own
    process group: if edgeconv is interrupted meanwhile, the whole group gets SIGTERM (the
    compiler driver then removes its files and stops its children) and is waited for, so
    nothing is left behind outside the work folder its caller removes."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(work)},
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate()
    except BaseException:
        _stop_group(proc)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def _stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM to the tool's process group, then wait until no process of it is left: the
    driver's children (cc1, as, collect2) are signalled themselves but may still be writing
    into the work folder when the driver has exited, and the caller removes that folder next.
    Whatever outlives `grace` seconds gets SIGKILL."""
    sig = signal.SIGTERM
    for _ in range(2):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.01)
        sig = signal.SIGKILL


def compile_objects(src_dir: Path, obj_dir: Path, flags: list[str]) -> list[Path]:
    """Compile every .c in src_dir with `flags`; raise BuildError with the first diagnostic."""
    obj_dir.mkdir(parents=True, exist_ok=True)
    objects = []
    for c_file in sorted(src_dir.glob("*.c")):
        obj = obj_dir / (c_file.stem + ".o")
        proc = run_tool([compiler(), *flags, "-I", str(src_dir), "-c", str(c_file), "-o", str(obj)], obj_dir)
        if proc.returncode != 0:
            raise BuildError(f"compiling {c_file.name} failed: {_first_error_text(proc.stderr)}")
        objects.append(obj)
    return objects


def _first_error_text(text: str) -> str:
    for line in text.splitlines():
        if "error" in line:
            return line.strip()
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


def _first_error(exc: Exception) -> str:
    text = str(exc)
    m = re.search(r"error: .*", text)
    return m.group(0) if m else text.splitlines()[0] if text else "the compiler gave no message"


def load_host_model(lib_path: Path, model) -> HostModel:
    module_name = lib_path.name.split(".")[0]
    if module_name in sys.modules:
        mod = sys.modules[module_name]
    else:
        spec = importlib.util.spec_from_file_location(module_name, lib_path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules[module_name] = mod
    g = model.graph

    def io(indices):
        return [(g.tensors[t].shape, g.tensors[t].dtype, model.tensor_offset(t)) for t in indices]

    return HostModel(model.name, mod.lib, mod.ffi, io(g.inputs), io(g.outputs), model.plan.size)


def build_and_load(model, emitted: EmittedModel) -> HostModel:
    return load_host_model(build_host_library(emitted, model.name), model)
