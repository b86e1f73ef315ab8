"""Test support: TFLite Micro in a child process, so that a hostile model that crashes TFLite
Micro (it trusts the flatbuffer) costs one comparison, not the test worker.

`TflmProcess.run(model_bytes, samples, n_outputs)` returns a TflmResult: outputs per sample, or why there
are none ("refused: ...", "crashed: signal N", "timeout"). The child serves many models; after
a crash the next call starts a new one. Run as a script, this module is the child: it reads
pickled requests on stdin and writes pickled results on a private copy of stdout (TFLite Micro's
own prints go to stderr).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass

import numpy as np


@dataclass
class TflmResult:
    outputs: list[list[np.ndarray]] | None  # per sample, per model output
    problem: str = ""  # why outputs is None
    tflite_problem: str = ""  # when TFLite Micro refused: TFLite's (reference kernels) refusal, or ""


class TflmProcess:
    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        return self.proc

    def run(self, model: bytes, samples: list[list[np.ndarray]], n_outputs: int) -> TflmResult:
        proc = self._start()
        payload = pickle.dumps((model, samples, n_outputs))
        try:
            proc.stdin.write(struct.pack("<Q", len(payload)) + payload)
            proc.stdin.flush()
            header = self._read(proc, 8)
            reply = pickle.loads(self._read(proc, struct.unpack("<Q", header)[0]))
        except TimeoutError:
            self.close()
            return TflmResult(None, "timeout")
        except (EOFError, BrokenPipeError, OSError):
            code = proc.wait()
            self.proc = None
            return TflmResult(None, f"crashed: signal {-code}" if code < 0 else f"crashed: exit {code}")
        return TflmResult(*reply)

    def _read(self, proc: subprocess.Popen, n: int) -> bytes:
        data = b""
        fd = proc.stdout.fileno()
        while len(data) < n:
            ready, _, _ = select.select([fd], [], [], self.timeout)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None


def _serve() -> None:
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # TFLite Micro's prints must not corrupt the channel
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from tflite_micro.python.tflite_micro import runtime

    stdin = sys.stdin.buffer
    while True:
        header = stdin.read(8)
        if len(header) < 8:
            return
        model, samples, n_outputs = pickle.loads(stdin.read(struct.unpack("<Q", header)[0]))
        reply = _run_one(runtime, model, samples, n_outputs)
        payload = pickle.dumps(reply)
        channel.write(struct.pack("<Q", len(payload)) + payload)
        channel.flush()


def _run_one(runtime, model: bytes, samples, n_outputs: int):
    try:
        interp = runtime.Interpreter.from_bytes(model, arena_size=max(len(model) * 10, 4 << 20))
    except Exception as exc:  # TFLite Micro's Prepare refused it
        return None, f"refused: {_first_line(exc)}", _tflite_refusal(model, samples)
    results = []
    for sample in samples:
        try:
            for i, x in enumerate(sample):
                detail = interp.get_input_details(i)
                arr = np.asarray(x, dtype=detail["dtype"])
                if arr.size != int(np.prod(detail["shape"])):
                    return None, f"no comparison: input {i} has shape {list(detail['shape'])}", ""
                interp.set_input(np.require(arr.reshape(detail["shape"]), requirements="C"), i)
            interp.invoke()
            results.append([np.array(interp.get_output(i)) for i in range(n_outputs)])
        except Exception as exc:
            return None, f"refused at invoke: {_first_line(exc)}", _tflite_refusal(model, samples)
    return results, "", ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _tflite_refusal(model: bytes, samples) -> str:
    """TFLite's reference kernels (LiteRT BUILTIN_REF) on a model TFLite Micro refused: why it
    refuses too, or "" if it runs the first sample."""
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError:
        return ""
    try:
        interp = litert.Interpreter(model_content=model, experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
        interp.allocate_tensors()
        for detail, x in zip(interp.get_input_details(), samples[0] if samples else []):
            arr = np.asarray(x, dtype=detail["dtype"])
            if arr.size != int(np.prod(detail["shape"])):
                return f"refused: input {detail['index']} has shape {list(detail['shape'])}"
            interp.set_tensor(detail["index"], np.require(arr.reshape(detail["shape"]), requirements="C"))
        interp.invoke()
    except Exception as exc:
        return f"refused: {_first_line(exc)}"
    return ""


if __name__ == "__main__":
    _serve()
