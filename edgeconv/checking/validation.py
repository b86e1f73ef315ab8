"""Validation: the generated C, built on the host, against TFLite Micro and TFLite's reference.

Bit-exact means every output element equals the oracle's: TFLite Micro's; TFLite Micro's op by
op (op_oracle.py: each op alone, TFLite's reference taking the ops it lacks) when it refuses or
fails the model whole or its output is undefined (`tflm_undefined_ops`); TFLite's reference
kernels' when TFLite Micro crashes or the op-by-op run cannot be made. Where the two references
disagree with each other the report counts the elements and says which one the C follows. Each
reference runs in its own worker process (`references.py`): one that crashes or hangs is
reported in one line and the other carries on as the oracle; with none left, validation stops
(exit 2). On a mismatch, a debug build with no arena reuse exposes every intermediate tensor and
the first op whose output differs is named.
"""

from __future__ import annotations

import functools
import re
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgeconv.checking.op_oracle import TITLE as OP_BY_OP_TITLE
from edgeconv.checking.op_oracle import OpByOpOracle, OpByOpResult, OpOracleUnavailable
from edgeconv.checking.references import (
    OutOfProcessReference,
    ReferenceFailed,
    ReferenceUnavailable,
    TfliteRefReference,
    TflmReference,
    call_timeout,
    with_explicit_space_to_batch_padding,
    with_tensor_shapes,
)
from edgeconv.emit.emitter import emit
from edgeconv.frontend.boards import load_board
from edgeconv.frontend.dtypes import numpy_dtype
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import CompiledModel, compile_bytes
from edgeconv.targets.hostbuild import HostModel, build_and_load

TITLES = {"tflm": "TFLite Micro", "tflite_ref": "TFLite's reference", "tflm_ops": OP_BY_OP_TITLE}

# Samples sent to a reference's worker in one message (it answers each as it goes).
REFERENCE_BATCH = 16


@dataclass
class ValidationReport:
    model: str
    samples: int
    bit_exact: bool  # equal to the oracle on every output element of every sample
    mismatches_vs_tflm: int | None
    mismatches_vs_tflite_ref: int | None
    reference_disagreements: int | None  # elements where TFLite Micro and TFLite's reference differ
    max_abs_diff: int | float  # vs the oracle
    first_divergent_op: str | None
    ram_bytes: int
    flash_bytes: int
    macs: int
    arena_lower_bound: int
    tflm_arena_bytes: int | None
    board: str | None = None  # None: the host build; else the emulated board
    instructions: int | None = None  # per inference on the emulated core (first sample)
    stack_bytes: int | None = None  # emulated: the computed worst case over the call graph, or the reserve
    stack_computed: bool | None = None  # emulated: stack_bytes computed (False: the profile's reserve, AVR)
    stack_measured_bytes: int | None = None  # emulated: the painted stack's high-water mark
    references: list[str] = field(default_factory=list)  # the references that ran to the end
    notes: list[str] = field(default_factory=list)
    oracle: str = "tflm"  # "tflm" or "tflite_ref": what bit_exact is measured against
    elements_compared: int = 0  # output elements compared with the oracle
    mismatches_vs_oracle: int = 0
    # Where the references disagree: how many of those elements the C equals, per reference.
    follows_on_disagreement: dict[str, int] | None = None
    reference_failures: list[str] = field(default_factory=list)  # one line per crash or hang
    # Why a reference did not run to the end, or is not the oracle: "refuses the model", ...
    reference_status: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class InputSpec:
    """What one model input takes."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str

    def shapes_accepted(self) -> str:
        alt = f" or {_fmt_shape(self.shape[1:])}" if len(self.shape) > 1 and self.shape[0] == 1 else ""
        return f"{_fmt_shape(self.shape)}{alt}"

    def describe(self) -> str:
        return f"input {self.index} ('{self.name}') takes {self.dtype} samples of shape {self.shapes_accepted()}"


@dataclass
class Sample:
    arrays: list[np.ndarray]
    origin: str  # where it came from, for messages: a file, "x.npy[3]", "random input 2 (seed 0)"


def _fmt_shape(shape) -> str:
    shape = tuple(int(d) for d in shape)
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def input_specs(model: CompiledModel) -> list[InputSpec]:
    g = model.graph
    return [
        InputSpec(i, g.tensors[t].name, tuple(int(d) for d in g.tensors[t].shape), g.tensors[t].dtype)
        for i, t in enumerate(g.inputs)
    ]


# --- reading input samples ---------------------------------------------------------------------


def conform(array: np.ndarray, spec: InputSpec, source: str, stacked: bool) -> np.ndarray:
    """`array` as input `spec` takes it: one sample (stacked=False) or samples along a first axis.
    A sample's shape may be the input's, or the input's without its leading batch dimension of 1.
    Integer values that fit the input's type are cast; floats are cast only to a float32 input."""
    target = numpy_dtype(spec.dtype)
    what = "the samples" if stacked else "the sample"
    per_sample = tuple(array.shape[1:]) if stacked else tuple(array.shape)
    if per_sample != spec.shape and not (len(spec.shape) > 1 and spec.shape[0] == 1 and per_sample == spec.shape[1:]):
        stack_hint = (
            f", stacked along a first axis that counts them "
            f"(e.g. {_fmt_shape((array.shape[0] if array.ndim else 1,) + spec.shape)})"
            if stacked
            else ""
        )
        raise ModelError(
            f"{source}: {spec.describe()}{stack_hint}; the file holds {array.dtype} of shape {_fmt_shape(array.shape)}"
        )
    kind = array.dtype.kind
    if target.kind in "iu":
        if kind == "f":
            raise ModelError(
                f"{source}: {spec.describe()}; the file holds {array.dtype} values: quantize them first "
                "(q = round(x / scale) + zero_point, the input's scale and zero point)"
            )
        if kind not in "iu":
            raise ModelError(
                f"{source}: {spec.describe()}; the file holds {array.dtype} values, not numbers of that type"
            )
        info = np.iinfo(target)
        if array.size and (int(array.min()) < info.min or int(array.max()) > info.max):
            raise ModelError(
                f"{source}: {spec.describe()}; {what} hold values from {int(array.min())} to {int(array.max())}, "
                f"outside {spec.dtype}'s {info.min}..{info.max}"
            )
    elif kind not in "iuf":
        raise ModelError(f"{source}: {spec.describe()}; the file holds {array.dtype} values, not numbers")
    elif kind == "f" and array.size:
        finite = array[np.isfinite(array)]
        if finite.size and float(np.abs(finite).max()) > float(np.finfo(np.float32).max):
            raise ModelError(f"{source}: {spec.describe()}; {what} hold values beyond float32's range")
    shape = ((array.shape[0],) if stacked else ()) + spec.shape
    return np.ascontiguousarray(array.astype(target, copy=False).reshape(shape))


def read_array_file(path: Path, what: str = "inputs file"):
    """np.load, with every way a file can fail said as a sentence about the file."""
    if not path.exists():
        raise ModelError(f"{path}: no such {what}")
    if path.is_dir():
        raise ModelError(f"{path}: is a folder, not a .npy or .npz file")
    try:  # (evaluate.load_eval_data reads the magic too, deliberately: it takes .npz only, with its own message)
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc.strerror or 'input/output error'})") from None
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
        raise ModelError(f"{path}: not a .npy or .npz file")
    return load_array(lambda: np.load(path, allow_pickle=False), f"{path}:", "a damaged or unreadable .npy/.npz file")


def load_array(load, where: str, damaged: str):
    """`load()` (np.load, or an array of an open .npz), its failures said as sentences."""
    try:
        return load()
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ModelError(
                f"{where} holds Python objects (pickled), not plain numeric arrays; edgeconv does not load those"
            ) from None
        raise ModelError(f"{where} {damaged}") from None
    except (OSError, EOFError, zipfile.BadZipFile):
        raise ModelError(f"{where} {damaged}") from None


def _npz_arrays(data, path: Path) -> list[tuple[str, np.ndarray]]:
    keys = list(data.files)
    for prefix in ("x", "arr_"):
        if keys and all(re.fullmatch(re.escape(prefix) + r"\d+", k) for k in keys):
            keys.sort(key=lambda k: int(k[len(prefix) :]))
            break
    else:
        keys.sort()
    return [(k, load_array(lambda k=k: data[k], f"{path}: array {k!r}", "is damaged or unreadable")) for k in keys]


def load_inputs_file(path: Path, specs: list[InputSpec]) -> list[Sample]:
    """A .npy (one input; first axis: samples) or .npz (one array per input, keys x0, x1, ...
    or arr_0, arr_1, ... as np.savez names them; first axis: samples)."""
    path = Path(path)
    data = read_array_file(path)
    if isinstance(data, np.ndarray):
        named = [("the array", data)]
        if len(specs) != 1:
            raise ModelError(
                f"{path}: holds one array but the model takes {len(specs)} inputs: give an .npz with "
                + ", ".join(f"x{i}" for i in range(len(specs)))
                + " (first axis: samples)"
            )
    else:
        with data:
            named = _npz_arrays(data, path)
        if not named:
            raise ModelError(f"{path}: holds no arrays")
        if len(named) != len(specs):
            raise ModelError(
                f"{path}: holds {len(named)} arrays ({', '.join(k for k, _ in named)}) but the model takes "
                f"{len(specs)} input{'s' if len(specs) != 1 else ''}"
                + (" (keys x0, x1, ... in input order)" if len(specs) > 1 else "")
            )
    conformed = []
    for (key, a), spec in zip(named, specs):
        where = str(path) if key == "the array" else f"{path} (array {key!r})"
        if a.ndim == 0:
            raise ModelError(
                f"{where}: holds a single number, not samples; {spec.describe()}, stacked along a first axis"
            )
        if a.shape[0] == 0:
            raise ModelError(f"{where}: holds 0 samples (its first axis, which counts samples, is empty)")
        conformed.append(conform(a, spec, where, stacked=True))
    counts = {a.shape[0] for a in conformed}
    if len(counts) > 1:
        raise ModelError(
            f"{path}: its arrays hold different numbers of samples ("
            + ", ".join(f"{k}: {a.shape[0]}" for (k, _), a in zip(named, conformed))
            + ")"
        )
    return [Sample([a[i] for a in conformed], f"{path.name}[{i}]") for i in range(conformed[0].shape[0])]


def sample_groups(folder: Path) -> dict[str, list[Path]]:
    """A samples folder's files, in_XX.npy (one input) or in_XX_J.npy (input J of several),
    grouped by XX in its numeric order: one sample per group, its files in input order. A
    sample both in_XX.npy and in_XX_J.npy, or whose J do not run 0, 1, ... without a gap, is
    refused (ModelError naming it): a sample is never silently dropped or shifted."""
    single: dict[str, list[Path]] = {}
    multi: dict[str, dict[int, Path]] = {}
    for f in sorted(Path(folder).glob("in_*.npy")):
        m = re.fullmatch(r"in_(\d+)(?:_(\d+))?", f.stem)
        if not m:
            continue
        if m.group(2) is None:
            single[m.group(1)] = [f]
        else:
            j = int(m.group(2))
            parts = multi.setdefault(m.group(1), {})
            if j in parts:
                raise ModelError(f"{f}: input {j} of sample in_{m.group(1)} is also {parts[j].name}")
            parts[j] = f
    groups = dict(single)
    for key, parts in multi.items():
        if key in single:
            raise ModelError(
                f"{single[key][0]}: sample in_{key} is both in_{key}.npy and in_{key}_J.npy files "
                f"({', '.join(parts[j].name for j in sorted(parts))}); keep one form"
            )
        missing = [j for j in range(max(parts) + 1) if j not in parts]
        if missing:
            raise ModelError(
                f"{Path(folder) / f'in_{key}_{missing[0]}.npy'}: missing, but sample in_{key} has "
                f"{', '.join(parts[j].name for j in sorted(parts))} (input J of a sample is in_XX_J.npy, "
                "J = 0, 1, ...)"
            )
        groups[key] = [parts[j] for j in sorted(parts)]
    return {k: groups[k] for k in sorted(groups, key=lambda k: (int(k), k))}


def shipped_sample_files(model_path: Path) -> list[list[Path]]:
    """Inputs shipped beside a model: samples/<stem>/in_XX.npy, or in_XX_J.npy for input J of a
    model with several inputs (sample_groups)."""
    return list(sample_groups(Path(model_path).parent / "samples" / Path(model_path).stem).values())


def shipped_samples(model_path: Path) -> list[list[np.ndarray]]:
    """The shipped samples' arrays as stored (see shipped_sample_files)."""
    return [
        [np.asarray(read_array_file(f, "sample file")) for f in files] for files in shipped_sample_files(model_path)
    ]


def load_shipped_samples(model_path: Path, specs: list[InputSpec]) -> list[Sample]:
    samples = []
    for files in shipped_sample_files(model_path):
        if len(files) != len(specs):
            raise ModelError(
                f"{files[0]}: a shipped sample of {len(files)} file(s) for a model with {len(specs)} inputs "
                "(name them in_XX.npy for one input, in_XX_J.npy for input J)"
            )
        arrays = []
        for f, spec in zip(files, specs):
            a = read_array_file(f, "sample file")
            if not isinstance(a, np.ndarray):
                a.close()
                raise ModelError(
                    f"{f}: an .npz archive under a .npy name; a shipped sample is one .npy array per input"
                )
            arrays.append(conform(a, spec, str(f), stacked=False))
        samples.append(Sample(arrays, str(files[0].relative_to(Path(model_path).parent))))
    return samples


def random_inputs(model: CompiledModel, count: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    g = model.graph
    out = []
    for _ in range(count):
        sample = []
        for t in g.inputs:
            tensor = g.tensors[t]
            dt = numpy_dtype(tensor.dtype)
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
                info = np.iinfo(numpy_dtype(model.graph.tensors[step.kernel.outputs[0]].dtype))
                return q.s * (int(info.min) - q.zp), q.s * (int(info.max) - q.zp)
    return -1.0, 1.0


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise equality (NaN equals NaN), b taken in a's shape."""
    a = np.asarray(a)
    b = np.asarray(b).reshape(a.shape)
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return (a == b) | (np.isnan(a) & np.isnan(b))
    return a == b


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    a = np.asarray(a)
    b = np.asarray(b).reshape(a.shape)
    with np.errstate(all="ignore"):
        bad = ~_same(a, b)
        if a.dtype.kind == "f":
            d = np.abs(a.astype(np.float64) - b.astype(np.float64))
            d = np.where(bad, d, 0.0)
            d = np.nan_to_num(d, nan=np.inf)
        else:
            d = np.abs(a.astype(np.int64) - b.astype(np.int64))
    return int(bad.sum()), (float(d.max()) if d.size else 0.0)


class PrecomputedRuns:
    """The op-by-op oracle's outputs, computed before the comparison, served in sample order
    through the calls validation makes of a reference's worker."""

    def __init__(self, outputs: list[list[np.ndarray]]) -> None:
        self._outputs = list(outputs)
        self._next = 0
        self.timeout = 0.0

    def wait_ready(self) -> None:
        pass

    def start_runs(self, batch, n_outputs: int) -> None:
        pass

    def finish_run(self) -> list[np.ndarray]:
        out = self._outputs[self._next]
        self._next += 1
        return out

    def close(self) -> None:
        self._outputs = []


def by_op_fallbacks(result: OpByOpResult) -> str:
    """What the op-by-op oracle ran in TFLite's reference, and why, as a clause for the notes."""
    groups: dict[str, list[str]] = {}
    for r in result.fallbacks():
        groups.setdefault(r.why, []).append(f"{r.opcode} (op {r.index})")
    if not groups:
        return ""
    parts = [
        ", ".join(ops[:6]) + (f" and {len(ops) - 6} more" if len(ops) > 6 else "") + f": {why}"
        for why, ops in groups.items()
    ]
    return f"; TFLite's reference kernels ran {'; '.join(parts)}"


def run_op_by_op(
    data: bytes,
    model: CompiledModel,
    sample_list: list[Sample],
    timeout: float,
    why: str,
    notes: list[str],
    reference_runs: bool,
) -> PrecomputedRuns | None:
    """The op-by-op oracle's outputs for every sample (op_oracle.py), the note that says why it
    is the oracle appended to `notes`; None (and a note) where it cannot run, and None where
    TFLite Micro ran none of the ops and TFLite's reference runs the model whole
    (`reference_runs`): that reference is then the oracle, as it is op by op."""
    try:
        result = OpByOpOracle(data, model.graph, timeout).run([s.arrays for s in sample_list])
    except OpOracleUnavailable as exc:
        notes.append(f"no oracle op by op: {exc}")
        return None
    if reference_runs and len(result.fallbacks()) == len(result.runs):
        return None
    notes.append(
        f"TFLite Micro {why}: the oracle is {OP_BY_OP_TITLE}, each op run alone in TFLite Micro on the "
        f"oracle's own inputs{by_op_fallbacks(result)}"
    )
    return PrecomputedRuns(result.outputs)


# --- the comparison ----------------------------------------------------------------------------


def validate_file(
    path: str | Path,
    samples: int = 20,
    seed: int = 0,
    inputs_file: str | Path | None = None,
    progress=None,
    board: str | None = None,
    weights: str = "auto",
) -> ValidationReport:
    """Validate a .tflite file with `samples` random inputs plus the inputs of `inputs_file`
    (or, without it, those shipped as samples/<stem>/in_XX.npy beside the model)."""
    # Same two refusals as reports/evaluate.py's _read_model; kept apart: two one-line messages, each module reads
    # the model its own way
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"{path}: is a folder, not a .tflite file")
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc.strerror or 'input/output error'})") from None
    if inputs_file is not None:
        extra = functools.partial(load_inputs_file, Path(inputs_file))
    else:
        extra = functools.partial(load_shipped_samples, path)
    return validate_bytes(
        data, path.name, samples=samples, seed=seed, extra_inputs=extra, progress=progress, board=board, weights=weights
    )


def validate_bytes(
    data: bytes,
    label: str,
    samples: int = 20,
    seed: int = 0,
    extra_inputs=None,
    progress=None,
    board: str | None = None,
    weights: str = "auto",
) -> ValidationReport:
    """Compile, build and compare a model given as bytes; `label` names it in the report.
    `extra_inputs`: samples to run before the random ones, as a list of samples (each a list of
    arrays, one per input) or a function from the model's InputSpecs to a list of Samples.
    With `board`, the C runs as firmware on that board's emulated core (QEMU) instead of on
    the host, and the report carries the firmware's flash, RAM and instruction count."""
    # The references' workers start first and load the model while the C compiles and builds.
    refs: dict[str, OutOfProcessReference] = {}
    try:
        refs["tflm"] = TflmReference(data, wait=False)
        refs["tflite_ref"] = TfliteRefReference(data, wait=False)
        return _compare(data, label, samples, seed, extra_inputs, progress, board, refs, weights)
    finally:
        for ref in refs.values():
            ref.close()


def _compare(data, label, samples, seed, extra_inputs, progress, board, refs, weights="auto") -> ValidationReport:
    stem = Path(label).stem
    if board == "host":  # the host profile is what validate builds without --board
        board = None
    if seed < 0 or samples < 0:
        raise ModelError(
            f"{label}: the seed and the number of random samples must be 0 or more (got {seed} and {samples})"
        )
    # With a board, the weights' form is chosen for its flash, as `build` chooses it.
    model = compile_bytes(data, stem, weights=weights, board=load_board(board) if board is not None else None)
    specs = input_specs(model)
    if callable(extra_inputs):
        extra = extra_inputs(specs)
    else:
        extra = []
        for i, arrays in enumerate(extra_inputs or []):
            if len(arrays) != len(specs):
                raise ModelError(f"{label}: input sample {i} has {len(arrays)} arrays, the model takes {len(specs)}")
            where = f"{label}: input sample {i}"
            extra.append(
                Sample(
                    [conform(np.asarray(a), s, where, stacked=False) for a, s in zip(arrays, specs)],
                    f"input sample {i}",
                )
            )
    sample_list = list(extra) + [
        Sample(arrays, f"random input {i + 1}, seed {seed}")
        for i, arrays in enumerate(random_inputs(model, samples, seed))
    ]
    if not sample_list:
        raise ModelError(
            f"{label}: no samples to compare: --samples is 0 and no inputs were given "
            f"(--inputs FILE, or samples/{stem}/in_XX.npy beside the model)"
        )
    emitted = emit(model)
    host = build_and_load(model, emitted) if board is None else None

    timeout = call_timeout(model.macs)
    notes: list[str] = []
    if getattr(refs.get("tflite_ref"), "note", None):  # an op version lowered for the reference
        notes.append(refs["tflite_ref"].note)
    tflm_data = tflm_model_bytes(data, model)
    if tflm_data is not data and tflm_data is not None and "tflm" in refs:
        # TFLite Micro does not resize tensors: it is given the shapes TFLite computes.
        notes.append(
            f"TFLite Micro does not resize tensors: it ran the model with the shapes TFLite computes "
            f"written in place of {_changes_text(model)}"
        )
    padded = with_explicit_space_to_batch_padding(tflm_data) if tflm_data is not None else None
    if padded is not None and "tflm" in refs:
        tflm_data = padded
        notes.append(
            "TFLite Micro pads SPACE_TO_BATCH_ND with a value it never sets: it ran the model with each "
            "padding SPACE_TO_BATCH_ND split into PAD (the zero point, as TFLite) and one that pads nothing"
        )
    if tflm_data is not data and tflm_data is not None and "tflm" in refs:
        refs.pop("tflm").close()
        refs["tflm"] = TflmReference(tflm_data, wait=False)
    failures: list[str] = []
    status: dict[str, str] = {}
    for name in list(refs):
        refs[name].timeout = timeout
        try:
            refs[name].wait_ready()
        except ReferenceUnavailable as exc:
            notes.append(str(exc))
            status[name] = "refuses the model"
            refs.pop(name).close()
        except ReferenceFailed as exc:
            failures.append(f"{exc} while loading the model")
            status[name] = f"{exc.reason} while loading the model"
            refs.pop(name).close()
    undefined = tflm_undefined_ops(model, padding_explicit=padded is not None)
    if "tflm" not in refs or undefined:
        # TFLite Micro cannot run the model whole (an op it lacks) or its output is undefined:
        # it runs it op by op, TFLite's reference taking only the ops TFLite Micro lacks.
        why = status.get("tflm") or f"has an undefined output for this model ({'; '.join(undefined)})"
        by_op = run_op_by_op(data, model, sample_list, timeout, why, notes, "tflite_ref" in refs)
        if by_op is not None:
            if "tflm" in refs:
                refs.pop("tflm").close()
                status["tflm"] = "has an undefined output for this model"
            refs["tflm_ops"] = by_op
            undefined = []
    if not refs:
        raise ModelError(
            f"{label}: neither TFLite Micro nor TFLite runs this model ({'; '.join(failures + notes)}); "
            "nothing to compare with"
        )

    oracle = "tflm_ops" if "tflm_ops" in refs else "tflm" if "tflm" in refs else "tflite_ref"
    if undefined and "tflite_ref" in refs:
        oracle = "tflite_ref"
        status["tflm"] = "has an undefined output for this model"
        notes.append(
            f"TFLite Micro's output is undefined here ({'; '.join(undefined)}): "
            "TFLite's reference kernels are the oracle for this model"
        )
    elif undefined:
        notes.append(
            f"TFLite Micro's output is undefined here ({'; '.join(undefined)}) and TFLite refuses the model: "
            "the comparison with TFLite Micro proves nothing on those elements"
        )
    for line in failures:
        notes.append(f"{line}: {TITLES[oracle]} is the oracle")

    n_out = len(model.graph.outputs)
    instructions = stack_bytes = stack_measured = stack_computed = None
    flash_bytes, ram_bytes = emitted.flash_const_bytes, model.ram_bytes
    if board is not None:
        from edgeconv.progress import progress_task
        from edgeconv.targets.emulate import build_emulated, can_count_instructions, count_instructions

        with progress_task(f"Building firmware for {board}", total=3) as step:
            fw = build_emulated(model, board)
            try:
                step(1, description=f"Running {len(sample_list)} samples on the emulated {board}")
                emulated_outputs = fw.run([s.arrays for s in sample_list])
                step(1, description=f"Counting instructions on {board}")
                if can_count_instructions(fw.board):
                    instructions, _ = count_instructions(fw, sample_list[0].arrays)
                else:
                    notes.append(f"no instruction-counting emulator models {fw.board.name}: instructions not measured")
                step(1)
                flash_bytes, ram_bytes = fw.flash_bytes, fw.ram_bytes
                stack_bytes, stack_measured = fw.stack_need_bytes, fw.stack_measured_bytes
                stack_computed = bool(fw.stack_worst_path)  # a call graph was walked (not on AVR)
                if stack_measured is not None and stack_measured > stack_bytes:
                    notes.append(
                        f"the painted stack reached {stack_measured:,} B, beyond the "
                        f"{'computed' if stack_computed else 'reserved'} {stack_bytes:,} B"
                    )
            finally:
                fw.close()

    mism = {k: 0 for k in refs}
    compared = {k: 0 for k in refs}
    max_abs = {k: 0.0 for k in refs}
    first_bad: dict[str, Sample] = {}
    disagreements = 0
    # The oracle and the other reference run whole: where they disagree, which one the C follows.
    pair = (oracle, "tflite_ref") if oracle != "tflite_ref" else ("tflm", "tflite_ref")
    follows = {pair[0]: 0, pair[1]: 0}
    live = dict(refs)
    total = len(sample_list)
    if progress is None:  # a bar on a terminal when switched on (edgeconv/progress.py), else nothing
        from edgeconv.progress import track

        iterator = track(sample_list, f"Validating {label}" + (f" on {board}" if board else ""))
    else:
        iterator = progress(sample_list)
    in_flight = {k: 0 for k in refs}  # samples sent to each reference and not yet collected
    for number, sample in enumerate(iterator, 1):
        # Both references work through the next samples in their processes while the C runs
        # here; each answer is collected in order, so a crash is pinned to its sample.
        results, failed = {}, {}
        for name, ref in live.items():
            if in_flight[name] == 0:
                batch = [s.arrays for s in sample_list[number - 1 : number - 1 + REFERENCE_BATCH]]
                try:
                    ref.start_runs(batch, n_out)
                    in_flight[name] = len(batch)
                except ReferenceFailed as exc:
                    failed[name] = exc
        ours = host.run(sample.arrays) if host is not None else emulated_outputs[number - 1]
        for name in live:
            if name in failed:
                continue
            try:
                results[name] = live[name].finish_run()
                in_flight[name] -= 1
            except ReferenceFailed as exc:
                failed[name] = exc
        if "tflm" in failed and oracle == "tflm" and number == 1 and not failed["tflm"].died:
            # TFLite Micro loads the model but fails to run it (an op whose Prepare accepts a
            # type its Eval does not): as if it refused it, it runs the model op by op.
            exc = failed["tflm"]
            by_op = run_op_by_op(
                data,
                model,
                sample_list,
                timeout,
                f"fails to run the model ({exc.reason.removeprefix('failed: ').rstrip('.')})",
                notes,
                "tflite_ref" in live,
            )
            if by_op is not None:
                live.pop("tflm").close()
                status["tflm"] = "fails to run the model"
                del failed["tflm"]
                oracle, pair = "tflm_ops", ("tflm_ops", "tflite_ref")
                follows = {pair[0]: 0, pair[1]: 0}
                refs["tflm_ops"] = live["tflm_ops"] = by_op
                for table in (mism, compared, in_flight):
                    table["tflm_ops"] = 0
                max_abs["tflm_ops"] = 0.0
                results["tflm_ops"] = by_op.finish_run()
        if failed:
            for name, exc in failed.items():
                live.pop(name).close()
                failures.append(f"{exc} at sample {number} of {total} ({sample.origin})")
                status[name] = f"{exc.reason} at sample {number} of {total}"
            what = " and ".join(str(exc) for exc in failed.values())
            line = f"{what} at sample {number} of {total} ({sample.origin})"
            usable = [k for k in live if not (k == "tflm" and undefined)]
            if not usable:
                alone = (
                    "no other reference runs this model"
                    if len(refs) == 1
                    else "TFLite Micro's output is undefined for this model"
                    if live
                    else "neither reference is left"
                )
                raise ModelError(f"{label}: {line}; {alone}: nothing to compare with")
            if oracle in failed:
                lost, oracle = oracle, usable[0]
                before = f"; {TITLES[lost]} was compared on the {number - 1} before" if number > 1 else ""
                notes.append(f"{line}: {TITLES[oracle]} is the oracle (it ran every sample{before})")
            else:
                notes.append(f"{line}: {TITLES[oracle]} remains the oracle")
        for name, outs in results.items():
            for j, (o, r) in enumerate(zip(ours, outs)):
                if np.asarray(r).size != np.asarray(o).size:
                    # A reference that disagrees on the output's size: every element differs.
                    shape_note = (
                        f"{TITLES[name]}'s output {j} has shape {_fmt_shape(np.shape(r))}, the C's "
                        f"{_fmt_shape(np.shape(o))}: every element of it counts as differing"
                    )
                    if shape_note not in notes:
                        notes.append(shape_note)
                    n, d = int(np.asarray(o).size), 0.0
                else:
                    n, d = _diff(o, r)
                mism[name] += n
                compared[name] += int(np.asarray(o).size)
                max_abs[name] = max(max_abs[name], d)
                if n and name not in first_bad:
                    first_bad[name] = sample
        if pair[0] in results and pair[1] in results:
            for o, a, b in zip(ours, results[pair[0]], results[pair[1]]):
                if not (np.asarray(a).size == np.asarray(b).size == np.asarray(o).size):
                    continue  # noted above
                split = ~_same(a, b)
                if split.any():
                    disagreements += int(split.sum())
                    o = np.asarray(o).reshape(np.asarray(a).shape)
                    follows[pair[0]] += int((_same(o, a) & split).sum())
                    follows[pair[1]] += int((_same(o, np.asarray(b).reshape(o.shape)) & split).sum())

    bit_exact = mism[oracle] == 0
    first_op = None
    if not bit_exact and oracle in first_bad:
        try:
            first_op = locate_divergence(
                tflm_data if oracle == "tflm" and tflm_data is not None else data,
                stem,
                first_bad[oracle].arrays,
                oracle,
                timeout=timeout,
            )
        except ReferenceFailed as exc:
            notes.append(f"{exc} while locating the first divergent op")
        else:
            if first_op is None and board is not None:
                notes.append(
                    "the host build of the same C is exact on the failing sample: "
                    f"the divergence is specific to {board}"
                )

    tflm_arena = None
    if "tflm" in live:
        try:
            tflm_arena = live["tflm"].arena_total()
        except ReferenceFailed as exc:
            notes.append(str(exc))
    both = pair[0] in refs and pair[1] in refs
    worst = max_abs[oracle]
    # One keyword per ValidationReport field (results.py); duplicates pairs this by shape with the kernels' params
    # dicts, which are unrelated
    return ValidationReport(
        model=label,
        samples=total,
        bit_exact=bit_exact,
        mismatches_vs_tflm=mism.get("tflm"),
        mismatches_vs_tflite_ref=mism.get("tflite_ref"),
        reference_disagreements=disagreements if both else None,
        max_abs_diff=int(worst) if float(worst).is_integer() else worst,
        first_divergent_op=first_op,
        ram_bytes=ram_bytes,
        flash_bytes=flash_bytes,
        macs=model.macs,
        arena_lower_bound=model.plan.lower_bound,
        tflm_arena_bytes=tflm_arena,
        board=board,
        instructions=instructions,
        stack_bytes=stack_bytes,
        stack_computed=stack_computed,
        stack_measured_bytes=stack_measured,
        references=sorted(live),
        notes=notes,
        oracle=oracle,
        elements_compared=compared[oracle],
        mismatches_vs_oracle=mism[oracle],
        follows_on_disagreement=follows if both else None,
        reference_failures=failures,
        reference_status=status,
    )


def headline(report: ValidationReport) -> str:
    """What was compared, in one sentence: the verdict, the oracle, the elements and samples,
    and how the other reference relates to it."""
    oracle = TITLES[report.oracle]
    other = "tflm" if report.oracle == "tflite_ref" else "tflite_ref"
    where = f" on emulated {report.board}" if report.board else ""
    elements = f"{report.elements_compared:,} output element{'s' if report.elements_compared != 1 else ''}"
    of_samples = f"of {report.samples:,} sample{'s' if report.samples != 1 else ''}"
    if report.bit_exact:
        text = f"{report.model}: BIT-EXACT{where}: equal to {oracle} on all {elements} {of_samples}"
    else:
        text = (
            f"{report.model}: MISMATCH{where}: {report.mismatches_vs_oracle:,} of {elements} {of_samples} "
            f"differ from {oracle} (max |diff| {report.max_abs_diff}); first divergent op: {report.first_divergent_op}"
        )
    if report.reference_disagreements is not None and other in report.references:
        n = report.reference_disagreements
        if n == 0:
            text += f", and {TITLES[other]} agrees"
        else:
            follows = report.follows_on_disagreement or {}
            on_oracle, on_other = follows.get(report.oracle, 0), follows.get(other, 0)
            if on_oracle == n:
                side = f"the C follows {oracle}"
            elif on_other == n:
                side = f"the C follows {TITLES[other]}"
            else:
                side = f"the C follows {oracle} on {on_oracle:,} and {TITLES[other]} on {on_other:,}"
            text += f"; {TITLES[other]} disagrees with {oracle} on {n:,} of them and {side}"
        if report.oracle != "tflm":
            text += f" (TFLite Micro {report.reference_status.get('tflm', 'is not the oracle')}: see the notes)"
    else:
        why = report.reference_status.get(other, "did not run to the end")
        text += f" ({TITLES[other]} {why}: see the notes)"
    return text


def tflm_undefined_ops(model: CompiledModel, padding_explicit: bool = False) -> list[str]:
    """Ops whose TFLite Micro result depends on uninitialized memory.

    SPACE_TO_BATCH_ND: TFLM's Prepare never sets the pad value its Eval reads (params are a
    persistent buffer left unwritten), so padded cells hold whatever was there (not where
    `padding_explicit`: the model TFLite Micro then runs has the padding as a PAD op,
    references.with_explicit_space_to_batch_padding).

    Stored shapes that are not TFLite's: TFLite Micro never resizes a tensor and runs the shape
    the file stores, which converters leave as placeholders (batch 1 where a dynamic batch
    becomes 4 after SPACE_TO_BATCH_ND); TFLite computes every op's output shape in Prepare, as
    edgeconv does (shapes.py)."""
    found = []
    changes = model.graph.shape_changes
    if changes and any(len(old) != len(new) for old, new in changes.values()):
        # (Where only sizes differ, validation gives TFLite Micro the shapes TFLite computes.)
        found.append(
            f"it runs the shapes stored in the file, which are not TFLite's: {_changes_text(model)}, and "
            "they cannot be rewritten in place (another rank)"
        )
    for op in model.graph.ops:
        if op.opcode == "SPACE_TO_BATCH_ND" and len(op.inputs) > 2 and op.inputs[2] >= 0 and not padding_explicit:
            pads = model.graph.tensors[op.inputs[2]].data
            if pads is not None and np.any(pads != 0):
                found.append(f"{op.describe(model.graph)} pads with an uninitialized value")
    return found


def tflm_model_bytes(data: bytes, model: CompiledModel) -> bytes | None:
    """The model as TFLite Micro is to run it: `data` itself, or, where the file stores shapes
    that are not TFLite's (placeholders for a dynamic batch), `data` with TFLite's shapes written
    in (TFLite Micro never resizes a tensor); None where that cannot be done in place."""
    changes = model.graph.shape_changes
    if not changes:
        return data
    return with_tensor_shapes(data, {t: new for t, (_, new) in changes.items()})


def _changes_text(model: CompiledModel) -> str:
    changes = model.graph.shape_changes
    t, (old, new) = min(changes.items())
    name = model.graph.tensors[t].describe() if t in model.graph.tensors else f"tensor {t}"
    more = f"{len(changes)} stored shapes" if len(changes) > 1 else "1 stored shape"
    return f"{more} (e.g. {name}: stored {list(old)}, TFLite's {list(new)})"


def locate_divergence(
    data: bytes, name: str, sample: list[np.ndarray], oracle: str, timeout: float | None = None
) -> str | None:
    """Build without arena reuse, run `sample`, and name the first op whose output differs.
    The oracle runs in its own worker (ReferenceFailed if it crashes or hangs); "tflm_ops" runs
    op by op (op_oracle.py), keeping every tensor."""
    model = compile_bytes(data, name, reuse=False)
    host: HostModel = build_and_load(model, emit(model))
    host.run(sample)
    arena = host.arena()
    timeout = timeout if timeout is not None else call_timeout(model.macs)
    if oracle == "tflm_ops":
        try:
            kept = OpByOpOracle(data, model.graph, timeout).run([sample], keep_all=True).tensors or {}
        except OpOracleUnavailable:
            return None
        ref = PrecomputedTensors({t: v[0] for t, v in kept.items()})
    elif oracle == "tflm":
        ref = TflmReference(data, preserve_all_tensors=True, timeout=timeout)
    else:
        ref = TfliteRefReference(data, timeout=timeout)
    with ref:
        ref.run(sample, len(model.graph.outputs))
        for step in model.steps:
            for t in step.kernel.outputs:
                tensor = model.graph.tensors[t]
                dt = numpy_dtype(tensor.dtype)
                off = model.tensor_offset(t)
                ours = arena[off : off + tensor.nbytes].view(dt).reshape(tensor.shape)
                try:
                    theirs = ref.tensor(t)
                except ReferenceFailed as exc:
                    if exc.died:
                        raise
                    continue  # the reference does not keep this tensor
                if np.asarray(theirs).size != ours.size or _diff(ours, theirs)[0]:
                    return f"op {step.op.index} {step.op.opcode} (output tensor {t} '{tensor.name}')"
    return None


class PrecomputedTensors:
    """Every tensor the op-by-op oracle computed for one sample, read as a reference's worker is."""

    def __init__(self, tensors: dict[int, np.ndarray]) -> None:
        self._tensors = tensors

    def run(self, inputs, n_outputs: int) -> None:
        pass

    def tensor(self, index: int) -> np.ndarray:
        if index not in self._tensors:
            raise ReferenceFailed(OP_BY_OP_TITLE, f"did not compute tensor {index}", died=False)
        return self._tensors[index]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass
