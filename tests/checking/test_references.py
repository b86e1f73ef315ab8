"""The references run out of process: results as in process, refusals, a real TFLite Micro crash,
a hang, and no worker left behind however edgeconv ends."""

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_MODELS
from edgeconv.checking.references import (
    ReferenceFailed,
    ReferenceUnavailable,
    TfliteRefReference,
    TflmReference,
    live_workers,
    stop_idle_workers,
)

KWS = SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"
PERSON = SHARED_MODELS / "tflite_micro" / "person_detect.tflite"


@functools.cache
def fc_weights_overrun() -> bytes:
    """kws_ref_model with its FULLY_CONNECTED weights declared [12, 6400000] over a 768-byte
    buffer. TFLite refuses it ("Tensor 16 is invalidly specified"); TFLite Micro loads it and
    dies with SIGSEGV in the first invoke, reading far past the buffer."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(KWS.read_bytes(), 0))
    model.subgraphs[0].tensors[16].shape = np.array([12, 6400000], dtype=np.int32)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def worker_pids(parent: int) -> list[int]:
    """Reference workers started by process `parent`, alive or zombie (their command line
    carries the parent's pid)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"edgeconv.checking.reference_worker" in argv and str(parent).encode() in argv:
            found.append(int(entry.name))
    return found


def children(parent: int) -> list[tuple[int, str]]:
    """(pid, state) of every child of `parent`: a zombie shows as 'Z'."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == parent:
            out.append((int(entry.name), fields[0]))
    return out


def assert_no_worker_left() -> None:
    """Only idle pooled workers may remain after a validation; stopped, nothing is left: no
    worker process and no zombie child."""
    assert len(live_workers()) <= 4  # at most two idle per kind
    stop_idle_workers()
    assert live_workers() == []
    assert worker_pids(os.getpid()) == []
    assert [c for c in children(os.getpid()) if c[1] == "Z"] == []


def sample() -> list[np.ndarray]:
    return [np.random.default_rng(3).integers(-128, 128, size=(1, 49, 10, 1)).astype(np.int8)]


def test_outputs_tensors_and_arena_as_in_process(shared_models):
    data = KWS.read_bytes()
    with TflmReference(data) as tflm, TfliteRefReference(data) as ref:
        a = tflm.run(sample(), 1)
        b = ref.run(sample(), 1)
        assert a[0].shape == (1, 12) and a[0].dtype == np.int8
        assert np.array_equal(a[0], b[0])
        assert tflm.arena_total() == 24272  # docs/ARCHITECTURE.md's figure for kws_ref_model
        assert ref.tensor(22).shape == (1, 25, 5, 64)  # every tensor kept
        assert {tflm.pid, ref.pid} <= set(worker_pids(os.getpid()))
    assert_no_worker_left()


def test_refusal_is_reference_unavailable(shared_models):
    with pytest.raises(ReferenceUnavailable, match="TFLite refuses the model: quantized_dimension"):
        TfliteRefReference(PERSON.read_bytes())
    assert_no_worker_left()


def test_tflm_crash_is_one_line_naming_the_signal(shared_models):
    data = fc_weights_overrun()
    with pytest.raises(ReferenceUnavailable):
        TfliteRefReference(data)
    tflm = TflmReference(data)  # loads: TFLite Micro does not check the weights' size
    pid = tflm.pid
    with pytest.raises(ReferenceFailed) as info:
        tflm.run(sample(), 1)
    assert str(info.value) == "TFLite Micro crashed with SIGSEGV"
    assert info.value.reference == "TFLite Micro" and info.value.died
    assert pid not in [p for p, _ in children(os.getpid())]  # reaped: no zombie
    with pytest.raises(ReferenceFailed, match="not running"):
        tflm.run(sample(), 1)


def test_hang_is_reported_after_the_timeout(shared_models):
    tflm = TflmReference(KWS.read_bytes(), timeout=1)
    os.kill(tflm.pid, signal.SIGSTOP)  # a worker that never answers
    pid = tflm.pid
    start = time.monotonic()
    with pytest.raises(ReferenceFailed, match=r"^TFLite Micro did not answer within 1 s"):
        tflm.run(sample(), 1)
    assert time.monotonic() - start < 30
    assert pid not in [p for p, _ in children(os.getpid())]


def test_workers_die_with_a_killed_parent(shared_models, tmp_path):
    script = (
        "import os, sys\n"
        "from edgeconv.checking.references import TflmReference\n"
        f"r = TflmReference(open({str(KWS)!r}, 'rb').read())\n"
        "print(r.pid, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9
    worker = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{worker}").exists(), "the worker outlived edgeconv"


def test_a_healthy_worker_is_reused_and_a_crashed_one_is_not(shared_models):
    stop_idle_workers()
    first = TflmReference(KWS.read_bytes())
    pid = first.pid
    expected = first.run(sample(), 1)
    first.close()
    assert live_workers() == [pid]  # idle, waiting for the next model
    second = TflmReference(KWS.read_bytes())
    assert second.pid == pid
    np.testing.assert_array_equal(second.run(sample(), 1)[0], expected[0])
    second.close()
    crashing = TflmReference(fc_weights_overrun())
    assert crashing.pid == pid
    with pytest.raises(ReferenceFailed, match="SIGSEGV"):
        crashing.run(sample(), 1)
    assert pid not in live_workers() and pid not in [p for p, _ in children(os.getpid())]
    assert_no_worker_left()
