"""Structure-aware hostile models: one semantic field edited at a time (tests/mutants.py) on a
tiny model of every op family edgeconv supports and on two shared models.

Every mutant is EITHER refused with a ModelError of one line that names no Python exception,
OR it compiles, builds with -std=c99 -Wall -Wextra -Werror -pedantic plus ASan/UBSan, runs
inputs at the type's minimum and maximum, the zero point, zero and seeded random values with
no sanitizer finding, and its outputs equal TFLite Micro's wherever TFLite Micro (out of
process, edgeconv.checking.references: a crash costs one comparison, not the test worker) accepts and
runs it; where TFLite Micro refuses it, crashes loading it or its output is undefined, they
equal TFLite's reference kernels' instead (the oracle `edgeconv validate` takes there). A mutant
that both TFLite Micro and TFLite's reference kernels refuse must be refused.

EDGECONV_HOSTILE_MUTANTS sets the number of mutants (default 300, as CI runs); every prefix of
the seeded order covers every op family, so a longer local run only adds mutants:
EDGECONV_HOSTILE_MUTANTS=3000 python -m pytest tests/frontend/test_hostile_fields.py -n 2
A failing mutant is reproduced by its id (with a count that includes it; 12000 includes all):
EDGECONV_HOSTILE_MUTANTS=12000 python -m pytest "tests/frontend/test_hostile_fields.py::test_mutant[<id>]"
EDGECONV_HOSTILE_LOG=FILE appends one JSON line per mutant (id and outcome) for triage.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import mutants
from conftest import SHARED_MODELS, assert_refused, run_cli
from sanitized import SanitizedBuildError, run_samples, sanitized_executable

N_MUTANTS = int(os.environ.get("EDGECONV_HOSTILE_MUTANTS", "300"))
N_SHARED = max(20, N_MUTANTS // 30)  # of N_MUTANTS, mutants of the shared models
SHARED_BASES = ["mlcommons_tiny/kws_ref_model.tflite", "mlcommons_tiny/ad01_int8.tflite"]
SECONDS_PER_COMPILE = 60
LOG = os.environ.get("EDGECONV_HOSTILE_LOG")

EXCEPTION_NAMES = re.compile(
    r"\b(Traceback|KeyError|ValueError|IndexError|TypeError|AttributeError|OSError|IOError|ZeroDivisionError|"
    r"OverflowError|RuntimeError|AssertionError|FileNotFoundError|FileExistsError|NotImplementedError|"
    r"RecursionError|MemoryError|UnicodeDecodeError|UnicodeEncodeError|UnicodeError|struct\.error|"
    r"BuildError|StopIteration|FloatingPointError|Exception)\b"
)


# The kinds of defect issue 8 reports, run first whatever the count.
ISSUE_CASES = [
    "conv.op0_CONV_2D.options_union.none",
    "conv.op0_CONV_2D.options_union.Pool2DOptions",
    "conv.op0_CONV_2D.options_padding.2",
    "conv_dilated.op0_CONV_2D.options_dilationHFactor.1073741824",
    "depthwise.op0_DEPTHWISE_CONV_2D.options_dilationWFactor.1073741824",
    "depthwise.op0_DEPTHWISE_CONV_2D.options_depthMultiplier.3",
    "conv.t3_output.zero_point.i32max",
    "conv.t3_output.zero_point.i32min",
    "fully_connected.t3_output.zero_point.i32max",
    "conv.op0_CONV_2D.inputs_3_.add_new",
    "conv.op0_CONV_2D.outputs_1_.add_new",
    "mean.t1_axis.type_with_data.INT64",
    "transpose.t1_perm.type_with_data.INT64",
    "conv.t2_bias.scale.0_001",
    "fully_connected.t2_bias.scale.2_0",
    "conv.model.buffer0.filled",
    "conv.t1_weights.sparsity.dense_params",
    "conv.t1_weights.is_variable.true",
    "conv.model.version.99",
    "add.t1_b.buffer.made_constant",
    "conv.t0_input.name.comment_end",
    "softmax.op0_SOFTMAX.options_beta.huge",
    "softmax_1000.t0_logits.scale.huge",
    "softmax_1000.op0_SOFTMAX.options_beta.2_0",
    "avg_pool.op0_AVERAGE_POOL_2D.options_filterWidth.32768",
    # Found by the full run (EDGECONV_HOSTILE_MUTANTS=12000) and fixed: kept as regressions.
    "sub.model.description.invalid_utf8",  # SUB's multipliers in double
    "prelu.op0_PRELU.opcode_deprecated_builtin.disagrees",  # the raw builtin_code field
    "depthwise.t0_input.shape_0_.2",  # input and output batches differ
    "depthwise.t3_output.shape_0_.2",
    "fully_connected.t3_output.rank.append_1",  # the output's last dimension is not the units
    "fully_connected_3d.t2_output.rank.append_1",
    "prelu.t2_output.rank.append_1",  # the output is not the broadcast shape
    "depthwise.op0_DEPTHWISE_CONV_2D.inputs_2_.m1",  # an omitted bias: TFLite refuses, TFLite Micro crashes
]


def _tiny_mutations() -> list[mutants.Mutation]:
    groups = {name: mutants.mutations_of(name, mutants.base_bytes(name)) for name in mutants.BASES}
    every = {m.id: m for ms in groups.values() for m in ms}
    missing = [i for i in ISSUE_CASES if i not in every]
    assert not missing, f"ISSUE_CASES names mutations the mutator does not make: {missing}"
    first = [every[i] for i in ISSUE_CASES]
    rest = [m for m in mutants.interleaved(groups, seed=8) if m.id not in set(ISSUE_CASES)]
    n_shared = N_SHARED if SHARED_MODELS.is_dir() else 0
    return (first + rest)[: max(N_MUTANTS - n_shared, 0)]


def _shared_label(rel: str) -> str:
    return "shared_" + Path(rel).stem


def _shared_mutations() -> list[mutants.Mutation]:
    if not SHARED_MODELS.is_dir():
        return []
    groups = {}
    for rel in SHARED_BASES:
        path = SHARED_MODELS / rel
        if path.exists():
            groups[rel] = mutants.mutations_of(_shared_label(rel), path.read_bytes())
    return mutants.interleaved(groups, seed=9)[:N_SHARED]


TINY = _tiny_mutations()
SHARED = _shared_mutations()
BY_ID = {m.id: m for m in TINY + SHARED}


def base_data(mutation: mutants.Mutation) -> bytes:
    if mutation.base.startswith("shared_"):
        rel = next(r for r in SHARED_BASES if _shared_label(r) == mutation.base)
        return (SHARED_MODELS / rel).read_bytes()
    return mutants.base_bytes(mutation.base)


@dataclass
class ReferenceOutcome:
    outputs: list[list[np.ndarray] | None] | None  # TFLite Micro's, per sample (None: it crashed)
    problem: str = ""  # why there are none ("refused: ...") or the samples it crashed on
    tflite_problem: str = ""  # when TFLite Micro refused or crashed loading: TFLite's reference kernels' refusal, or ""


def _run_reference(cls, data: bytes, samples: list[list[np.ndarray]], n_outputs: int):
    """(outputs per sample, notes): None for a sample the reference crashed on (a fresh worker
    takes the next one); or (None, why) when it refuses the model or crashes loading it."""
    from edgeconv.checking.references import ReferenceFailed, ReferenceUnavailable

    outputs: list[list[np.ndarray] | None] = []
    crashes: list[str] = []
    while len(outputs) < len(samples):
        loaded = False
        try:
            with cls(data) as ref:
                loaded = True
                while len(outputs) < len(samples):
                    outputs.append(ref.run(samples[len(outputs)], n_outputs))
        except ReferenceUnavailable as exc:
            return None, f"refused: {exc}"
        except ReferenceFailed as exc:
            if not loaded:
                return None, f"crashed loading the model: {exc}"
            if not exc.died:
                return None, f"refused at invoke: {exc}"
            crashes.append(f"sample {len(outputs)} ({exc.reason})")
            outputs.append(None)
    return outputs, ", ".join(crashes)


def reference_outcome(data: bytes, samples: list[list[np.ndarray]], n_outputs: int) -> ReferenceOutcome:
    from edgeconv.checking.references import TfliteRefReference, TflmReference

    outputs, problem = _run_reference(TflmReference, data, samples, n_outputs)
    if outputs is not None or not problem.startswith(("refused", "crashed loading")):
        return ReferenceOutcome(outputs, problem)
    _, tflite_problem = _run_reference(TfliteRefReference, data, samples[:1], n_outputs)
    return ReferenceOutcome(None, problem, tflite_problem)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def compile_or_refuse(data: bytes, name: str = "mutant"):
    """(compiled, emitted, None) or (None, None, refusal message); anything else raises."""
    from edgeconv.emit.emitter import emit
    from edgeconv.frontend.ir import ModelError
    from edgeconv.lowering.compiler import compile_bytes

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS_PER_COMPILE)
    try:
        compiled = compile_bytes(data, name)
        return compiled, emit(compiled), None
    except ModelError as exc:
        return None, None, str(exc)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def refusal_problem(message: str) -> str | None:
    text = message.strip()
    if not text:
        return "refused with an empty message"
    if "\n" in text or "\r" in text:
        return f"refusal message is {len(text.splitlines())} lines: {text[:300]!r}"
    found = EXCEPTION_NAMES.search(text)
    if found:
        return f"refusal message shows the Python exception name {found.group(1)}: {text[:300]}"
    return None


def input_samples(compiled, seed: int) -> tuple[list[list[np.ndarray]], set[int]]:
    """Minimum, maximum, zero point, zero, then three seeded random inputs (every input of the
    model gets the same kind in a sample); and the samples not to compare with TFLite Micro.

    A float input at the float32 extremes is run (it must be sanitizer-clean) but not compared:
    TFLite Micro's QUANTIZE converts round(x / scale) to int32 unchecked, undefined in C++ when
    the quotient leaves int32; +-1e6 is compared instead, unless it too leaves int32."""
    g = compiled.graph
    rng = np.random.default_rng(seed)
    kinds = ["min", "max", "zero_point", "zero", "random", "random", "random"]
    if any(g.tensors[t].dtype == "float32" for t in g.inputs):
        kinds += ["minus_million", "million"]
    samples, not_compared = [], set()
    for k, kind in enumerate(kinds):
        sample = []
        for t in g.inputs:
            tensor = g.tensors[t]
            dt = np.dtype(tensor.dtype)
            info = np.finfo(dt) if dt.kind == "f" else np.iinfo(dt)
            if kind in ("min", "max"):
                v = np.full(tensor.shape, info.min if kind == "min" else info.max, dt)
                if dt.kind == "f":
                    not_compared.add(k)
            elif kind in ("minus_million", "million"):
                v = np.full(tensor.shape, -1e6 if kind == "minus_million" else 1e6, dt)
            elif kind == "zero_point":
                zp = tensor.quant.zp if tensor.quant is not None else 0
                v = np.full(tensor.shape, np.clip(zp, info.min, info.max), dt)
            elif kind == "zero":
                v = np.zeros(tensor.shape, dt)
            elif dt.kind == "f":
                v = rng.uniform(-4.0, 4.0, tensor.shape).astype(dt)
            else:
                v = rng.integers(int(info.min), int(info.max), tensor.shape, endpoint=True).astype(dt)
            sample.append(v)
        samples.append(sample)
        if not _tflm_quantize_defined(g, sample):
            not_compared.add(k)
    return samples, not_compared


def _tflm_quantize_defined(g, sample: list[np.ndarray]) -> bool:
    """Whether every float graph input that a QUANTIZE reads gives round(x / scale) + zero point
    inside int32, where TFLite Micro's conversion is defined."""
    values = dict(zip(g.inputs, sample))
    for op in g.ops:
        if op.opcode == "QUANTIZE" and op.inputs and op.inputs[0] in values and values[op.inputs[0]].dtype.kind == "f":
            out = g.tensors[op.outputs[0]]
            if out.quant is None:
                continue
            x = values[op.inputs[0]].astype(np.float64)
            with np.errstate(all="ignore"):
                q = np.abs(x / np.float64(np.float32(out.quant.s))) + abs(out.quant.zp)
            if not np.all(np.isfinite(q)) or np.any(q >= 2.0**31 - 256):
                return False
    return True


def c_code_only(text: str) -> str:
    """C text with comments and string/char literals blanked: what the compiler reads as code."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text[i] in "\"'":
            quote, j = text[i], i + 1
            while j < n and text[j] != quote and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            out.append('""')
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


# Words the hostile names and descriptions (mutants.NAMES) carry; none may reach the C as code.
INJECTED = ("injected", "EVIL")


def injection_problem(emitted) -> str | None:
    for fname, text in emitted.files.items():
        code = c_code_only(text)
        for word in INJECTED:
            if word in code:
                line = next(ln for ln in code.splitlines() if word in ln)
                return f"a model string reaches {fname} as code: {line.strip()[:200]!r}"
    return None


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise equality of raw values (NaN equals NaN of the same bits)."""
    a, b = np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1)
    if a.dtype.kind == "f" and b.dtype == a.dtype:
        return (a == b) | (np.isnan(a) & np.isnan(b))
    return a == b


def judge(mutation: mutants.Mutation, work: Path) -> tuple[str, str]:
    """(outcome, detail): outcome is 'refused', 'accepted' (compiled, built, ran clean and equal
    to the oracle, or neither reference gave a result) or 'FAIL:<kind>'."""
    from edgeconv.checking.validation import tflm_model_bytes, tflm_undefined_ops

    try:
        data = mutants.apply(mutation, base_data(mutation))
    except Exception as exc:  # the mutator itself: a test bug, not a product finding
        return "FAIL:mutator", f"{type(exc).__name__}: {exc}"
    try:
        compiled, emitted, refusal = compile_or_refuse(data)
    except _Timeout:
        return "FAIL:timeout", f"compile took over {SECONDS_PER_COMPILE}s"
    except Exception as exc:
        return "FAIL:escaped", f"{type(exc).__name__}: {str(exc)[:300]}"
    if refusal is not None:
        problem = refusal_problem(refusal)
        return ("FAIL:message", problem) if problem else ("refused", refusal[:300])
    injected = injection_problem(emitted)
    if injected:
        return "FAIL:injection", injected
    try:
        exe = sanitized_executable(compiled, emitted, work)
    except SanitizedBuildError as exc:
        return "FAIL:c_build", str(exc)[:400]
    samples, not_compared = input_samples(compiled, seed=zlib.crc32(mutation.id.encode()))
    try:
        run = run_samples(exe, compiled, samples, work)
    except Exception as exc:  # a hang
        return "FAIL:run", f"{type(exc).__name__}: {exc}"
    if run.returncode != 0 or run.report:
        return "FAIL:sanitizer", f"exit {run.returncode}: {run.report[:400]}"
    # The oracle, as `edgeconv validate` chooses it: TFLite Micro; TFLite's reference kernels
    # where TFLite Micro's output is undefined, or it refuses or crashes loading the mutant.
    from edgeconv.checking.references import TfliteRefReference

    n_outputs = len(compiled.graph.outputs)
    undefined = tflm_undefined_ops(compiled)
    oracle = "TFLite Micro"
    # (TFLite Micro does not resize tensors: where the mutant stores shapes TFLite's Prepare
    # replaces, it is given the model with TFLite's shapes, as validate gives it.)
    ref = (
        ReferenceOutcome(None, f"output is undefined ({undefined[0]})")
        if undefined
        else reference_outcome(tflm_model_bytes(data, compiled) or data, samples, n_outputs)
    )
    if ref.outputs is None:
        if ref.problem.startswith(("refused", "crashed loading")) and ref.tflite_problem.startswith("refused"):
            return "FAIL:not_refused", (
                f"compiled, but TFLite Micro {ref.problem[:150]} and TFLite {ref.tflite_problem[:150]}"
            )
        outputs, problem = _run_reference(TfliteRefReference, data, samples, n_outputs)
        if outputs is None:
            return "accepted", f"no comparison: TFLite Micro {ref.problem}; TFLite {problem}"[:300]
        oracle = "TFLite's reference"
        ref = ReferenceOutcome(outputs, problem)
    differ, total, where = 0, 0, []
    for k, (ours, theirs) in enumerate(zip(run.outputs, ref.outputs)):
        if k in not_compared or theirs is None:
            continue
        for j, (a, b) in enumerate(zip(ours, theirs)):
            if a.size != np.asarray(b).size or a.dtype != np.asarray(b).dtype:
                return "FAIL:mismatch", (
                    f"output {j} is {a.size} x {a.dtype} but {oracle}'s is {np.asarray(b).size} x {np.asarray(b).dtype}"
                )
            eq = _same(a, np.asarray(b))
            total += eq.size
            if not eq.all():
                differ += int((~eq).sum())
                where.append(f"sample {k} output {j}")
    crashed = f"; {oracle} crashed on {ref.problem}" if ref.problem else ""
    if differ:
        return "FAIL:mismatch", (
            f"{differ} of {total} elements differ from {oracle} ({', '.join(where[:4])}){crashed}"
        )[:400]
    if not total:
        return "accepted", f"no comparison{crashed}"[:300]
    return "accepted", f"equal to {oracle} on {total} elements{crashed}"[:300]


def _log(mutation: mutants.Mutation, outcome: str, detail: str) -> None:
    if LOG:
        with open(LOG, "a") as f:
            f.write(
                json.dumps(
                    {
                        "id": mutation.id,
                        "base": mutation.base,
                        "target": mutation.target,
                        "field": mutation.field,
                        "value": mutation.label,
                        "outcome": outcome,
                        "detail": detail,
                    }
                )
                + "\n"
            )


def _check(mutation: mutants.Mutation, tmp_path: Path) -> None:
    outcome, detail = judge(mutation, tmp_path / "build")
    _log(mutation, outcome, detail)
    assert not outcome.startswith("FAIL"), f"{mutation.describe()}: {outcome[5:]}: {detail}"
    shutil.rmtree(tmp_path / "build", ignore_errors=True)  # sanitized executables are megabytes


@pytest.mark.parametrize("mutant_id", [m.id for m in TINY])
def test_mutant(mutant_id, tmp_path):
    _check(BY_ID[mutant_id], tmp_path)


@pytest.mark.parametrize("mutant_id", [m.id for m in SHARED] or ["shared_models_absent"])
def test_shared_model_mutant(shared_models, mutant_id, tmp_path):
    _check(BY_ID[mutant_id], tmp_path)


@pytest.mark.parametrize("base", sorted(mutants.BASES))
def test_base_model_is_exact(base, tmp_path):
    """The unmutated base: compiled, sanitizer-clean, equal to TFLite Micro (a mutant's finding
    is only about its field if its base is sound)."""
    identity = mutants.Mutation(base, "model", "unchanged", "none", lambda m: None)
    outcome, detail = judge(identity, tmp_path / "build")
    assert outcome == "accepted" and detail.startswith("equal to TFLite Micro"), f"base {base}: {outcome}: {detail}"


# Refusals through the real CLI: exit 2, one line, no traceback, nothing written; the same
# message as in process. Fields that are refusals by the flatbuffer's or TFLite's own rules.
CLI_SAMPLE = [
    "conv.op0_CONV_2D.options_union.none",
    "depthwise.op0_DEPTHWISE_CONV_2D.options_depthMultiplier.5",
    "fully_connected.t1_weights.buffer_data.truncated",
    "softmax.t1_probs.zero_point.i32max",
    "mean.t1_axis.type_with_data.INT64",
    "transpose.t1_perm.type_with_data.INT64",
    "add.op0_ADD.inputs_2_.drop_last",
    "pad.t1_paddings.buffer.out_of_range",
    "transpose.op0_TRANSPOSE.opcode_builtin.999",
    "avg_pool.t0_input.scale.nan",
    "prelu.t1_alpha.is_variable.true",
    "reshape.model.version.99",
    "concatenation.model.buffer0.filled",
]


@pytest.mark.parametrize("mutant_id", CLI_SAMPLE)
def test_refusal_through_cli(mutant_id, tmp_path):
    base = mutant_id.split(".")[0]
    mutation = next((m for m in mutants.mutations_of(base, mutants.base_bytes(base)) if m.id == mutant_id), None)
    assert mutation is not None, f"no mutation {mutant_id}"
    data = mutants.apply(mutation, mutants.base_bytes(mutation.base))
    compiled, _, refusal = compile_or_refuse(data, "hostile")
    model = tmp_path / "hostile.tflite"
    model.write_bytes(data)
    proc = run_cli("compile", model, "-o", tmp_path / "out", timeout=120)
    if refusal is None:
        assert proc.returncode == 0, (
            f"{mutation.describe()}: compiles in process but the CLI says {proc.stderr.strip()}"
        )
        return
    assert_refused(proc)
    assert refusal.strip() in proc.stderr, (refusal, proc.stderr)
    assert refusal_problem(proc.stderr) is None, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.tflite"]
