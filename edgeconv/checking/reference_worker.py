"""The oracles as driven inside their worker process: `python -m edgeconv.checking.reference_worker`.

A reference (TFLite Micro, or TFLite's reference kernels) can crash or hang on a hostile model;
running it here keeps that from taking edgeconv down with it. `references.py` starts one worker
per reference and talks to it over the worker's stdin/stdout: each message is an 8-byte
little-endian length followed by a pickle (numpy arrays travel as they are). Requests:

    ("load", kind, model_bytes, options) -> ("ok", None) | ("unavailable", message)
    ("run", inputs, n_outputs)           -> ("ok", [outputs])
    ("run_many", [inputs, ...], n_outputs) -> one ("ok", [outputs]) or ("error", message) per sample
    ("tensor", index)                    -> ("ok", array)
    ("arena_total",)                     -> ("ok", bytes)
    ("unload",)                          -> (no answer) the model is dropped; a "load" may follow
    ("close",)                           -> the worker exits

A Python error inside a request answers ("error", message). Anything C code prints goes to the
worker's stderr, never into the protocol stream.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import struct
import sys

import numpy as np

from edgeconv.quiet import captured

HEADER = struct.Struct("<Q")


class ModelRefused(Exception):
    """The reference refuses the model (e.g. TFLite on person_detect's bias quantization)."""


def interpreter_module():
    """LiteRT's interpreter; `tflite_runtime` only where LiteRT is not installed."""
    try:
        from ai_edge_litert import interpreter as mod

        return mod
    except ImportError:
        from tflite_runtime import interpreter as mod  # an older edge image without LiteRT

        return mod


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else "no reason given")[:300]


class TflmOracle:
    """TFLite Micro (`tflite_micro`), in this process."""

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
            self.interp = runtime.Interpreter.from_bytes(model_data, arena_size=arena, intrepreter_config=config)
        except Exception as exc:
            raise ModelRefused(f"TFLite Micro refuses the model: {first_line(exc)}") from None

    def run(self, inputs: list[np.ndarray], n_outputs: int) -> list[np.ndarray]:
        for i, x in enumerate(inputs):
            self.interp.set_input(np.require(np.asarray(x), requirements="C"), i)
        self.interp.invoke()
        return [np.array(self.interp.get_output(i)) for i in range(n_outputs)]

    def tensor(self, index: int) -> np.ndarray:
        info = self.interp._interpreter.GetTensor(index, 0)  # {'dtype', 'shape', 'tensor_data'}
        return np.asarray(info["tensor_data"]).reshape(info["shape"])

    def arena_total(self) -> int:
        """TFLM's RecordingMicroAllocator total, after an invoke."""
        with captured(2) as box:
            self.interp.print_allocations()
        m = re.search(r"Arena allocation total (\d+) bytes", box["text"])
        if not m:
            raise RuntimeError("TFLite Micro printed no arena total")
        return int(m.group(1))


class TfliteRefOracle:
    """TFLite's reference kernels (LiteRT, OpResolverType.BUILTIN_REF), in this process."""

    def __init__(self, model_data: bytes) -> None:
        mod = interpreter_module()
        try:
            self.interp = mod.Interpreter(
                model_content=model_data,
                experimental_op_resolver_type=mod.OpResolverType.BUILTIN_REF,
                experimental_preserve_all_tensors=True,
            )
            self.interp.allocate_tensors()
        except Exception as exc:
            raise ModelRefused(f"TFLite refuses the model: {first_line(exc)}") from None
        self.inputs = self.interp.get_input_details()
        self.outputs = self.interp.get_output_details()

    def run(self, inputs: list[np.ndarray], n_outputs: int) -> list[np.ndarray]:
        for d, x in zip(self.inputs, inputs):
            self.interp.set_tensor(
                d["index"], np.require(np.asarray(x, dtype=d["dtype"]), requirements="C").reshape(d["shape"])
            )
        self.interp.invoke()
        return [np.array(self.interp.get_tensor(d["index"])) for d in self.outputs[:n_outputs]]

    def tensor(self, index: int) -> np.ndarray:
        return np.array(self.interp.get_tensor(index))

    def arena_total(self) -> int:
        raise RuntimeError("TFLite's reference reports no arena total")


def load_oracle(kind: str, model_data: bytes, options: dict):
    if kind == "tflm":
        return TflmOracle(model_data, **options)
    if kind == "tflite_ref":
        return TfliteRefOracle(model_data)
    raise ValueError(f"unknown reference kind {kind!r}")


def read_message(fd: int):
    header = read_exactly(fd, HEADER.size)
    if header is None:
        return None
    body = read_exactly(fd, HEADER.unpack(header)[0])
    return None if body is None else pickle.loads(body)


def read_exactly(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def write_message(fd: int, message) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


def die_with_parent() -> None:
    """Linux: the kernel kills this worker when edgeconv goes (even by SIGKILL), so a hung
    reference never outlives it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def serve(parent_pid: int) -> int:
    die_with_parent()
    if os.getppid() != parent_pid:  # the parent went before prctl took effect
        return 0
    # Ctrl-C reaches the whole process group; the parent decides when this worker ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Keep the protocol on private descriptors; C code printing to stdout lands on stderr.
    requests, replies = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    oracle = None
    while True:
        message = read_message(requests)
        if message is None or message[0] == "close":
            return 0
        verb, args = message[0], message[1:]
        try:
            if verb == "unload":  # back to the pool: free the model now; no answer
                oracle = None
                continue
            if verb == "load":
                oracle = None
                try:
                    oracle = load_oracle(*args)
                    reply = ("ok", None)
                except ModelRefused as exc:
                    reply = ("unavailable", str(exc))
            elif oracle is None:
                reply = ("error", "no model loaded")
            elif verb == "run_many":  # one answer per sample, each as soon as it is computed
                batch, n_outputs = args
                for inputs in batch:
                    try:
                        write_message(replies, ("ok", oracle.run(inputs, n_outputs)))
                    except Exception as exc:
                        write_message(replies, ("error", first_line(exc)))
                continue
            elif verb == "run":
                reply = ("ok", oracle.run(*args))
            elif verb == "tensor":
                reply = ("ok", oracle.tensor(*args))
            elif verb == "arena_total":
                reply = ("ok", oracle.arena_total())
            else:
                reply = ("error", f"unknown request {verb!r}")
        except Exception as exc:  # a Python-level failure inside the reference: report, keep serving
            reply = ("error", first_line(exc))
        write_message(replies, reply)


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1])))
