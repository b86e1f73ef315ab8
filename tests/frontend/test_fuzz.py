"""Seeded mutation fuzzing of the shared models: every mutant either compiles or is refused
with a ModelError (one line, exit 2 from the CLI); nothing else escapes, nothing hangs.

EDGECONV_FUZZ_MUTANTS sets the number of mutants (default 500, as CI runs); a long local run:
EDGECONV_FUZZ_MUTANTS=20000 python -m pytest tests/frontend/test_fuzz.py
"""

import os
import shutil
import signal

import numpy as np
import pytest

from conftest import SHARED_MODELS
from edgeconv.emit.emitter import emit
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.outputs import publish_text

MODELS = sorted(SHARED_MODELS.glob("*/*.tflite"))
N_MUTANTS = int(os.environ.get("EDGECONV_FUZZ_MUTANTS", "500"))
SECONDS_PER_MUTANT = 120


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    kind = int(rng.integers(0, 4))
    if kind == 0:  # flip a few bits
        for _ in range(int(rng.integers(1, 9))):
            i = int(rng.integers(0, len(b)))
            b[i] ^= 1 << int(rng.integers(0, 8))
    elif kind == 1:  # truncate
        del b[int(rng.integers(0, len(b))) :]
    elif kind == 2:  # overwrite a 32-bit word (offsets, indices, lengths) with an extreme value
        i = int(rng.integers(0, max(len(b) - 4, 1)))
        b[i : i + 4] = int(rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, len(b)])).to_bytes(4, "little")
    else:  # flip bits in the first 2 KB, where the tables and vectors of the header live
        for _ in range(int(rng.integers(1, 5))):
            i = int(rng.integers(0, min(2048, len(b))))
            b[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(b)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


@pytest.mark.parametrize("chunk", range(4))
def test_mutants_are_compiled_or_refused(shared_models, chunk, tmp_path):
    rng = np.random.default_rng(1000 + chunk)
    originals = [m.read_bytes() for m in MODELS]
    per_chunk = N_MUTANTS // 4
    escaped = []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for k in range(per_chunk):
            src = int(rng.integers(0, len(originals)))
            data = mutate(originals[src], rng)
            signal.alarm(SECONDS_PER_MUTANT)
            out = tmp_path / f"out{k}"
            try:
                publish_text(out, "test", emit(compile_bytes(data, "mutant")).files)
                shutil.rmtree(out)
            except ModelError as exc:
                assert "\n" not in str(exc).strip(), str(exc)
                assert not any(tmp_path.iterdir()), "a refused mutant left files behind"
            except _Timeout:
                escaped.append((MODELS[src].name, k, "timeout"))
            except Exception as exc:  # anything but ModelError would be a traceback for the user
                escaped.append((MODELS[src].name, k, f"{type(exc).__name__}: {exc}"[:200]))
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert not escaped, escaped[:10]
