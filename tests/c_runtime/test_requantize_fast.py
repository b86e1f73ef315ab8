"""The short requantization sequence of c_runtime/ec_fixedpoint.h against a literal Python
model of TFLite's MultiplyByQuantizedMultiplier (gemmlowp's nudge and truncating division,
RoundingDivideByPOT's mask and threshold), on the host compiler and on an emulated Cortex-M4
(a standalone semihosting ELF built from the board profile), over >= 100,000 seeded random
(x, multiplier, shift) triples plus the edge cases; and the instructions one call costs on
the M4 (unicorn)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeconv.emit.emitter import runtime_dir
from edgeconv.frontend.boards import load_board
from edgeconv.targets.emulate import QEMU, Region, count_region
from edgeconv.targets.firmware import linker_script, support_dir
from edgeconv.targets.hostbuild import host_flags

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

# ---- TFLite's arithmetic, transcribed ------------------------------------------------------


def wrap32(v: int) -> int:
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    v = ab + nudge
    q = abs(v) // (1 << 31)  # C++ integer division truncates toward zero
    return q if v >= 0 else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, m: int, shift: int) -> int:
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(wrap32(x * (1 << left)), m), right)


# ---- the cases -------------------------------------------------------------------------------

EDGE_X = [INT32_MIN, INT32_MIN + 1, -(1 << 30), -65536, -129, -1, 0, 1, 127, 65535, 1 << 30, INT32_MAX - 1, INT32_MAX]
EDGE_M = [
    0,
    1,
    1 << 30,
    (1 << 30) + 1,
    3 << 29,
    INT32_MAX - 1,
    INT32_MAX,
    -(1 << 30),
    -INT32_MAX,
]  # negative multipliers: LEAKY_RELU/PRELU may pass them
EDGE_SHIFT = list(range(-31, 31))  # every shift, which includes -31, -1, 0, 1 and 30


def cases(n_random: int = 100_000, seed: int = 2026) -> np.ndarray:
    """(x, m, shift) rows: every edge combination, then seeded random triples."""
    rng = np.random.default_rng(seed)
    rows = [(x, m, s) for x in EDGE_X for m in EDGE_M for s in EDGE_SHIFT]
    n_full = n_random * 5 // 10
    n_acc = n_random * 3 // 10
    n_tie = n_random - n_full - n_acc
    # anywhere in int32 (the left-shift path wraps), multipliers as QuantizeMultiplier makes them
    full = np.stack(
        [
            rng.integers(INT32_MIN, INT32_MAX, n_full, endpoint=True),
            rng.integers(1 << 30, 1 << 31, n_full),
            rng.integers(-31, 31, n_full, endpoint=True),
        ],
        axis=1,
    )
    # accumulator-sized x with the right shifts MAC layers have; a few negative multipliers
    acc = np.stack(
        [
            rng.integers(-(1 << 24), 1 << 24, n_acc),
            rng.integers(1 << 30, 1 << 31, n_acc) * rng.choice([1, 1, 1, -1], n_acc),
            rng.integers(-20, 3, n_acc),
        ],
        axis=1,
    )
    # exact halves in both roundings: multipliers with few low bits, small x
    tie = np.stack(
        [
            rng.integers(-4096, 4097, n_tie),
            (1 << 30) + rng.choice([0, 1 << 29, 1 << 28, 1 << 20, 3 << 27], n_tie),
            rng.integers(-13, 2, n_tie),
        ],
        axis=1,
    )
    # INT32_MIN multipliers: only the saturating high mul is defined for them (the one case
    # it saturates is INT32_MIN * INT32_MIN); ec_requantize's contract excludes them
    sat = np.array([(x, INT32_MIN, 0) for x in EDGE_X], dtype=np.int64)
    return np.concatenate([np.array(rows, dtype=np.int64), full, acc, tie, sat]).astype(np.int32)


def expected(rows: np.ndarray) -> np.ndarray:
    """Per row: MultiplyByQuantizedMultiplier, the SmallerThanOne / GreaterThanOne variant its
    shift selects (the same arithmetic), and SaturatingRoundingDoublingHighMul(x, m)."""
    out = np.empty((len(rows), 3), dtype=np.int64)
    for i, (x, m, s) in enumerate(rows.tolist()):
        r = multiply_by_quantized_multiplier(x, m, s)
        out[i] = (r, r, saturating_rounding_doubling_high_mul(x, m))
    return out.astype(np.int32)


# ---- the C side ----------------------------------------------------------------------------

PROGRAM = r"""
/* Reads (x, multiplier, shift) int32 triples from inputs.bin, writes per triple
 * ec_requantize, ec_requantize_lt1 (shift <= 0) or ec_requantize_gt1 (shift > 0), and
 * ec_sat_rounding_doubling_high_mul(x, multiplier) to outputs.bin. */
#include "ec_fixedpoint.h"

int32_t ec_test_rq(int32_t x, int32_t m, int32_t s) __attribute__((noinline));
int32_t ec_test_rq(int32_t x, int32_t m, int32_t s) {
    return ec_requantize(x, m, (int)s);
}

static void process(const int32_t *in, int32_t *out, int n) {
    int i;
    for (i = 0; i < n; ++i) {
        const int32_t x = in[3 * i], m = in[3 * i + 1], s = in[3 * i + 2];
        out[3 * i] = ec_test_rq(x, m, s);
        out[3 * i + 1] = s <= 0 ? ec_requantize_lt1(x, m, (int)s) : ec_requantize_gt1(x, m, (int)s);
        out[3 * i + 2] = ec_sat_rounding_doubling_high_mul(x, m);
    }
}

enum { CHUNK = 256 };
static int32_t in_buf[3 * CHUNK], out_buf[3 * CHUNK];

#ifdef EC_TEST_HOST
#include <stdio.h>
int main(int argc, char **argv) {
    FILE *fi, *fo;
    size_t n;
    if (argc != 3 || !(fi = fopen(argv[1], "rb")) || !(fo = fopen(argv[2], "wb"))) {
        return 2;
    }
    while ((n = fread(in_buf, 12, CHUNK, fi)) > 0) {
        process(in_buf, out_buf, (int)n);
        fwrite(out_buf, 12, n, fo);
    }
    fclose(fi);
    return fclose(fo) == 0 ? 0 : 1;
}
#else
enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE = 0x05, SYS_READ = 0x06, SYS_EXIT = 0x18 };

static int semihost(int op, void *arg) {
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt #0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static int sh_call3(int op, int32_t a, int32_t b, int32_t c) {
    int32_t args[3];
    args[0] = a;
    args[1] = b;
    args[2] = c;
    return semihost(op, args);
}

int main(void);
int main(void) {
    const int fi = sh_call3(SYS_OPEN, (int32_t)(uintptr_t)"inputs.bin", 1, 10);
    const int fo = sh_call3(SYS_OPEN, (int32_t)(uintptr_t)"outputs.bin", 5, 11);
    for (;;) {
        const int missing = sh_call3(SYS_READ, fi, (int32_t)(uintptr_t)in_buf, (int32_t)sizeof in_buf);
        const int n = ((int)sizeof in_buf - missing) / 12;
        if (n <= 0) {
            break;
        }
        process(in_buf, out_buf, n);
        sh_call3(SYS_WRITE, fo, (int32_t)(uintptr_t)out_buf, 12 * n);
    }
    sh_call3(SYS_CLOSE, fo, 0, 0);
    semihost(SYS_EXIT, (void *)0x20026);
    return 0;
}
#endif
"""


def build_host(work: Path, header_dir: Path) -> Path:
    (work / "rq_test.c").write_text(PROGRAM)
    exe = work / "rq_test"
    subprocess.run(
        ["cc", *host_flags(), "-DEC_TEST_HOST", "-I", str(header_dir), str(work / "rq_test.c"), "-o", str(exe)],
        check=True,
        capture_output=True,
        text=True,
    )
    return exe


def build_elf(work: Path, board_name: str, header_dir: Path, defines: tuple[str, ...] = ()) -> Path:
    """A standalone semihosting ELF: PROGRAM, the board's startup code and linker script, for
    the emulator's memory map (QEMU runs it)."""
    board = load_board(board_name).for_emulator()
    (work / "rq_test.c").write_text(PROGRAM)
    for name in ("cortex_m_startup.c", "board_libc.c"):
        shutil.copy2(support_dir() / name, work / name)
    (work / "link.ld").write_text(linker_script(board, 4096))
    machine = [f for f in board.cflags if f not in ("-Werror", "-pedantic")]
    objs = []
    for src, flags in (
        ("rq_test.c", list(board.cflags)),
        ("cortex_m_startup.c", machine),
        ("board_libc.c", machine + ["-ffreestanding", "-fno-builtin"]),
    ):
        obj = work / (src[:-2] + ".o")
        subprocess.run(
            [board.cc, *flags, *defines, "-I", str(header_dir), "-c", str(work / src), "-o", str(obj)],
            check=True,
            capture_output=True,
            text=True,
        )
        objs.append(str(obj))
    elf = work / "rq_test.elf"
    link = [f for f in machine if not f.startswith("--specs")]
    subprocess.run(
        [
            board.cc,
            *link,
            "-nostdlib",
            "-nostartfiles",
            "-T",
            str(work / "link.ld"),
            "-Wl,--gc-sections",
            "-o",
            str(elf),
            *objs,
            "-lgcc",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return elf


def run_qemu(work: Path, board_name: str, elf: Path, rows: np.ndarray) -> np.ndarray:
    board = load_board(board_name)
    (work / "inputs.bin").write_bytes(rows.astype("<i4").tobytes())
    subprocess.run(
        [
            QEMU,
            "-M",
            board.qemu_machine,
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
            str(elf),
        ],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return np.frombuffer((work / "outputs.bin").read_bytes(), dtype="<i4").reshape(-1, 3)


def instructions_per_call(elf: Path, board_name: str, rows: np.ndarray) -> float:
    """Mean executed instructions of ec_test_rq (the body and its return) over rows."""
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        sym = next(s for s in ELFFile(f).get_section_by_name(".symtab").iter_symbols() if s.name == "ec_test_rq")
    c = count_region(elf, board_name, Region(function=sym["st_value"] & ~1), rows.astype("<i4").tobytes())
    return c.total / len(rows)


def _mismatches(got: np.ndarray, want: np.ndarray, rows: np.ndarray) -> list:
    differ = got != want
    differ[rows[:, 1] == INT32_MIN, :2] = False  # outside ec_requantize's contract
    bad = np.nonzero(differ.any(axis=1))[0]
    return [(rows[i].tolist(), got[i].tolist(), want[i].tolist()) for i in bad[:5]]


@pytest.fixture(scope="module")
def rows_and_expected():
    rows = cases()
    return rows, expected(rows)


def test_model_agrees_with_the_closed_form(rows_and_expected):
    """The derivation in ec_fixedpoint.h, in Python: floor((ab + 2^30) / 2^31) is gemmlowp's
    nudged truncating division for every product but INT32_MIN^2."""
    rows, _ = rows_and_expected
    for x, m, _s in rows[::97].tolist():
        if not x == m == INT32_MIN:
            assert saturating_rounding_doubling_high_mul(x, m) == (x * m + (1 << 30)) >> 31


def test_host_bit_exact(tmp_path, rows_and_expected):
    rows, want = rows_and_expected
    assert len(rows) >= 100_000
    exe = build_host(tmp_path, runtime_dir())
    (tmp_path / "in.bin").write_bytes(rows.astype("<i4").tobytes())
    subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], check=True)
    got = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype="<i4").reshape(-1, 3)
    assert got.shape == want.shape
    assert not _mismatches(got, want, rows)


@pytest.fixture
def arm_tools():
    missing = [t for t in ("arm-none-eabi-gcc", QEMU) if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")


@pytest.mark.parametrize("defines", [(), ("-DEC_NO_DSP",)])
def test_emulated_cortex_m4_bit_exact_and_short(tmp_path, rows_and_expected, arm_tools, defines):
    rows, want = rows_and_expected
    elf = build_elf(tmp_path, "cortex-m4", runtime_dir(), defines)
    got = run_qemu(tmp_path, "cortex-m4", elf, rows)
    assert got.shape == want.shape
    assert not _mismatches(got, want, rows)
    # What one requantization costs: MAC layers' shifts (-12..-4) and the left-shift path.
    rng = np.random.default_rng(5)
    n = 500
    right = np.stack(
        [rng.integers(-(1 << 20), 1 << 20, n), rng.integers(1 << 30, 1 << 31, n), rng.integers(-12, -3, n)], axis=1
    )
    left = right.copy()
    left[:, 2] = rng.integers(0, 4, n)
    per_right = instructions_per_call(elf, "cortex-m4", right)
    per_left = instructions_per_call(elf, "cortex-m4", left)
    print(
        f"ec_requantize on cortex-m4: {per_right:.2f} instructions per call (right shift), "
        f"{per_left:.2f} (left shift), including the call's return"
    )
    assert per_right <= 13 and per_left <= 9


HEADROOM_PROGRAM = r"""
/* Reads (x, exponent) int32 pairs, writes ec_rounding_divide_by_pot_headroom and
 * ec_rounding_divide_by_pot_pos of each. */
#include <stdio.h>
#include "ec_fixedpoint.h"

int main(int argc, char **argv) {
    FILE *fi, *fo;
    int32_t in[2], out[2];
    if (argc != 3 || !(fi = fopen(argv[1], "rb")) || !(fo = fopen(argv[2], "wb"))) {
        return 2;
    }
    while (fread(in, 4, 2, fi) == 2) {
        out[0] = ec_rounding_divide_by_pot_headroom(in[0], (int)in[1], (int32_t)1 << (in[1] - 1));
        out[1] = ec_rounding_divide_by_pot_pos(in[0], (int)in[1]);
        fwrite(out, 4, 2, fo);
    }
    fclose(fi);
    return fclose(fo) == 0 ? 0 : 1;
}
"""


def test_rounding_shifts_host(tmp_path):
    """The two short RoundingDivideByPOT forms against gemmlowp's, on their contracts:
    exponent in [1, 31]; x > INT32_MIN (pos) and |x| + 2^(exponent-1) <= INT32_MAX (headroom)."""
    rng = np.random.default_rng(17)
    rows = []
    for e in range(1, 32):
        half = 1 << (e - 1)
        limit = INT32_MAX - half
        ties = [k * (1 << e) + half * s for k in (-3, -1, 0, 1, 2) for s in (-1, 1)]
        edges = [-limit, -limit + 1, -1, 0, 1, limit - 1, limit] + [t for t in ties if abs(t) <= limit]
        rows += [(x, e) for x in edges + rng.integers(-limit, limit, 600, endpoint=True).tolist()]
    rows_arr = np.array(rows, dtype=np.int64)
    (tmp_path / "hr.c").write_text(HEADROOM_PROGRAM)
    subprocess.run(
        ["cc", *host_flags(), "-I", str(runtime_dir()), str(tmp_path / "hr.c"), "-o", str(tmp_path / "hr")],
        check=True,
        capture_output=True,
        text=True,
    )
    (tmp_path / "in.bin").write_bytes(rows_arr.astype("<i4").tobytes())
    subprocess.run([str(tmp_path / "hr"), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], check=True)
    got = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype="<i4").reshape(-1, 2)
    for (x, e), (a, b) in zip(rows, got.tolist()):
        want = rounding_divide_by_pot(x, e)
        assert a == want and b == want, (x, e, a, b, want)
