"""Validation: the generated C, built on the host, against TFLite Micro and TFLite's reference.

Bit-exact means every output element equals TFLite Micro's, and equals TFLite's reference
kernels wherever those two agree (so: equals TFLite Micro everywhere). When TFLite refuses a
model, TFLite Micro alone is the oracle; when TFLite Micro refuses it, TFLite's reference is.
On a mismatch, a debug build with no arena reuse exposes every intermediate tensor and the
first op whose output differs is named.
"""

from __future__ import annotations

import glob
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .compiler import CompiledModel, compile_bytes
from .emitter import emit
from .hostbuild import HostModel, build_and_load
from .ir import ModelError
from .references import ReferenceUnavailable, TflmReference, TfliteRefReference

_NP = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "float32": np.float32}


@dataclass
class ValidationReport:
    model: str
    samples: int
    bit_exact: bool
    mismatches_vs_tflm: int | None
    mismatches_vs_tflite_ref: int | None
    reference_disagreements: int | None
    max_abs_diff: int | float
    first_divergent_op: str | None
    ram_bytes: int
    flash_bytes: int
    macs: int
    arena_lower_bound: int
    tflm_arena_bytes: int | None
    board: str | None = None  # None: the host build; else the emulated board
    instructions: int | None = None  # per inference on the emulated core (first sample)
    references: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def shipped_samples(model_path: Path) -> list[list[np.ndarray]]:
    """Inputs shipped beside a model: samples/<stem>/in_XX.npy (in_XX_J.npy for input J)."""
    folder = model_path.parent / "samples" / model_path.stem
    result = []
    for f in sorted(glob.glob(str(folder / "in_*.npy"))):
        stem = Path(f).stem
        if stem.count("_") == 1:
            result.append([np.load(f)])
    return result


def load_inputs_file(path: Path, n_inputs: int | None) -> list[list[np.ndarray]]:
    """A .npy (one input, first axis = samples) or .npz (keys x0, x1, ... or arr_0, ...)."""
    if not path.exists():
        raise ModelError(f"{path}: no such inputs file")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ModelError(f"{path}: cannot read inputs ({exc})") from None
    if isinstance(data, np.ndarray):
        arrays = [data]
    else:
        keys = sorted(data.files)
        arrays = [data[k] for k in keys]
    if n_inputs is not None and len(arrays) != n_inputs:
        raise ModelError(f"{path}: holds {len(arrays)} arrays but the model has {n_inputs} inputs")
    n = arrays[0].shape[0] if arrays[0].ndim else 0
    return [[a[i] for a in arrays] for i in range(n)]


def random_inputs(model: CompiledModel, count: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    g = model.graph
    out = []
    for _ in range(count):
        sample = []
        for t in g.inputs:
            tensor = g.tensors[t]
            dt = _NP[tensor.dtype]
            if np.issubdtype(dt, np.integer):
                info = np.iinfo(dt)
                x = rng.integers(info.min, int(info.max) + 1, size=tensor.shape, dtype=np.int64).astype(dt)
            else:
                lo, hi = _float_input_range(model, t)
                x = rng.uniform(lo, hi, size=tensor.shape).astype(np.float32)
            sample.append(x)
        out.append(sample)
    return out


def _float_input_range(model: CompiledModel, t: int) -> tuple[float, float]:
    """The real range a float input is quantized into by its first consumer, if any."""
    for step in model.steps:
        if t in step.kernel.inputs:
            q = model.graph.tensors[step.kernel.outputs[0]].quant
            if q is not None:
                lo, hi = (-128, 127) if model.graph.tensors[step.kernel.outputs[0]].dtype == "int8" else (0, 255)
                return q.s * (lo - q.zp), q.s * (hi - q.zp)
    return -1.0, 1.0


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    a = np.asarray(a)
    b = np.asarray(b).reshape(a.shape)
    if a.dtype.kind == "f":
        bad = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    else:
        bad = a != b
        d = np.abs(a.astype(np.int64) - b.astype(np.int64))
    return int(bad.sum()), (float(d.max()) if d.size else 0.0)


def validate_file(
    path: str | Path,
    samples: int = 20,
    seed: int = 0,
    inputs_file: str | Path | None = None,
    progress=None,
    board: str | None = None,
) -> ValidationReport:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    data = path.read_bytes()
    extra = load_inputs_file(Path(inputs_file), None) if inputs_file is not None else shipped_samples(path)
    return validate_bytes(data, path.name, samples=samples, seed=seed, extra_inputs=extra, progress=progress, board=board)


def validate_bytes(
    data: bytes,
    label: str,
    samples: int = 20,
    seed: int = 0,
    extra_inputs: list[list[np.ndarray]] | None = None,
    progress=None,
    board: str | None = None,
) -> ValidationReport:
    """Compile, build and compare a model given as bytes; `label` names it in the report.
    With `board`, the C runs as firmware on that board's emulated core (QEMU) instead of on
    the host, and the report carries the firmware's flash, RAM and instruction count."""
    stem = Path(label).stem
    model = compile_bytes(data, stem)
    emitted = emit(model)
    host = build_and_load(model, emitted) if board is None else None
    extra = extra_inputs or []
    for sample in extra:
        if len(sample) != len(model.graph.inputs):
            raise ModelError(f"{label}: an input sample has {len(sample)} arrays, the model takes {len(model.graph.inputs)}")
    sample_sets = list(extra) + random_inputs(model, samples, seed)
    refs: dict[str, object] = {}
    notes: list[str] = []
    for ref_name, factory in (("tflm", lambda: TflmReference(data)), ("tflite_ref", lambda: TfliteRefReference(data))):
        try:
            refs[ref_name] = factory()
        except ReferenceUnavailable as exc:
            notes.append(str(exc))
    if not refs:
        raise ModelError(f"{label}: neither TFLite Micro nor TFLite runs this model; nothing to compare with")

    oracle = "tflm" if "tflm" in refs else "tflite_ref"
    undefined = tflm_undefined_ops(model)
    if undefined and "tflite_ref" in refs:
        oracle = "tflite_ref"
        notes.append(
            f"TFLite Micro's output is undefined here ({'; '.join(undefined)}): "
            "TFLite's reference kernels are the oracle for this model"
        )
    n_out = len(model.graph.outputs)
    instructions = None
    flash_bytes, ram_bytes = emitted.flash_const_bytes, model.ram_bytes
    if board is not None:
        from .emulate import build_emulated, can_count_instructions, count_instructions

        fw = build_emulated(model, board)
        try:
            emulated_outputs = fw.run(sample_sets)
            if sample_sets and can_count_instructions(fw.board):
                instructions, _ = count_instructions(fw, sample_sets[0])
            elif sample_sets:
                notes.append(f"no instruction-counting emulator models {fw.board.name}: instructions not measured")
            flash_bytes, ram_bytes = fw.flash_bytes, fw.ram_bytes
        finally:
            fw.close()
        ours_for = dict(zip(map(id, sample_sets), emulated_outputs))
    mism = {k: 0 for k in refs}
    disagreements = 0
    max_abs = 0.0
    first_bad_sample: list[np.ndarray] | None = None
    iterator = progress(sample_sets) if progress else sample_sets
    for sample in iterator:
        ours = host.run(sample) if host is not None else ours_for[id(sample)]
        results = {k: r.run(sample, n_out) for k, r in refs.items()}
        for k, outs in results.items():
            for o, r in zip(ours, outs):
                n, d = _diff(o, r)
                mism[k] += n
                if k == oracle:
                    max_abs = max(max_abs, d)
                if n and k == oracle and first_bad_sample is None:
                    first_bad_sample = sample
        if len(results) == 2:
            for a, b in zip(results["tflm"], results["tflite_ref"]):
                disagreements += _diff(a, b)[0]

    bit_exact = mism[oracle] == 0
    first_op = None
    if not bit_exact and first_bad_sample is not None:
        first_op = locate_divergence(data, stem, first_bad_sample, oracle)
        if first_op is None and board is not None:
            notes.append(f"the host build of the same C is exact on the failing sample: the divergence is specific to {board}")

    tflm_arena = None
    if "tflm" in refs:
        try:
            tflm_arena = refs["tflm"].arena_total()
        except RuntimeError as exc:
            notes.append(str(exc))
    return ValidationReport(
        model=label,
        samples=len(sample_sets),
        bit_exact=bit_exact,
        mismatches_vs_tflm=mism.get("tflm"),
        mismatches_vs_tflite_ref=mism.get("tflite_ref"),
        reference_disagreements=disagreements if len(refs) == 2 else None,
        max_abs_diff=int(max_abs) if float(max_abs).is_integer() else max_abs,
        first_divergent_op=first_op,
        ram_bytes=ram_bytes,
        flash_bytes=flash_bytes,
        macs=model.macs,
        arena_lower_bound=model.plan.lower_bound,
        tflm_arena_bytes=tflm_arena,
        board=board,
        instructions=instructions,
        references=sorted(refs),
        notes=notes,
    )


def tflm_undefined_ops(model: CompiledModel) -> list[str]:
    """Ops whose TFLite Micro result depends on uninitialized memory.

    SPACE_TO_BATCH_ND: TFLM's Prepare never sets the pad value its Eval reads (params are a
    persistent buffer left unwritten), so padded cells hold whatever was there."""
    found = []
    for op in model.graph.ops:
        if op.opcode == "SPACE_TO_BATCH_ND" and len(op.inputs) > 2 and op.inputs[2] >= 0:
            pads = model.graph.tensors[op.inputs[2]].data
            if pads is not None and np.any(pads != 0):
                found.append(f"{op.describe(model.graph)} pads with an uninitialized value")
    return found


def locate_divergence(data: bytes, name: str, sample: list[np.ndarray], oracle: str) -> str | None:
    """Build without arena reuse, run `sample`, and name the first op whose output differs."""
    model = compile_bytes(data, name, reuse=False)
    host: HostModel = build_and_load(model, emit(model))
    host.run(sample)
    arena = host.arena()
    ref = TflmReference(data, preserve_all_tensors=True) if oracle == "tflm" else TfliteRefReference(data)
    ref.run(sample, len(model.graph.outputs))
    for step in model.steps:
        for t in step.kernel.outputs:
            tensor = model.graph.tensors[t]
            dt = np.dtype(_NP[tensor.dtype])
            off = model.tensor_offset(t)
            ours = arena[off : off + tensor.nbytes].view(dt).reshape(tensor.shape)
            try:
                theirs = ref.tensor(t)
            except Exception:
                continue
            if _diff(ours, theirs)[0]:
                return f"op {step.op.index} {step.op.opcode} (output tensor {t} '{tensor.name}')"
    return None


def default_samples() -> int:
    return int(os.environ.get("EDGECONV_SAMPLES", "20"))
