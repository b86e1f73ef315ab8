"""The two oracles: TFLite Micro and TFLite's reference kernels (LiteRT BUILTIN_REF).

Never TFLite's optimized kernels or XNNPACK: they differ from the reference by several LSB.
LiteRT is preferred; `tflite_runtime` is a fallback only where LiteRT is not installed.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager

import numpy as np


class ReferenceUnavailable(Exception):
    """The reference refuses the model (e.g. TFLite on person_detect's bias quantization)."""


@contextmanager
def _capture_fd(fd: int):
    """Capture what C code writes to a file descriptor (TFLM prints allocations to stderr)."""
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), fd)
        box: dict[str, str] = {}
        try:
            yield box
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            box["text"] = tmp.read().decode(errors="replace")


class TflmReference:
    def __init__(self, model_data: bytes, preserve_all_tensors: bool = False) -> None:
        from tflite_micro.python.tflite_micro import runtime

        config = (
            runtime.InterpreterConfig.kPreserveAllTensors
            if preserve_all_tensors
            else runtime.InterpreterConfig.kAllocationRecording
        )
        # Arena: generous; TFLM reports what it really used through print_allocations.
        arena = max(len(model_data) * 10, 4 << 20)
        try:
            self._interp = runtime.Interpreter.from_bytes(model_data, arena_size=arena, intrepreter_config=config)
        except Exception as exc:
            raise ReferenceUnavailable(f"TFLite Micro refuses the model: {str(exc).splitlines()[0] if str(exc) else exc}") from None
        self._n_outputs = None

    def run(self, inputs: list[np.ndarray], n_outputs: int) -> list[np.ndarray]:
        for i, x in enumerate(inputs):
            self._interp.set_input(np.require(np.asarray(x), requirements='C'), i)
        self._interp.invoke()
        return [np.array(self._interp.get_output(i)) for i in range(n_outputs)]

    def tensor(self, index: int) -> np.ndarray:
        info = self._interp._interpreter.GetTensor(index, 0)  # {'dtype', 'shape', 'tensor_data'}
        return np.asarray(info["tensor_data"]).reshape(info["shape"])

    def arena_total(self) -> int:
        """TFLM's RecordingMicroAllocator total, after an invoke."""
        with _capture_fd(2) as box:
            self._interp.print_allocations()
        m = re.search(r"Arena allocation total (\d+) bytes", box["text"])
        if not m:
            raise RuntimeError("TFLite Micro printed no arena total")
        return int(m.group(1))


def _interpreter_module():
    try:
        from ai_edge_litert import interpreter as mod

        return mod
    except ImportError:
        from tflite_runtime import interpreter as mod  # an older edge image without LiteRT

        return mod


class TfliteRefReference:
    def __init__(self, model_data: bytes) -> None:
        mod = _interpreter_module()
        try:
            self._interp = mod.Interpreter(
                model_content=model_data,
                experimental_op_resolver_type=mod.OpResolverType.BUILTIN_REF,
                experimental_preserve_all_tensors=True,
            )
            self._interp.allocate_tensors()
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ReferenceUnavailable(f"TFLite refuses the model: {first[:300]}") from None
        self._inputs = self._interp.get_input_details()
        self._outputs = self._interp.get_output_details()

    def run(self, inputs: list[np.ndarray], n_outputs: int) -> list[np.ndarray]:
        for d, x in zip(self._inputs, inputs):
            self._interp.set_tensor(d["index"], np.require(np.asarray(x, dtype=d["dtype"]), requirements="C").reshape(d["shape"]))
        self._interp.invoke()
        return [np.array(self._interp.get_tensor(d["index"])) for d in self._outputs[:n_outputs]]

    def tensor(self, index: int) -> np.ndarray:
        return np.array(self._interp.get_tensor(index))
