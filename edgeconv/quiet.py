"""Keeping other libraries' chatter off the user's terminal (and off stdout, which carries
--json output): C compilers run by setuptools, and TensorFlow, which prints from both Python and
C++.

TensorFlow's start-up lines come from its C++ side while `import tensorflow` runs: absl's
"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR", then
absl-formatted lines (`I0000 00:00:... cpu_feature_guard.cc:...] This TensorFlow binary is
optimized...`, the oneDNN notice, and on machines with CUDA libraries the "Unable to register
cuDNN/cuFFT/cuBLAS factory" errors). TF_CPP_MIN_LOG_LEVEL filters TensorFlow's own logging but
not absl's pre-initialisation warning nor the lines XLA logs through absl directly, so
`quiet_tensorflow_logs()` also installs an import hook: the first import of tensorflow (or
keras) runs with file descriptor 2 sent to a temporary file, and afterwards every line that is
not known start-up chatter is written back to the real stderr (an error while importing is
never hidden). EDGECONV_DEBUG=1 turns the hook off.
"""

from __future__ import annotations

import importlib.abc
import os
import re
import sys
import tempfile
import threading
import warnings
from contextlib import contextmanager

# Modules whose first import prints C++ start-up lines.
NOISY_MODULES = ("tensorflow", "keras", "tf_keras")

# Lines TensorFlow, XLA and absl print while starting up (matched anywhere in a line).
STARTUP_CHATTER = re.compile(
    r"absl::InitializeLog\(\)"
    r"|^[IWEF]\d{4} [\d:.]+\s+\d+\s+[\w./-]+:\d+\]"  # absl's own line format
    r"|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] "  # TensorFlow's older format
    r"|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized"
    r"|To enable the following instructions"
    r"|rebuild TensorFlow with the appropriate compiler flags"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning"
    r"|Could not find cuda drivers"
    r"|TF_ENABLE_ONEDNN_OPTS"
)


def is_startup_chatter(line: str) -> bool:
    return bool(STARTUP_CHATTER.search(line))


def quiet_tensorflow_logs() -> None:
    """Before TensorFlow is imported: no C++ info/warning logs, and the import hook that keeps
    its start-up lines off stderr (see the module's docstring). Idempotent."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ.get("EDGECONV_DEBUG", "") not in ("", "0"):
        return
    with _hook_lock:
        if not any(isinstance(f, _QuietImportFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _QuietImportFinder())


def quiet_library_warnings() -> None:
    """For the command line: Python warnings and absl/TensorFlow log records from TensorFlow,
    Keras and absl (deprecations, "Compiled the loaded model, but...") are not shown. Our own
    warnings still are."""
    for module in ("tensorflow", "keras", "tf_keras", "absl", "google.protobuf", "ml_dtypes", "h5py"):
        warnings.filterwarnings("ignore", module=rf"{re.escape(module)}(\..*)?$")
    import logging

    for name in ("tensorflow", "absl", "keras", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "absl.logging" in sys.modules:
        sys.modules["absl.logging"].set_verbosity("error")


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError):  # None (no console) or closed
            pass


@contextmanager
def redirected(target: int, *fds: int):
    """The one file-descriptor redirect: meanwhile what is written to each of `fds` (by Python
    and C alike) goes to the open descriptor `target`; on leaving, each gets its own back."""
    _flush_python_streams()
    saved = [os.dup(fd) for fd in fds]
    for fd in fds:
        os.dup2(target, fd)
    try:
        yield
    finally:
        _flush_python_streams()
        for fd, old in zip(fds, saved):
            os.dup2(old, fd)
            os.close(old)


@contextmanager
def silenced():
    """Send what is written to fd 1 and 2 (Python and C alike) to /dev/null meanwhile."""
    with open(os.devnull, "w") as null, redirected(null.fileno(), 1, 2):
        yield


@contextmanager
def captured(fd: int):
    """What is written to `fd` meanwhile (by C code too: TFLM prints allocations to stderr),
    in box["text"] once the block is left."""
    box: dict[str, str] = {}
    with tempfile.TemporaryFile() as capture:
        try:
            with redirected(capture.fileno(), fd):
                yield box
        finally:
            capture.seek(0)
            box["text"] = capture.read().decode("utf-8", "replace")


@contextmanager
def startup_chatter_filtered():
    """Meanwhile fd 2 goes to a temporary file; afterwards its lines that are not start-up
    chatter (`is_startup_chatter`) are written to the real fd 2, in order."""
    box: dict[str, str] = {}
    try:
        with captured(2) as box:
            yield
    finally:  # also when the import fails: its error is never hidden
        kept = [
            line
            for line in box.get("text", "").splitlines(keepends=True)
            if line.strip() and not is_startup_chatter(line)
        ]
        if kept:
            os.write(2, "".join(kept).encode("utf-8", "replace"))


_hook_lock = threading.Lock()


class _QuietImportFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the first import of a module in NOISY_MODULES so that it runs inside
    `startup_chatter_filtered()`; every other import passes through untouched."""

    def __init__(self) -> None:
        self._busy = threading.local()

    def find_spec(self, fullname, path, target=None):
        if fullname not in NOISY_MODULES or getattr(self._busy, "on", False):
            return None
        self._busy.on = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._busy.on = False
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        # the module keeps its real loader (importlib.resources and pickling look at it)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with startup_chatter_filtered():
            self._loader.exec_module(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)
