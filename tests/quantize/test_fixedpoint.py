"""The fixed-point helpers: compile-time multipliers (quantize/fixedpoint.py) and the C
requantization in c_runtime/ec_fixedpoint.h against an exact integer model of TFLite's."""

import importlib.util
import math

import numpy as np
import pytest

from edgeconv.emit.emitter import runtime_dir
from quantize.fixedpoint import activation_range, quantize_multiplier, tflite_round


@pytest.mark.parametrize(
    "real, expected",
    [
        (0.0, (0, 0)),
        (0.5, (1 << 30, 0)),
        (1.0, (1 << 30, 1)),
        (0.75, (3 << 29, 0)),
        (2.0**-40, (0, 0)),  # below 2^-31: flushed to zero as TFLite does
        (1.0 - 2.0**-33, (1 << 30, 1)),  # rounds up to 2^31, halved with shift + 1
        (3.0, (3 << 29, 2)),
    ],
)
def test_quantize_multiplier(real, expected):
    assert quantize_multiplier(real) == expected


def test_quantize_multiplier_reconstructs():
    rng = np.random.default_rng(3)
    for real in rng.uniform(1e-6, 100.0, size=500):
        m, s = quantize_multiplier(float(real))
        assert (1 << 30) <= m < (1 << 31)
        assert math.isclose(m * 2.0 ** (s - 31), real, rel_tol=2**-30)


def test_tflite_round_half_away_from_zero():
    assert [tflite_round(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, 0.49999)] == [1, 2, 3, -1, -2, 0]


def test_activation_range():
    assert activation_range(0, 0.1, 3, -128, 127) == (-128, 127)
    assert activation_range(1, 0.1, 3, -128, 127) == (3, 127)
    assert activation_range(3, 0.1, -128, -128, 127) == (-128, -68)


# --- the C helpers against an integer model of TFLite's double-rounding arithmetic ---------


def _srdhm(a, b):
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    v = a * b + ((1 << 30) if a * b >= 0 else 1 - (1 << 30))
    q = abs(v) // (1 << 31)
    return q if v >= 0 else -q


def _rdbpot(x, e):
    mask = (1 << e) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if (x & mask) > threshold else 0)


def _wrap32(v):
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def _requantize(x, m, s):
    return _rdbpot(_srdhm(_wrap32(x << max(s, 0)), m), max(-s, 0))


@pytest.fixture(scope="module")
def clib(tmp_path_factory):
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("int32_t rq(int32_t, int32_t, int); int32_t srdhm(int32_t, int32_t); int32_t rdbpot(int32_t, int);")
    ffi.set_source(
        "_ec_fixedpoint_test",
        '#include "ec_fixedpoint.h"\n'
        "int32_t rq(int32_t x, int32_t m, int s) { return ec_requantize(x, m, s); }\n"
        "int32_t srdhm(int32_t a, int32_t b) { return ec_sat_rounding_doubling_high_mul(a, b); }\n"
        "int32_t rdbpot(int32_t x, int e) { return ec_rounding_divide_by_pot(x, e); }\n",
        include_dirs=[str(runtime_dir())],
        extra_compile_args=["-std=c99", "-O1"],
    )
    out = tmp_path_factory.mktemp("fp")
    path = ffi.compile(tmpdir=str(out))
    spec = importlib.util.spec_from_file_location("_ec_fixedpoint_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.lib


EDGES = [-(1 << 31), -(1 << 31) + 1, -65536, -1, 0, 1, 65535, (1 << 31) - 1]


def test_srdhm_and_rdbpot_edges(clib):
    for a in EDGES:
        for b in EDGES:
            assert clib.srdhm(a, b) == _srdhm(a, b), (a, b)
        for e in range(32):
            assert clib.rdbpot(a, e) == _rdbpot(a, e), (a, e)


def test_requantize_random_seeded(clib):
    rng = np.random.default_rng(11)
    for _ in range(20000):
        x = int(rng.integers(-(1 << 31), 1 << 31))
        m = int(rng.integers(1 << 30, 1 << 31))
        s = int(rng.integers(-31, 31))
        assert clib.rq(x, m, s) == _requantize(x, m, s), (x, m, s)
    for x in EDGES:
        for s in (-31, -1, 0, 1, 30):
            assert clib.rq(x, (1 << 31) - 1, s) == _requantize(x, (1 << 31) - 1, s)
