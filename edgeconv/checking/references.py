"""The two oracles: TFLite Micro and TFLite's reference kernels (LiteRT BUILTIN_REF).

Never TFLite's optimized kernels or XNNPACK: they differ from the reference by several LSB.
LiteRT is preferred; `tflite_runtime` is a fallback only where LiteRT is not installed.

Each reference runs in its own worker process (`reference_worker.py`), one per reference
object, fed inputs over a pipe, so that a reference that crashes or hangs on a hostile model is
reported (`ReferenceFailed`: which reference, which signal) instead of killing edgeconv. When
the object is closed (`close()`, `with`, garbage collection) a healthy worker drops the model
and waits in a small pool for the next reference of its kind in this process (a test suite
validates hundreds of models); a crashed, hung or busy one is stopped and reaped. Every worker
stops at interpreter exit and, on Linux, with the edgeconv process however it ends.
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from edgeconv.checking.reference_worker import HEADER, read_exactly, write_message
from edgeconv.frontend.ir import ModelError

# The shortest time a reference gets for one request (seconds); see `call_timeout`.
MIN_TIMEOUT = 60.0


class ReferenceUnavailable(Exception):
    """The reference refuses the model (e.g. TFLite on person_detect's bias quantization)."""


class ReferenceFailed(ModelError):
    """The reference's worker crashed, hung, or failed on a request. `reference` is its title,
    `reason` what happened ("crashed with SIGSEGV", "did not answer within 60 s", ...);
    `died`: the worker is gone (crash, hang, closed), as opposed to one request failing."""

    def __init__(self, reference: str, reason: str, died: bool = True) -> None:
        super().__init__(f"{reference} {reason}")
        self.reference = reference
        self.reason = reason
        self.died = died


def call_timeout(macs: int) -> float:
    """Generous: at least a minute, and a second per million MACs for larger models (TFLite's
    reference kernels run some tens of millions of MACs a second on a slow host)."""
    return max(MIN_TIMEOUT, macs / 1e6)


def signal_name(returncode: int) -> str:
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


# Every worker this process started and has not stopped; idle ones wait in a pool per kind,
# so that a process running many validations (a test suite) pays Python's and the reference's
# start-up once, not per model. A worker is reused only by the process that started it.
_LIVE: set[subprocess.Popen] = set()
_IDLE: dict[str, list[subprocess.Popen]] = {}
_LOCK = threading.Lock()
MAX_IDLE_PER_KIND = 2


def _spawn() -> subprocess.Popen:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeconv.checking.reference_worker", str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        close_fds=True,
    )
    proc.owner = os.getpid()  # type: ignore[attr-defined]
    with _LOCK:
        _LIVE.add(proc)
    return proc


def _take(kind: str) -> subprocess.Popen:
    """An idle worker of this kind, or a new one."""
    while True:
        with _LOCK:
            idle = _IDLE.get(kind) or []
            proc = idle.pop() if idle else None
        if proc is None:
            return _spawn()
        if proc.poll() is None and getattr(proc, "owner", None) == os.getpid():
            return proc
        _stop(proc)


def _release(kind: str, proc: subprocess.Popen) -> None:
    """Back to the pool if it is healthy and there is room; else stopped."""
    with _LOCK:
        idle = _IDLE.setdefault(kind, [])
        keep = proc.poll() is None and getattr(proc, "owner", None) == os.getpid() and len(idle) < MAX_IDLE_PER_KIND
    if keep:
        try:
            write_message(proc.stdin.fileno(), ("unload",))
        except (OSError, ValueError):
            keep = False
    if keep:
        with _LOCK:
            _IDLE[kind].append(proc)
    else:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    with _LOCK:
        _LIVE.discard(proc)
        for idle in _IDLE.values():
            if proc in idle:
                idle.remove(proc)
    if proc.poll() is None:
        try:
            write_message(proc.stdin.fileno(), ("close",))
            proc.wait(timeout=2)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process SIGKILL cannot end
        pass
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def stop_idle_workers() -> None:
    """Stop the pooled idle workers (they also stop when this process exits, however it ends)."""
    with _LOCK:
        procs = [p for idle in _IDLE.values() for p in idle]
    for proc in procs:
        _stop(proc)


def live_workers() -> list[int]:
    """Process ids of the workers this process has started and not stopped (idle ones included)."""
    with _LOCK:
        return sorted(p.pid for p in _LIVE if getattr(p, "owner", None) == os.getpid())


@atexit.register
def _stop_all_workers() -> None:
    with _LOCK:
        procs = [p for p in _LIVE if getattr(p, "owner", None) == os.getpid()]
    for proc in procs:
        _stop(proc)


class OutOfProcessReference:
    """One reference in its own worker process. Subclasses name the kind."""

    kind = ""
    title = ""

    def __init__(
        self, model_data: bytes, options: dict | None = None, timeout: float = MIN_TIMEOUT, wait: bool = True
    ) -> None:
        self.timeout = timeout
        self._proc: subprocess.Popen | None = None
        self._loaded = False
        self._awaiting = 0  # answers due from the worker and not yet read
        self._proc = _take(self.kind)
        try:
            self._send(("load", self.kind, bytes(model_data), options or {}))
        except ReferenceFailed:
            # A pooled worker may have died since (its starting thread ended): one fresh try.
            self._proc = _spawn()
            self._send(("load", self.kind, bytes(model_data), options or {}))
        except BaseException:
            self.close()
            raise
        if wait:
            self.wait_ready()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def wait_ready(self) -> None:
        """Wait for the model to load: ReferenceUnavailable if the reference refuses it,
        ReferenceFailed if it crashes or hangs while loading."""
        if self._loaded:
            return
        try:
            status, payload = self._receive()
        except BaseException:
            self.close()
            raise
        if status == "unavailable":
            self.close()
            raise ReferenceUnavailable(payload)
        if status != "ok":
            self.close()
            raise ReferenceFailed(self.title, f"failed to load the model: {payload}", died=False)
        self._loaded = True

    def run(self, inputs: list[np.ndarray], n_outputs: int) -> list[np.ndarray]:
        self.start_run(inputs, n_outputs)
        return self.finish_run()

    def start_run(self, inputs: list[np.ndarray], n_outputs: int) -> None:
        """Send one inference to the worker without waiting for it (so that both references and
        the C can compute at once); `finish_run` collects its outputs."""
        self.wait_ready()
        self._send(("run", [np.asarray(x) for x in inputs], n_outputs))

    def start_runs(self, batch: list[list[np.ndarray]], n_outputs: int) -> None:
        """Send several inferences at once; the worker answers each as it finishes, and each
        `finish_run` collects the next (so a crash is still pinned to its sample)."""
        self.wait_ready()
        self._send(("run_many", [[np.asarray(x) for x in inputs] for inputs in batch], n_outputs), answers=len(batch))

    def finish_run(self) -> list[np.ndarray]:
        status, payload = self._receive()
        if status != "ok":
            raise ReferenceFailed(self.title, f"failed: {payload}", died=False)
        return payload

    def tensor(self, index: int) -> np.ndarray:
        return self._call(("tensor", index))

    def arena_total(self) -> int:
        return self._call(("arena_total",))

    def close(self) -> None:
        """Give the worker back: to the pool when it is healthy and idle, else stopped."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._awaiting or proc.poll() is not None:
            _stop(proc)
        else:
            _release(self.kind, proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # --- the pipe ---------------------------------------------------------------------------

    def _call(self, request):
        self.wait_ready()
        self._send(request)
        status, payload = self._receive()
        if status != "ok":
            raise ReferenceFailed(self.title, f"failed: {payload}", died=False)
        return payload

    def _send(self, message, answers: int = 1) -> None:
        if self._proc is None:
            raise ReferenceFailed(self.title, "is not running (its worker was closed)")
        try:
            write_message(self._proc.stdin.fileno(), message)
        except (BrokenPipeError, ConnectionResetError):
            raise self._died() from None
        self._awaiting += answers

    def _receive(self):
        if self._proc is None:
            raise ReferenceFailed(self.title, "is not running (its worker was closed)")
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise ReferenceFailed(self.title, f"did not answer within {self.timeout:.0f} s (hung)")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                break
        header = read_exactly(fd, HEADER.size)
        body = read_exactly(fd, HEADER.unpack(header)[0]) if header is not None else None
        if body is None:
            raise self._died()
        self._awaiting -= 1
        return pickle.loads(body)

    def _died(self) -> ReferenceFailed:
        proc = self._proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.close()
        if code is None:
            return ReferenceFailed(self.title, "stopped answering")
        return ReferenceFailed(
            self.title, f"crashed with {signal_name(code)}" if code < 0 else f"exited with status {code}"
        )


class TflmReference(OutOfProcessReference):
    """TFLite Micro (`tflite_micro`). With preserve_all_tensors every intermediate tensor can be
    read after an invoke (`tensor(i)`), for locating a divergence."""

    kind = "tflm"
    title = "TFLite Micro"

    def __init__(
        self, model_data: bytes, preserve_all_tensors: bool = False, timeout: float = MIN_TIMEOUT, wait: bool = True
    ) -> None:
        super().__init__(model_data, {"preserve_all_tensors": preserve_all_tensors}, timeout=timeout, wait=wait)


class TfliteRefReference(OutOfProcessReference):
    """TFLite's reference kernels (LiteRT, OpResolverType.BUILTIN_REF); every tensor kept.
    `note` says when the model was given to them with an op version lowered
    (`with_ref_registered_versions`), else it is None."""

    kind = "tflite_ref"
    title = "TFLite's reference"

    def __init__(self, model_data: bytes, timeout: float = MIN_TIMEOUT, wait: bool = True) -> None:
        model_data, self.note = with_ref_registered_versions(model_data)
        super().__init__(model_data, None, timeout=timeout, wait=wait)


# Ops whose TFLite kernel is one implementation, registered in both the default and the
# reference resolvers, but for fewer versions in BUILTIN_REF: (builtin code, highest version
# BUILTIN_REF registers). TILE: the converter writes version 3 (Keras 3's UpSampling2D, tf.tile
# on int8/int16), BUILTIN_REF registers it up to version 2; tile.cc's Eval is the same code.
_REF_VERSION_CAPS = {69: ("TILE", 2)}


def with_ref_registered_versions(model_data: bytes) -> tuple[bytes, str | None]:
    """The model with each op in _REF_VERSION_CAPS lowered to a version BUILTIN_REF registers
    (the operator code's version field rewritten in place), and a note saying so; the model
    unchanged and None if nothing needed it or the buffer is not a readable model."""
    import struct

    try:
        import tflite

        data = bytearray(model_data)
        model = tflite.Model.GetRootAsModel(data, 0)
        lowered = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            name, cap = _REF_VERSION_CAPS.get(code, ("", 0))
            field = oc._tab.Offset(8)  # OperatorCode.version (absent: the default, 1)
            version = oc.Version()
            if name and version > cap and field:
                struct.pack_into("<i", data, oc._tab.Pos + field, cap)
                lowered.append(f"{name} version {version}")
    except Exception:  # a damaged model: the reference reports it as it is
        return model_data, None
    if not lowered:
        return model_data, None
    return bytes(data), (
        f"TFLite's reference kernels do not register {', '.join(lowered)}; they ran it as "
        "the older version they register (the same kernel code)"
    )


def with_tensor_shapes(model_data: bytes, shapes: dict[int, tuple[int, ...]]) -> bytes | None:
    """The model with the stored shapes of subgraph 0's tensors replaced by `shapes` (tensor ->
    shape), rewritten in place; None where a tensor's stored shape has another rank (no room)
    or the rewrite does not read back as asked.

    TFLite Micro never resizes a tensor: it runs the shapes stored in the file. Given the shapes
    TFLite's Prepare computes (shapes.infer_shapes), it runs its own kernels on them, where the
    file's placeholders (a dynamic batch stored as 1) would make it compute something else."""
    import struct

    import tflite

    try:
        data = bytearray(model_data)
        sg = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0)
        for index, shape in shapes.items():
            tab = sg.Tensors(index)._tab
            field = tab.Offset(4)  # Tensor.shape
            if not field or tab.VectorLen(field) != len(shape):
                return None
            start = tab.Vector(field)
            for k, d in enumerate(shape):
                struct.pack_into("<i", data, start + 4 * k, int(d))
        check = tflite.Model.GetRootAsModel(bytes(data), 0).Subgraphs(0)
        original = tflite.Model.GetRootAsModel(model_data, 0).Subgraphs(0)
        for i in range(check.TensorsLength()):
            got = tuple(int(d) for d in check.Tensors(i).ShapeAsNumpy()) if check.Tensors(i).ShapeLength() else ()
            want = shapes.get(i)
            if want is None:  # a shape vector shared with a rewritten tensor would change here
                want = (
                    tuple(int(d) for d in original.Tensors(i).ShapeAsNumpy())
                    if original.Tensors(i).ShapeLength()
                    else ()
                )
            if got != tuple(int(d) for d in want):
                return None
    except Exception:  # a damaged model: no rewrite
        return None
    return bytes(data)


def with_explicit_space_to_batch_padding(model_data: bytes) -> bytes | None:
    """The model with each SPACE_TO_BATCH_ND that pads split into PAD (the same paddings, with
    the input's zero point) and a SPACE_TO_BATCH_ND that pads nothing; None if no op pads or
    the model cannot be rewritten.

    TFLite Micro's SPACE_TO_BATCH_ND fills padded cells with a value its Prepare never sets, so
    on such a model its output is undefined; TFLite's reference pads with the zero point, as
    edgeconv does. Given the explicit PAD, TFLite Micro computes what both mean, with its own
    kernels for every other op (a dilated convolution with a dynamic batch is converted this
    way: SPACE_TO_BATCH_ND -> CONV_2D -> BATCH_TO_SPACE_ND)."""
    import copy

    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.ModelT.InitFromPackedBuf(model_data, 0)
        sg = model.subgraphs[0]
        codes = model.operatorCodes

        def builtin(op) -> int:
            oc = codes[op.opcodeIndex]
            return max(oc.builtinCode, oc.deprecatedBuiltinCode)

        def const_tensor(name: bytes, values: np.ndarray) -> int:
            buf = schema.BufferT()
            buf.data = np.ascontiguousarray(values, dtype=np.int32).view(np.uint8).reshape(-1).tolist()
            model.buffers.append(buf)
            t = schema.TensorT()
            t.shape, t.type, t.name, t.buffer = (
                list(values.shape),
                schema.TensorType.INT32,
                name,
                len(model.buffers) - 1,
            )
            sg.tensors.append(t)
            return len(sg.tensors) - 1

        pad_code = None
        ops = []
        for op in sg.operators:
            if builtin(op) == schema.BuiltinOperator.SPACE_TO_BATCH_ND and len(op.inputs) == 3:
                pads_t = sg.tensors[op.inputs[2]]
                raw = model.buffers[pads_t.buffer].data
                pads = np.frombuffer(bytes(bytearray(raw)), dtype=np.int32).reshape(-1, 2) if raw is not None else None
                if pads is not None and pads.any():
                    x = sg.tensors[op.inputs[0]]
                    rank = len(x.shape)
                    full = np.zeros((rank, 2), np.int32)
                    full[1 : 1 + len(pads)] = pads
                    padded = copy.deepcopy(x)
                    padded.buffer = 0
                    padded.name = (x.name or b"") + b"/explicit_padding"
                    padded.shape = [int(d + a + b) for d, (a, b) in zip(x.shape, full)]
                    padded.shapeSignature = None
                    sg.tensors.append(padded)
                    padded_index = len(sg.tensors) - 1
                    if pad_code is None:
                        oc = schema.OperatorCodeT()
                        oc.builtinCode = oc.deprecatedBuiltinCode = schema.BuiltinOperator.PAD
                        oc.version = (
                            2 if x.type == schema.TensorType.INT8 else 4 if x.type == schema.TensorType.INT16 else 1
                        )
                        codes.append(oc)
                        pad_code = len(codes) - 1
                    pad = schema.OperatorT()
                    pad.opcodeIndex = pad_code
                    pad.inputs = [op.inputs[0], const_tensor(b"explicit_padding/paddings", full)]
                    pad.outputs = [padded_index]
                    pad.builtinOptionsType = schema.BuiltinOptions.PadOptions
                    pad.builtinOptions = schema.PadOptionsT()
                    ops.append(pad)
                    op.inputs = [
                        padded_index,
                        op.inputs[1],
                        const_tensor(b"explicit_padding/none", np.zeros_like(pads)),
                    ]
            ops.append(op)
        if pad_code is None:
            return None
        sg.operators = ops
        builder = flatbuffers.Builder(len(model_data) + 4096)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())
    except Exception:  # a damaged model: no rewrite
        return None
