"""`edgeconv evaluate`: accuracy on the user's labelled data, for the float model, the int8 model
and the generated C, side by side.

The int8 model runs in TFLite Micro (the oracle every bit-exactness claim refers to; op by op,
`op_oracle.py`, where it refuses the model or its output would be undefined, as `validate`
does), the C on the host (a cffi build) or, with a board, as firmware on its emulated core; the
float model (a .keras file, optional) in Keras. Every output is scored on its own:

- classification (a vector of K > 1 scores against class indices 0..K-1 or one-hot rows; or a
  single score in [0, 1], a sigmoid, against labels 0/1): top-1 and top-k accuracy, recall per
  class and the confusion matrix (rows: true class, columns: predicted);
- regression (targets of the output's shape): RMSE, mean and max absolute error and the cosine
  similarity between output and target (per sample, averaged), in the output's real units
  (int8 outputs dequantized: scale * (q - zero_point));
- reconstruction (an output shaped like the input, e.g. an autoencoder, given one label per
  sample): the same error figures against the input itself, and, with labels 0 (normal) and 1
  (anomaly), the ROC AUC of the per-sample reconstruction error as an anomaly score.

The C must equal the int8 model exactly: the result counts the elements where it does not and
names the first (`edgeconv evaluate` then exits 1).

Data (`load_eval_data`): a .npz with `x` and `y` (x0, x1, ... / y0, y1, ... for several inputs
or outputs; `class_names` optional), as `edgeconv train --data` takes; a folder of samples
(in_XX.npy, or in_XX_J.npy for input J, and INDEX.txt whose lines name a file and carry
`label=N`), the form the shared models' samples come in; or a folder of class subfolders of
images. Float x is quantized with the input's scale and zero point as TFLite's QUANTIZE does
(quantize.ptq.quantize_input); integer x is taken as already quantized.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeconv.frontend.dtypes import ELEMENT_TYPES
from edgeconv.frontend.ir import ModelError

if TYPE_CHECKING:
    from edgeconv.checking.validation import InputSpec
    from edgeconv.lowering.compiler import CompiledModel

# `import edgeconv` loads this module (edgeconv/__init__.py: the submodule first, then the API
# function `evaluate` of the same name), so everything heavy is imported where it is used.

# The integer types a quantized tensor has (int64 and bool carry no scale).
INT_TYPES = {n: t.numpy for n, t in ELEMENT_TYPES.items() if t.is_integer and t.size <= 4}
INDEX_FILE = "INDEX.txt"
# label= values in INDEX.txt that mean "no label": such a sample is left out (and said so).
UNLABELLED = {"none", "?", "-", "unknown", "nan"}
DEFAULT_TOP_K = 5
EMULATED_BATCH = 64  # samples per emulator run with --board
MISCLASSIFIED_LISTED = 20  # misclassified samples named per output (the C's)


# --- data ----------------------------------------------------------------------------------------


@dataclass
class EvalData:
    """Labelled samples, ready for the model: `x` per model input, stacked, in the input's type;
    `x_float` the same inputs in real units (for the float model and reconstruction targets);
    `y` per model output (None: no targets for that output)."""

    source: str
    x: list[np.ndarray]
    x_float: list[np.ndarray]
    y: list[np.ndarray | None]
    origins: list[str]  # one per sample, for messages: "in_03.npy", "test.npz[17]"
    class_names: list[str] | None = None  # given with the data (.npz class_names, image folders)
    notes: list[str] = field(default_factory=list)  # e.g. samples left out for want of a label

    @property
    def count(self) -> int:
        return int(self.x[0].shape[0])


def _input_quant(model: CompiledModel, i: int):
    return model.graph.tensors[model.graph.inputs[i]].quant


def _prepare_input(a: np.ndarray, spec: InputSpec, model: CompiledModel, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(the samples in the input's type, the same in real units), samples first."""
    from edgeconv.checking.validation import conform
    from quantize.ptq import quantize_input

    a = np.asarray(a)
    if a.ndim == 0:
        raise ModelError(f"{where}: holds a single number, not samples; {spec.describe()}, stacked along a first axis")
    if a.shape[0] == 0:
        raise ModelError(f"{where}: holds 0 samples (its first axis, which counts samples, is empty)")
    if a.dtype.kind not in "iuf" and a.dtype.kind != "b":
        raise ModelError(f"{where}: holds {a.dtype} values, not numbers")
    quant = _input_quant(model, spec.index)
    integer_input = spec.dtype in INT_TYPES
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise ModelError(f"{where}: holds {int(np.count_nonzero(~np.isfinite(a)))} NaN or infinite values")
        if integer_input:
            if quant is None:
                raise ModelError(f"{where}: holds floats, and {spec.describe()} without a scale to quantize them with")
            q = quantize_input(a, quant.s, quant.zp, INT_TYPES[spec.dtype])
            x = conform(q, spec, where, stacked=True)
            return x, conform(a.astype(np.float32), _float_spec(spec), where, stacked=True)
    x = conform(a, spec, where, stacked=True)
    if integer_input and quant is not None:
        return x, (x.astype(np.float64) - quant.zp) * quant.s  # exact, in float64
    return x, x.astype(np.float64)


def _float_spec(spec: InputSpec) -> InputSpec:
    from edgeconv.checking.validation import InputSpec

    return InputSpec(spec.index, spec.name, spec.shape, "float32")


def _npz_keys(files: list[str], letter: str, count: int, path: Path, what: str) -> list[str | None]:
    """The arrays of the .npz for `count` inputs (x) or outputs (y): `x` for one, x0, x1, ..."""
    if count == 1 and letter in files:
        return [letter]
    numbered = [f"{letter}{i}" for i in range(count)]
    if all(k in files for k in numbered):
        return list(numbered)
    if letter == "y" and any(k in files for k in numbered):
        return [k if k in files else None for k in numbered]  # some outputs unlabelled
    if letter == "y" and letter in files and count > 1:
        raise ModelError(
            f"{path}: the model has {count} outputs: give one target array per output, {', '.join(numbered)} ({what})"
        )
    have = ", ".join(files) or "nothing"
    if letter == "x":
        want = "x" if count == 1 else ", ".join(numbered)
        raise ModelError(f"{path}: holds no {want} (the samples, first axis counting them); it has: {have}")
    want = "y" if count == 1 else ", ".join(numbered)
    raise ModelError(f"{path}: holds no {want} ({what}); it has: {have}")


def _load_npz(path: Path, model: CompiledModel) -> EvalData:
    from edgeconv.checking.validation import input_specs, load_array, read_array_file

    specs = input_specs(model)
    n_out = len(model.graph.outputs)
    data = read_array_file(path, "data file")
    if isinstance(data, np.ndarray):
        raise ModelError(f"{path}: a single array (.npy); evaluation needs an .npz with x (samples) and y (labels)")
    with data:
        files = list(data.files)
        x_keys = _npz_keys(files, "x", len(specs), path, "")
        y_keys = _npz_keys(files, "y", n_out, path, "class indices or targets, one per sample")

        def array(k: str) -> np.ndarray:
            return load_array(lambda: data[k], f"{path}: array {k!r}", "is damaged or unreadable")

        xs = [array(k) for k in x_keys]
        ys = [array(k) if k is not None else None for k in y_keys]
        names = [str(n) for n in array("class_names")] if "class_names" in files else None
    x, x_float = [], []
    for k, a, spec in zip(x_keys, xs, specs):
        q, r = _prepare_input(a, spec, model, f"{path} (array {k!r})")
        x.append(q)
        x_float.append(r)
    _check_counts(path, x_keys, x, y_keys, ys)
    return EvalData(str(path), x, x_float, ys, [f"{path.name}[{i}]" for i in range(x[0].shape[0])], names)


def _check_counts(where, x_keys, x, y_keys, ys) -> None:
    counts = {k: a.shape[0] for k, a in zip(x_keys, x)}
    for k, y in zip(y_keys, ys):
        if y is not None:
            if np.ndim(y) == 0:
                raise ModelError(
                    f"{where}: {k} holds a single number; it needs one label or target per sample "
                    f"({next(iter(counts.values()))} samples)"
                )
            counts[k] = int(np.shape(y)[0])
    if len(set(counts.values())) > 1:
        raise ModelError(
            f"{where}: its arrays hold different numbers of samples ("
            + ", ".join(f"{k}: {n}" for k, n in counts.items())
            + ")"
        )


def _read_npy(path: Path) -> np.ndarray:
    from edgeconv.checking.validation import read_array_file

    a = read_array_file(path, "sample file")
    if not isinstance(a, np.ndarray):
        a.close()
        raise ModelError(f"{path}: an .npz archive under a .npy name; a sample is one .npy array per input")
    return a


def read_index_labels(index: Path) -> dict[str, str]:
    """INDEX.txt: each line names a sample file (first field) and carries `label=N`; '#' starts
    a comment. The label text of each file named."""
    labels: dict[str, str] = {}
    try:
        text = index.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ModelError(f"{index}: cannot be read ({exc.strerror or 'input/output error'})") from None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name = line.split()[0]
        m = re.search(r"(?:^|\s)label=(\S+)", line)
        if m:
            labels[name] = m.group(1)
    return labels


def _load_samples_folder(folder: Path, model: CompiledModel) -> EvalData:
    from edgeconv.checking.validation import conform, input_specs, sample_groups

    specs = input_specs(model)
    groups = sample_groups(folder)
    index = folder / INDEX_FILE
    if not index.is_file():
        raise ModelError(
            f"{folder}: sample files but no {INDEX_FILE} giving their labels (one line per file: in_XX.npy ... label=N)"
        )
    labels = read_index_labels(index)
    per_input: list[list[np.ndarray]] = [[] for _ in specs]
    ys: list[int] = []
    origins: list[str] = []
    unlabelled: list[str] = []
    for key, files in groups.items():
        if len(files) != len(specs):
            raise ModelError(
                f"{files[0]}: a sample of {len(files)} file(s) for a model with {len(specs)} inputs "
                "(name them in_XX.npy for one input, in_XX_J.npy for input J)"
            )
        text = next((labels[f.name] for f in files if f.name in labels), labels.get(f"in_{key}"))
        if text is None:
            raise ModelError(f"{index}: no label=N for {files[0].name}")
        if text.lower() in UNLABELLED:
            unlabelled.append(f"{files[0].name}: label={text}")
            continue
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not np.isfinite(value) or value != int(value):
            raise ModelError(f"{index}: {files[0].name} has label={text}, not a whole number")
        for j, (f, spec) in enumerate(zip(files, specs)):
            a = _read_npy(f)
            # One sample per file: its shape is the input's, or the input's without the batch of 1.
            per_input[j].append(conform(a, _float_spec(spec) if a.dtype.kind == "f" else spec, str(f), stacked=False))
        ys.append(int(value))
        origins.append(files[0].name)
    if not ys:
        raise ModelError(f"{index}: no sample has a label (label=N)")
    x, x_float = [], []
    for arrays, spec in zip(per_input, specs):
        q, r = _prepare_input(np.stack(arrays), spec, model, str(folder))
        x.append(q)
        x_float.append(r)
    n_out = len(model.graph.outputs)
    y: list[np.ndarray | None] = [np.array(ys, dtype=np.int64)] + [None] * (n_out - 1)
    notes = (
        [
            f"{len(unlabelled)} sample{'s' if len(unlabelled) > 1 else ''} without a label left out "
            f"({', '.join(unlabelled[:3])}{', ...' if len(unlabelled) > 3 else ''})"
        ]
        if unlabelled
        else []
    )
    return EvalData(str(folder), x, x_float, y, origins, notes=notes)


def _load_image_folder(folder: Path, model: CompiledModel) -> EvalData:
    from edgeconv.checking.validation import input_specs
    from edgeconv.training.datasets import load_dataset

    ds = load_dataset(folder)
    specs = input_specs(model)
    if len(specs) != 1:
        raise ModelError(f"{folder}: a folder of images feeds one input; the model takes {len(specs)}")
    q, r = _prepare_input(ds.x, specs[0], model, str(folder))
    n_out = len(model.graph.outputs)
    return EvalData(
        str(folder),
        [q],
        [r],
        [ds.y] + [None] * (n_out - 1),
        [f"{folder.name}[{i}]" for i in range(len(ds.y))],
        ds.class_names,
    )


def load_eval_data(path: str | Path, model: CompiledModel) -> EvalData:
    """The labelled samples at `path` (see the module's docstring), checked against the model."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such data file or folder")
    if path.is_dir():
        from edgeconv.checking.validation import sample_groups

        if sample_groups(path):
            return _load_samples_folder(path, model)
        if any(p.is_dir() for p in path.iterdir()):
            return _load_image_folder(path, model)
        raise ModelError(f"{path}: neither samples (in_XX.npy with {INDEX_FILE}) nor class subfolders of images")
    try:  # (validation.read_array_file reads the magic too, deliberately: it takes .npy as well, with its own message)
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc.strerror or 'input/output error'})") from None
    if not magic.startswith(b"PK"):
        raise ModelError(f"{path}: not an .npz file (evaluation data: an .npz with x and y, or a folder of samples)")
    return _load_npz(path, model)


# --- what each output is scored as ---------------------------------------------------------------


@dataclass
class OutputTask:
    """How one output is scored: kind "classification", "regression" or "reconstruction"."""

    index: int
    name: str
    kind: str
    size: int  # elements per sample
    classes: int | None = None
    labels: np.ndarray | None = None  # class index per sample (classification), or anomaly labels
    targets: np.ndarray | None = None  # (N, size) real values (regression, reconstruction)
    binary: bool = False  # one sigmoid score, thresholded at 0.5


def _output_range(model: CompiledModel, t: int) -> tuple[float, float] | None:
    tensor = model.graph.tensors[t]
    if tensor.dtype not in INT_TYPES or tensor.quant is None:
        return None
    info = np.iinfo(INT_TYPES[tensor.dtype])
    q = tensor.quant
    return q.s * (int(info.min) - q.zp), q.s * (int(info.max) - q.zp)


def _whole(y: np.ndarray) -> bool:
    return y.dtype.kind in "iub" or (
        y.dtype.kind == "f" and bool(np.all(np.isfinite(y))) and bool(np.all(y == np.round(y)))
    )


def output_tasks(model: CompiledModel, data: EvalData, labels: list[str] | None) -> list[OutputTask]:
    """Decide, from each output's shape and the data's y, how it is scored; refuse targets that
    fit no way of scoring it, in one line."""
    g = model.graph
    n = data.count
    tasks = []
    for j, t in enumerate(g.outputs):
        tensor = g.tensors[t]
        size = int(np.prod(tensor.shape, dtype=np.int64))
        y = data.y[j] if j < len(data.y) else None
        name = f"output {j} ('{tensor.name}')"
        if y is None:
            tasks.append(OutputTask(j, tensor.name, "unscored", size))
            continue
        y = np.asarray(y)
        where = f"{data.source}: the labels of {name}"
        if y.dtype.kind not in "iufb":
            raise ModelError(f"{where} are {y.dtype} values, not numbers")
        if y.shape[0] != n:
            raise ModelError(f"{where}: {y.shape[0]} for {n} samples")
        per = int(np.prod(y.shape[1:], dtype=np.int64))
        shape_text = f"{tensor.dtype} of shape {tuple(int(d) for d in tensor.shape)}"
        if per == size and size > 1:
            flat = y.reshape(n, size)
            if _whole(flat) and np.all((flat == 0) | (flat == 1)) and np.all(flat.sum(axis=1) == 1):
                tasks.append(OutputTask(j, tensor.name, "classification", size, size, np.argmax(flat, axis=1)))
                continue
            if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
                raise ModelError(f"{where} hold NaN or infinite values")
            tasks.append(OutputTask(j, tensor.name, "regression", size, targets=flat.astype(np.float64)))
            continue
        if per == 1:
            flat = y.reshape(n)
            if y.dtype.kind == "f" and not np.all(np.isfinite(flat)):
                raise ModelError(f"{where} hold NaN or infinite values")
            in_shape = data.x_float[0].shape[1:]
            if (
                size > 1
                and len(data.x_float) == 1
                and int(np.prod(in_shape, dtype=np.int64)) == size
                and tuple(d for d in tensor.shape if d != 1) == tuple(d for d in in_shape if d != 1)
            ):
                # An output shaped like the input (an autoencoder): it is scored against the input;
                # the labels, when 0/1, mark anomalies.
                tasks.append(
                    OutputTask(
                        j,
                        tensor.name,
                        "reconstruction",
                        size,
                        labels=flat,
                        targets=data.x_float[0].reshape(n, size).astype(np.float64),
                    )
                )
                continue
            if size > 1:
                if not _whole(flat):
                    bad = flat[flat != np.round(flat)][0]
                    raise ModelError(f"{where} must be class indices 0..{size - 1} (whole numbers); found {bad:g}")
                lo, hi = int(flat.min()), int(flat.max())
                if lo < 0 or hi >= size:
                    bad = lo if lo < 0 else hi
                    count = f"{size} classes" + (f" ({len(labels)} class names in the model)" if labels else "")
                    raise ModelError(
                        f"{where}: label {bad} is out of range for its {count}: labels must be 0..{size - 1}"
                    )
                tasks.append(OutputTask(j, tensor.name, "classification", size, size, flat.astype(np.int64)))
                continue
            rng = _output_range(model, t)
            if (
                _whole(flat)
                and np.all((flat == 0) | (flat == 1))
                and rng is not None
                and rng[0] >= -1e-6
                and rng[1] <= 1 + 1e-6
            ):
                tasks.append(OutputTask(j, tensor.name, "classification", 1, 2, flat.astype(np.int64), binary=True))
                continue
            tasks.append(OutputTask(j, tensor.name, "regression", 1, targets=flat.reshape(n, 1).astype(np.float64)))
            continue
        raise ModelError(
            f"{where} have shape {tuple(y.shape[1:])} per sample; {name} is {shape_text}: give class indices "
            f"(one per sample, 0..{size - 1}), one-hot rows of {size}, or targets of the output's shape"
        )
    return tasks


# --- scores --------------------------------------------------------------------------------------


@dataclass
class ClassificationScores:
    top1: float
    top_k: float | None  # None where k >= the number of classes
    correct: int
    recall: list[float | None]  # per class (None: no sample of that class)
    confusion: list[list[int]]  # [true][predicted]
    balanced: float  # balanced accuracy: the mean recall over the classes that have samples


@dataclass
class ErrorScores:
    rmse: float
    mean_abs_error: float
    max_abs_error: float
    cosine: float  # mean over samples of cos(output, target); 1.0 where both are zero
    anomaly_auc: float | None = None  # reconstruction with labels 0/1: ROC AUC of the per-sample MSE
    mse_by_label: dict[str, float] | None = None  # reconstruction: mean per-sample MSE for each label


def predictions(scores: np.ndarray, task: OutputTask) -> np.ndarray:
    if task.binary:
        return (scores[:, 0] >= 0.5).astype(np.int64)
    return np.argmax(scores, axis=1)


def classification_scores(scores: np.ndarray, task: OutputTask, k: int) -> ClassificationScores:
    labels = task.labels
    classes = int(task.classes or 0)
    pred = predictions(scores, task)
    correct = pred == labels
    top_k = None
    if not task.binary and k < classes:
        # Stable order: among equal scores the lower class comes first, as argmax picks it.
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        top_k = float(np.mean(np.any(order == labels[:, None], axis=1)))
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    totals = confusion.sum(axis=1)
    recall = [float(confusion[c, c] / totals[c]) if totals[c] else None for c in range(classes)]
    present = [r for r in recall if r is not None]
    return ClassificationScores(
        float(np.mean(correct)),
        top_k,
        int(correct.sum()),
        recall,
        confusion.tolist(),
        float(np.mean(present)) if present else 0.0,
    )


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve of `score` for the positives (ties count half): the
    Mann-Whitney statistic. None without both classes."""
    pos, neg = score[positive], score[~positive]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def error_scores(values: np.ndarray, task: OutputTask) -> ErrorScores:
    d = values - task.targets
    norm = np.linalg.norm(values, axis=1) * np.linalg.norm(task.targets, axis=1)
    dots = np.sum(values * task.targets, axis=1)
    both_zero = (np.linalg.norm(values, axis=1) == 0) & (np.linalg.norm(task.targets, axis=1) == 0)
    with np.errstate(all="ignore"):
        cos = np.where(norm > 0, dots / np.where(norm > 0, norm, 1), np.where(both_zero, 1.0, 0.0))
    scores = ErrorScores(
        float(np.sqrt(np.mean(d * d))), float(np.mean(np.abs(d))), float(np.max(np.abs(d))), float(np.mean(cos))
    )
    if task.kind == "reconstruction" and task.labels is not None:
        mse = np.mean(d * d, axis=1)
        groups = {}
        for value in np.unique(task.labels):
            key = str(int(value)) if float(value).is_integer() else f"{float(value):g}"
            groups[key] = float(np.mean(mse[task.labels == value]))
        scores.mse_by_label = groups
        if set(np.unique(task.labels).tolist()) <= {0, 1}:
            scores.anomaly_auc = roc_auc(mse, task.labels == 1)
    return scores


def score_output(values: np.ndarray, task: OutputTask, k: int) -> dict | None:
    """values: (N, size) real values of one output."""
    if task.kind == "classification":
        return asdict(classification_scores(values, task, k))
    if task.kind in ("regression", "reconstruction"):
        return asdict(error_scores(values, task))
    return None


# --- running the three ---------------------------------------------------------------------------


def dequantized(model: CompiledModel, j: int, raw: list[np.ndarray]) -> np.ndarray:
    """Output j of every sample, (N, size), in real units."""
    t = model.graph.tensors[model.graph.outputs[j]]
    a = np.stack([np.asarray(r).reshape(-1) for r in raw])
    if t.dtype in INT_TYPES and t.quant is not None:
        return (a.astype(np.float64) - t.quant.zp) * t.quant.s
    return a.astype(np.float64)


def run_int8(
    data: bytes, model: CompiledModel, samples: list[list[np.ndarray]], notes: list[str], advance: Callable[[], None]
) -> tuple[list[list[np.ndarray]], str]:
    """Each sample's outputs from TFLite Micro, or from TFLite Micro op by op where it refuses or
    fails the model or its output is undefined (as `validate` chooses its oracle)."""
    from edgeconv.checking.op_oracle import TITLE as OP_BY_OP_TITLE
    from edgeconv.checking.op_oracle import OpByOpOracle, OpOracleUnavailable
    from edgeconv.checking.references import (
        ReferenceFailed,
        ReferenceUnavailable,
        TflmReference,
        call_timeout,
        with_explicit_space_to_batch_padding,
    )
    from edgeconv.checking.validation import REFERENCE_BATCH, by_op_fallbacks, tflm_model_bytes, tflm_undefined_ops

    timeout = call_timeout(model.macs)
    tflm_data = tflm_model_bytes(data, model)
    padded = with_explicit_space_to_batch_padding(tflm_data) if tflm_data is not None else None
    if padded is not None:
        tflm_data = padded
        notes.append(
            "TFLite Micro ran the model with each padding SPACE_TO_BATCH_ND split into PAD and one that "
            "pads nothing (it pads with a value it never sets)"
        )
    undefined = tflm_undefined_ops(model, padding_explicit=padded is not None)
    why = f"has an undefined output for this model ({'; '.join(undefined)})" if undefined else ""
    n_out = len(model.graph.outputs)
    if tflm_data is not None and not undefined:
        outputs: list[list[np.ndarray]] = []
        try:
            with TflmReference(tflm_data, timeout=timeout) as ref:
                for start in range(0, len(samples), REFERENCE_BATCH):
                    batch = samples[start : start + REFERENCE_BATCH]
                    ref.start_runs(batch, n_out)
                    for _ in batch:
                        outputs.append(ref.finish_run())
                        advance()
            return outputs, "TFLite Micro"
        except ReferenceUnavailable as exc:
            why = f"refuses the model ({' '.join(str(exc).split())})"
        except ReferenceFailed as exc:
            if exc.died or outputs:
                raise ModelError(f"TFLite Micro {exc.reason} at sample {len(outputs) + 1} of {len(samples)}") from None
            why = f"fails to run the model ({exc.reason.removeprefix('failed: ').rstrip('.')})"
    elif tflm_data is None:
        why = why or "cannot run the shapes stored in the file"
    try:
        result = OpByOpOracle(data, model.graph, timeout).run(samples)
    except OpOracleUnavailable as exc:
        raise ModelError(f"TFLite Micro {why}, and it cannot run the model op by op either ({exc})") from None

    notes.append(
        f"TFLite Micro {why}: the int8 model ran in {OP_BY_OP_TITLE} (each op alone in TFLite Micro)"
        f"{by_op_fallbacks(result)}"
    )
    advance(len(samples))
    return result.outputs, OP_BY_OP_TITLE


def run_float(keras_path: Path, data: EvalData, n_out: int) -> list[np.ndarray]:
    """The Keras model's outputs, each (N, size), on the data's real-valued inputs."""
    from edgeconv.quiet import quiet_tensorflow_logs, silenced

    if not keras_path.is_file():
        raise ModelError(
            f"{keras_path}: no such float model (a .keras file)"
            if not keras_path.exists()
            else f"{keras_path}: is a folder, not a .keras file"
        )
    quiet_tensorflow_logs()
    try:
        with silenced():
            import tensorflow as tf  # noqa: F401
    except ImportError:
        raise ModelError("--float needs TensorFlow: pip install 'edgeconv[train]'") from None
    try:
        with silenced():
            net = tf.keras.models.load_model(keras_path, compile=False)
    except Exception as exc:
        raise ModelError(
            f"{keras_path}: cannot be loaded as a Keras model ({' '.join(str(exc).split())[:160]})"
        ) from None
    inputs = net.inputs
    if len(inputs) != len(data.x_float):
        raise ModelError(f"{keras_path}: takes {len(inputs)} inputs; the .tflite takes {len(data.x_float)}")
    feeds = []
    for i, (inp, x) in enumerate(zip(inputs, data.x_float)):
        shape = tuple(int(d) if d is not None else -1 for d in inp.shape[1:])
        per = int(np.prod(x.shape[1:], dtype=np.int64))
        if -1 in shape or int(np.prod(shape, dtype=np.int64)) != per:
            if -1 not in shape:
                raise ModelError(
                    f"{keras_path}: input {i} takes samples of shape {shape}; the .tflite's input has {per} elements"
                )
            feeds.append(x)
        else:
            feeds.append(x.reshape((x.shape[0],) + shape))
    try:
        with silenced():
            out = net.predict(feeds if len(feeds) > 1 else feeds[0], batch_size=64, verbose=0)
    except Exception as exc:
        raise ModelError(f"{keras_path}: failed on the data ({' '.join(str(exc).split())[:160]})") from None
    outs = out if isinstance(out, (list, tuple)) else [out]
    if isinstance(out, dict):
        outs = list(out.values())
    if len(outs) != n_out:
        raise ModelError(f"{keras_path}: has {len(outs)} outputs; the .tflite has {n_out}")
    n = data.count
    return [np.asarray(o, dtype=np.float64).reshape(n, -1) for o in outs]


def match_float_outputs(float_outs: list[np.ndarray], sizes: list[int]) -> list[np.ndarray]:
    """The Keras outputs in the .tflite's output order: by position where the sizes agree,
    else by size where every size is distinct (the converter may order outputs otherwise)."""
    have = [o.shape[1] for o in float_outs]
    if have == sizes or len(set(sizes)) != len(sizes) or sorted(have) != sorted(sizes):
        return float_outs
    by_size = {o.shape[1]: o for o in float_outs}
    return [by_size[k] for k in sizes]


def first_difference(
    model: CompiledModel, ours: list[list[np.ndarray]], theirs: list[list[np.ndarray]], origins: list[str]
) -> tuple[int, int, str | None]:
    """(elements that differ, elements compared, the first difference in words)."""
    bad = total = 0
    first = None
    for s, (o, r) in enumerate(zip(ours, theirs)):
        for j, (a, b) in enumerate(zip(o, r)):
            a = np.asarray(a)
            b = np.asarray(b).reshape(a.shape)
            diff = a != b
            if a.dtype.kind == "f":  # float outputs: NaN equals NaN, as validate compares
                diff &= ~(np.isnan(a) & np.isnan(b))
            total += a.size
            if diff.any():
                bad += int(diff.sum())
                if first is None:
                    where = tuple(int(i) for i in np.argwhere(diff)[0])
                    name = model.graph.tensors[model.graph.outputs[j]].name
                    first = (
                        f"sample {s} ({origins[s]}), output {j} ('{name}') element {list(where)}: "
                        f"C {a[where].item()}, int8 model {b[where].item()}"
                    )
    return bad, total, first


@dataclass
class Evaluation:
    """What evaluate_model computes (results.EvaluateResult is its printed form)."""

    tasks: list[OutputTask]
    outputs: list[dict]
    c_mismatches: int
    c_elements: int
    first_c_mismatch: str | None
    int8_runner: str
    c_runner: str
    notes: list[str] = field(default_factory=list)


def evaluate_compiled(
    data: bytes,
    model: CompiledModel,
    eval_data: EvalData,
    labels: list[str] | None,
    float_model: Path | None = None,
    board: str | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> Evaluation:
    """Run the three and score every output."""
    from edgeconv.emit.emitter import emit
    from edgeconv.progress import progress_task

    if top_k < 1:
        raise ModelError(f"--top-k must be 1 or more (got {top_k})")
    tasks = output_tasks(model, eval_data, labels)
    n = eval_data.count
    samples = [[x[i] for x in eval_data.x] for i in range(n)]
    notes: list[str] = list(eval_data.notes)
    n_out = len(model.graph.outputs)
    float_outs = None
    if float_model is not None:
        with progress_task("float model (Keras)", total=None):
            float_outs = match_float_outputs(run_float(Path(float_model), eval_data, n_out), [t.size for t in tasks])
        for j, (values, task) in enumerate(zip(float_outs, tasks)):
            if values.shape[1] != task.size:
                raise ModelError(
                    f"{float_model}: output {j} has {values.shape[1]} elements; the .tflite's has {task.size}"
                )
    emitted = emit(model)
    if board is None:
        from edgeconv.targets.hostbuild import build_and_load

        with progress_task("building the C on the host", total=None):
            host = build_and_load(model, emitted)
        c_runner = "host"
    else:
        from edgeconv.targets.emulate import build_emulated

        with progress_task(f"building the firmware for emulated {board}", total=None):
            fw = build_emulated(model, board)
        c_runner = f"emulated {fw.board.name}"
        try:
            # A few dozen samples per emulator run: progress, and no run near the emulator's time limit.
            with progress_task(f"C on emulated {board}", total=n) as advance:
                c_outs = []
                for start in range(0, n, EMULATED_BATCH):
                    c_outs.extend(fw.run(samples[start : start + EMULATED_BATCH]))
                    advance(len(samples[start : start + EMULATED_BATCH]))
        finally:
            fw.close()
    with progress_task("int8 model (TFLite Micro)", total=n) as advance:
        int8_outs, int8_runner = run_int8(data, model, samples, notes, advance)
    if board is None:
        with progress_task("C on the host", total=n) as advance:
            c_outs = []
            for s in samples:
                c_outs.append(host.run(s))
                advance()
    bad, total, first = first_difference(model, c_outs, int8_outs, eval_data.origins)
    outputs = []
    for j, task in enumerate(tasks):
        entry: dict[str, Any] = {"index": j, "name": task.name, "kind": task.kind, "elements": task.size}
        if task.kind == "classification":
            entry["classes"] = task.classes
            names = _class_names(labels, eval_data.class_names, task.classes, j)
            entry["class_names"] = names
            entry["binary"] = task.binary
        scores = {}
        for runner, raw in (("float", None), ("int8", int8_outs), ("c", c_outs)):
            if runner == "float":
                if float_outs is None:
                    scores["float"] = None
                    continue
                values = float_outs[j]
            else:
                values = dequantized(model, j, [r[j] for r in raw])
            scores[runner] = score_output(values, task, top_k)
        entry["scores"] = scores
        if task.kind == "classification":
            # which samples the C gets wrong (the first MISCLASSIFIED_LISTED, in data order)
            pred = predictions(dequantized(model, j, [r[j] for r in c_outs]), task)
            wrong = np.flatnonzero(pred != task.labels)
            entry["misclassified"] = [
                {"sample": eval_data.origins[i], "true": int(task.labels[i]), "predicted": int(pred[i])}
                for i in wrong[:MISCLASSIFIED_LISTED]
            ]
        if task.kind == "classification" and float_outs is not None:
            agree = predictions(float_outs[j], task) == predictions(
                dequantized(model, j, [r[j] for r in int8_outs]), task
            )
            entry["float_int8_agreement"] = float(np.mean(agree))
        outputs.append(entry)
    if all(t.kind == "unscored" for t in tasks):
        notes.append("no output has labels or targets: only C == int8 was checked")
    return Evaluation(tasks, outputs, bad, total, first, int8_runner, c_runner, notes)


def _class_names(labels: list[str] | None, given: list[str] | None, classes: int | None, j: int) -> list[str] | None:
    """Class names for output j: the model's metadata (edgeconv/frontend/labels.py) first, then the
    data's, when they count the output's classes."""
    for names in (labels, given):
        if names and classes is not None and len(names) == classes and j == 0:
            # names that only repeat the index ("0".."9") add nothing to the index itself
            return None if [str(n) for n in names] == [str(i) for i in range(classes)] else list(names)
    return None


def evaluate_model(
    model: Any,
    data: str | Path,
    float_model: str | Path | None = None,
    board: str | None = None,
    top_k: int = DEFAULT_TOP_K,
    name: str | None = None,
    weights: str = "auto",
    report: str | Path | None = None,
    force: bool = False,
):
    """Accuracy of the float model (optional), the int8 model (TFLite Micro) and the generated C
    (host, or `board`'s emulated core) on labelled data: a results.EvaluateResult. `model` is a
    .tflite path or its bytes (see modelsource.py). With `report` (.html or .png) the report file
    is written too (never over a file edgeconv did not write, unless `force`). The function
    `edgeconv report --data` calls (confusion_pictures gives its pictures)."""
    from edgeconv.frontend.boards import load_board
    from edgeconv.frontend.labels import read_labels
    from edgeconv.lowering.modelsource import compile_model, model_label, protected_paths
    from edgeconv.results import EvaluateResult

    if board == "host":
        board = None
    if top_k < 1:
        raise ModelError(f"--top-k must be 1 or more (got {top_k})")
    raw = _read_model(model)
    protected = (
        protected_paths(model)
        + ((Path(data),) if Path(data).is_file() else ())
        + ((Path(float_model),) if float_model is not None else ())
    )
    if report is not None:
        check_report_path(report, force=force, protected=protected)
    if float_model is not None and not Path(float_model).is_file():
        raise ModelError(
            f"{float_model}: no such float model (a .keras file)"
            if not Path(float_model).exists()
            else f"{float_model}: is a folder, not a .keras file"
        )
    compiled = compile_model(model, name=name, weights=weights, board=load_board(board) if board is not None else None)
    labels = read_labels(raw)
    eval_data = load_eval_data(data, compiled)
    ev = evaluate_compiled(
        raw, compiled, eval_data, labels, Path(float_model) if float_model is not None else None, board, top_k
    )
    headline = next((o for o in ev.outputs if o["kind"] == "classification"), None)

    def top1(runner: str) -> float | None:
        if headline is None or headline["scores"][runner] is None:
            return None
        return headline["scores"][runner]["top1"]

    result = EvaluateResult(
        model=model_label(model, name),
        data=eval_data.source,
        samples=eval_data.count,
        float_model=str(float_model) if float_model is not None else None,
        board=board,
        top_k=top_k,
        int8_runner=ev.int8_runner,
        c_runner=ev.c_runner,
        float_accuracy=top1("float"),
        int8_accuracy=top1("int8"),
        c_accuracy=top1("c"),
        c_equals_int8=ev.c_mismatches == 0,
        c_mismatches=ev.c_mismatches,
        c_elements_compared=ev.c_elements,
        first_c_mismatch=ev.first_c_mismatch,
        outputs=ev.outputs,
        notes=ev.notes,
        report=None,
    )
    if report is not None:
        result.report = str(write_report(result, report, force=force, protected=protected))
    return result


def _read_model(model: Any) -> bytes:
    from edgeconv.lowering.modelsource import is_bytes

    if is_bytes(model):
        return bytes(model)
    # Same two refusals as checking/validation.py's validate_file; kept apart: two one-line messages, each module
    # reads the model its own way
    path = Path(model)
    if path.is_dir():
        raise ModelError(f"{path}: is a folder, not a .tflite file")
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc.strerror or 'input/output error'})") from None


# --- text and pictures ---------------------------------------------------------------------------


def confusion_lines(matrix: list[list[int]], names: list[str] | None, width: int = 80) -> list[str]:
    """The confusion matrix as text within `width` columns: rows true classes (index and name),
    columns predicted classes (index). Too many classes for the width: the most frequent
    confusions instead."""
    k = len(matrix)
    cell = max(3, len(str(max((max(r) for r in matrix), default=0))) + 1, len(str(k - 1)) + 1)
    label_w = min(14, max(len(f"{i} {names[i]}" if names else str(i)) for i in range(k)) + 1) if k else 4
    label_w = max(label_w, len("true\\pred") + 1)
    if label_w + k * cell <= width:
        lines = ["true\\pred".ljust(label_w) + "".join(str(c).rjust(cell) for c in range(k))]
        for i, row in enumerate(matrix):
            label = f"{i} {names[i]}" if names else str(i)
            label = label[: label_w - 1].ljust(label_w)
            lines.append(label + "".join((str(v) if v else ".").rjust(cell) for v in row))
        return lines
    pairs = sorted(
        ((matrix[i][j], i, j) for i in range(k) for j in range(k) if i != j and matrix[i][j]),
        key=lambda p: (-p[0], p[1], p[2]),
    )[:10]
    if not pairs:
        return [f"({k} classes: too many for {width} columns; no sample was confused)"]
    lines = [f"({k} classes: too many for {width} columns; the most frequent confusions)"]
    for count, i, j in pairs:
        a = f"{i} {names[i]}" if names else str(i)
        b = f"{j} {names[j]}" if names else str(j)
        lines.append(f"{count:>6} x  true {a[:28]}  predicted {b[:28]}")
    return lines


def summary_lines(result: Any, width: int = 80) -> list[str]:
    """The command's text output: what ran, the scores per output, C == int8."""
    out: list[str] = []
    runners = [("float", "float (Keras)"), ("int8", f"int8 ({result.int8_runner})"), ("c", f"C ({result.c_runner})")]
    out.append(f"{Path(result.model).name} on {Path(result.data).name}: {result.samples:,} samples")
    for o in result.outputs:
        scores = o["scores"]
        present = [(k, title) for k, title in runners if scores.get(k) is not None]
        head = f"output {o['index']} '{o['name']}'"
        if o["kind"] == "unscored":
            out.extend(textwrap.wrap(f"{head}: no labels or targets given (not scored)", width, subsequent_indent="  "))
            continue
        if o["kind"] == "classification":
            kind = "binary (sigmoid >= 0.5)" if o.get("binary") else f"{o['classes']} classes"
            out.extend(textwrap.wrap(f"{head}: classification, {kind}", width, subsequent_indent="  "))
            k = result.top_k
            has_k = any(scores[r]["top_k"] is not None for r, _ in present)
            out.append(
                f"  {'':<26}{'top-1':>9}" + (f"{f'top-{k}':>9}" if has_k else "") + f"{'balanced':>10}{'correct':>12}"
            )
            for r, title in present:
                s = scores[r]
                topk = (f"{s['top_k']:>9.4f}" if s["top_k"] is not None else f"{'':>9}") if has_k else ""
                out.append(
                    f"  {title[:26]:<26}{s['top1']:>9.4f}{topk}{s['balanced']:>10.4f}"
                    f"{s['correct']:>8,}/{result.samples:<,}"
                )
            if "float_int8_agreement" in o:
                out.append(f"  float and int8 predict the same class on {o['float_int8_agreement']:.4f} of the samples")
            names = o.get("class_names")
            best = "c"
            recall = scores[best]["recall"]
            parts = []
            for i, r in enumerate(recall):
                label = names[i] if names else str(i)
                parts.append(f"{label} {'-' if r is None else f'{r:.2f}'}")
            out.extend(_wrapped("  recall per class (C): ", parts, width))
            if o.get("misclassified"):
                wrong = [
                    f"{m['sample']} {names[m['true']] if names else m['true']}->"
                    f"{names[m['predicted']] if names else m['predicted']}"
                    for m in o["misclassified"][:8]
                ]
                more = result.samples - scores["c"]["correct"] > len(wrong)
                out.extend(_wrapped("  misclassified (C): ", wrong + (["..."] if more else []), width))
            out.append("  confusion matrix (C; rows: true class, columns: predicted):")
            out.extend("    " + line for line in confusion_lines(scores[best]["confusion"], names, width - 4))
        else:
            what = "reconstruction of the input" if o["kind"] == "reconstruction" else "regression"
            out.extend(
                textwrap.wrap(f"{head}: {what} ({o['elements']} values, real units)", width, subsequent_indent="  ")
            )
            out.append(f"  {'':<26}{'RMSE':>11}{'mean |e|':>11}{'max |e|':>11}{'cosine':>9}")
            for r, title in present:
                s = scores[r]
                out.append(
                    f"  {title[:26]:<26}{s['rmse']:>11.4g}{s['mean_abs_error']:>11.4g}"
                    f"{s['max_abs_error']:>11.4g}{s['cosine']:>9.4f}"
                )
            for r, title in present:
                s = scores[r]
                if s.get("mse_by_label"):
                    parts = [f"label {k} {v:.4g}" for k, v in s["mse_by_label"].items()]
                    if s.get("anomaly_auc") is not None:
                        parts.append(f"anomaly ROC AUC {s['anomaly_auc']:.4f}")
                    out.extend(_wrapped(f"  {title.split(' ')[0]}: per-sample MSE by ", parts, width))
    if result.c_equals_int8:
        out.append(f"C equals the int8 model exactly: all {result.c_elements_compared:,} output elements")
    else:
        out.append(
            f"C DIFFERS from the int8 model on {result.c_mismatches:,} of {result.c_elements_compared:,} "
            f"output elements; first: {result.first_c_mismatch}"
        )
    for note in result.notes:
        out.extend(textwrap.wrap(f"note: {note}", width, subsequent_indent="  ", break_on_hyphens=False))
    return out


def _wrapped(prefix: str, parts: list[str], width: int) -> list[str]:
    lines, line = [], prefix
    indent = " " * 4
    for i, p in enumerate(parts):
        piece = p + (", " if i < len(parts) - 1 else "")
        if len(line) + len(piece.rstrip()) > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines


# --- --report ------------------------------------------------------------------------------------

REPORT_SUFFIXES = (".html", ".htm", ".png")
RUNNER_TITLES = {"float": "float (Keras)", "int8": "int8", "c": "C"}


def report_job(path: Path) -> str:
    """The outputs.py job of a --report file: one per file name, so that two reports written
    into one folder are two jobs (publishing one never removes the other as stale)."""
    return f"evaluate:{path.name}"


def check_report_path(path: str | Path, force: bool = False, protected: tuple = ()) -> Path:
    """Refuse now, before minutes of work, a --report path that cannot be written."""
    from edgeconv.outputs import check_writable

    path = Path(path)
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise ModelError(
            f"--report {path}: must end in .html (tables and confusion matrices) or .png (the confusion matrix)"
        )
    check_writable(path.parent, report_job(path), [path.name], force=force, protected=protected)
    from edgeconv.reports.pictures import require_matplotlib

    require_matplotlib()  # a missing matplotlib is said now, not after the evaluation
    return path


def confusion_pictures(result: Any) -> dict[int, list[Any]]:
    """Per classification output, its confusion matrices as pictures.Picture: the float model's
    (if any) and the C's (which is the int8 model's when the two are equal; otherwise the int8
    model's as well)."""
    from edgeconv.reports.pictures import confusion_matrix_figure, picture

    runners = [r for r in ("float", "int8", "c") if r != "int8" or not result.c_equals_int8]
    pictures: dict[int, list[Any]] = {}
    for o in result.outputs:
        if o["kind"] != "classification":
            continue
        for runner in runners:
            s = o["scores"].get(runner)
            if s is None:
                continue
            who = "C = int8" if runner == "c" and result.c_equals_int8 else RUNNER_TITLES[runner]
            title = f"{who}: output {o['index']} '{o['name'][:30]}', top-1 {s['top1']:.4f}"
            fig = confusion_matrix_figure(s["confusion"], o.get("class_names"), title)
            pictures.setdefault(o["index"], []).append(
                picture(
                    f"confusion_output{o['index']}_{runner}.png",
                    f"Confusion matrix of {who} on output {o['index']} (rows: true class, columns: predicted; "
                    "shade: share of the row)",
                    fig,
                )
            )
    return pictures


def report_bytes(result: Any, path: Path) -> bytes:
    """The --report file: a self-contained HTML page (pictures embedded) or one PNG."""
    from edgeconv.version import __version__

    pictures = confusion_pictures(result)
    if path.suffix.lower() == ".png":
        first = next(iter(pictures.values()), None)
        if not first:
            raise ModelError(
                f"--report {path}: a .png report is a confusion matrix, and no output of this model "
                "was scored as a classification: give a .html report"
            )
        return first[-1].png  # the C's
    import jinja2

    runners = [
        ("float", "float (Keras)", "float"),
        ("int8", f"int8 ({result.int8_runner})", "int8"),
        ("c", f"C ({result.c_runner})", "C"),
    ]
    outputs = []
    for o in result.outputs:
        rows = [
            {"title": title, "short": short, "s": o["scores"][k]}
            for k, title, short in runners
            if o["scores"].get(k) is not None
        ]
        entry = {
            "index": o["index"],
            "name": o["name"],
            "kind": o["kind"],
            "rows": rows,
            "pictures": [],
            "has_k": any(row["s"].get("top_k") is not None for row in rows),
            "has_auc": any(row["s"].get("anomaly_auc") is not None for row in rows),
        }
        if o["kind"] == "classification":
            entry["title"] = "classification, " + (
                "binary (sigmoid >= 0.5)" if o.get("binary") else f"{o['classes']} classes"
            )
            names = o.get("class_names") or [str(i) for i in range(o["classes"])]
            entry["class_rows"] = [
                {"name": f"{i} {n}" if o.get("class_names") else n, "recall": [row["s"]["recall"][i] for row in rows]}
                for i, n in enumerate(names)
            ]
            entry["pictures"] = pictures.get(o["index"], [])
        elif o["kind"] == "unscored":
            entry["title"] = "not scored"
        else:
            entry["title"] = (
                "reconstruction of the input" if o["kind"] == "reconstruction" else "regression"
            ) + f", {o['elements']} values per sample (real units)"
        outputs.append(entry)
    # Like emit/packaging.py's environment, but autoescaped for HTML and in templates/evaluate
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("edgeconv", "templates/evaluate"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("evaluate.html.j2").render(r=result, outputs=outputs, version=__version__).encode("utf-8")


def write_report(result: Any, path: str | Path, force: bool = False, protected: tuple = ()) -> Path:
    """Publish the --report file (outputs.py: never over a file edgeconv did not write)."""
    from edgeconv.outputs import FolderWrite, publish

    path = Path(path)
    content = report_bytes(result, path)
    publish([FolderWrite(path.parent, report_job(path), {path.name: content})], force=force, protected=protected)
    return path
