"""edgeconv: compile int8 TFLite CNNs into dependency-free, bit-exact C99.

The Python API mirrors the command line: one function per command, the same options, and a
typed result whose to_dict() is exactly what the command prints with --json.

    edgeconv train     train(arch, data=None, out="model.keras", epochs=20, ...)  -> results.TrainReport
    edgeconv quantize  quantize(model, data=None, out=None, calib=200, ...)       -> training.quantizing.QuantizeReport
    edgeconv compile   compile(model, out_dir=None, name=None, force=False, weights="auto")
                                                                               -> results.CompileResult
                       compile([a, b], out_dir, name=[...], arena="shared", ...)  -> bundle.BundleResult
                       compile(model, out_dir, format="cmake", package_name=None) -> packaging.PackageResult
    edgeconv inspect   inspect(model, board=None, weights="auto", name=None)      -> results.InspectResult
    edgeconv validate  validate(model, samples=20, seed=0, inputs=None, board=None, weights="auto", name=None)
                                                                               -> validation.ValidationReport
    edgeconv build     build(model, board, out_dir, name=None, force=False, weights="auto")
                                                                               -> firmware_common.FirmwareReport
    edgeconv demo      demo(out_dir="edgeconv-demo", seed=0, force=False)     -> results.DemoResult
    edgeconv evaluate  evaluate(model, data, float_model=None, board=None, top_k=5, report=None, ...)
                                                                               -> results.EvaluateResult
    edgeconv report    report(model, out="report.html", board=None, float_model=None, data=None, ...)
                                                                               -> results.ReportResult
    edgeconv advise    advise(model, board, layers=4, ...) | advise(board=B, arch=A, data=D, trials=20, ...)
                                                                               -> results.AdviseResult

`model` is a .tflite path or the file's bytes (compile, of one model or several, inspect,
validate, build); bytes take their name from `name` ("model" by default), and results
name them by it. Every problem with
the input (a bad model, a missing file, a folder that cannot be written, a file in the way)
raises edgeconv.ModelError with a one-line message, the line the command prints before exiting
with status 2; nothing is half-written. Heavy imports (TensorFlow) happen only when a function
that needs them is called.

    import edgeconv
    edgeconv.train("tinyconv", "digits", "digits.keras", epochs=30)
    report = edgeconv.quantize("digits.keras", out="digits.tflite")
    model = edgeconv.compile("digits.tflite", out_dir="digits_c")
    print(edgeconv.validate("digits.tflite", samples=200).bit_exact, model.ram_bytes)
    fw = edgeconv.build(open("digits.tflite", "rb").read(), "cortex-m4", "fw", name="digits")
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from edgeconv.frontend.ir import ModelError
from edgeconv.progress import (
    show_progress,
)  # `with edgeconv.show_progress(): ...`: bars on a terminal (docs/progress.md)
from edgeconv.version import __version__

if TYPE_CHECKING:
    from edgeconv.checking.validation import ValidationReport
    from edgeconv.emit.bundle import BundleResult
    from edgeconv.emit.packaging import PackageResult
    from edgeconv.lowering.modelsource import ModelInput
    from edgeconv.results import (
        AdviseResult,
        CompileResult,
        DemoResult,
        EvaluateResult,
        InspectResult,
        ReportResult,
        TrainReport,
    )
    from edgeconv.targets.firmware_common import FirmwareReport
    from edgeconv.training.quantizing import QuantizeReport

__all__ = [
    "ModelError",
    "advise",
    "build",
    "compile",
    "demo",
    "evaluate",
    "inspect",
    "quantize",
    "report",
    "show_progress",
    "train",
    "validate",
    "__version__",
]


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """An OSError about a path the caller gave (permissions, space, not a folder) becomes a
    ModelError with the sentence the command line prints."""
    try:
        yield
    except OSError as exc:
        from edgeconv.outputs import describe_os_error

        raise ModelError(describe_os_error(exc)) from exc


# The same parameters as training/train.py's train (plus force): the API spells them out so help() shows them
def train(
    arch: str,
    data: str | Path | None = None,
    out: str | Path = "model.keras",
    epochs: int = 20,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    validation_split: float = 0.1,
    seed: int = 0,
    width: float | None = None,
    depth: int | None = None,
    force: bool = False,
    verbose: int | str = 0,
) -> TrainReport:
    """`edgeconv train`: fit a zoo architecture (edgeconv.training.zoo) on data (digits, signals, a .npz
    or a folder of class folders; the architecture's own set by default) and write out (.keras)
    with its history and metadata beside it. `verbose`: Keras' own progress on stdout (0, the
    default: none; "auto", 1 or 2 as Keras' fit). edgeconv's bar per epoch (stderr, terminals
    only): `with edgeconv.show_progress(): train(...)`."""
    from edgeconv.results import TrainReport
    from edgeconv.training.train import train as train_model

    with _user_errors():
        # The same arguments as cli.py's train command passes here: the CLI is the API, option for argument
        result = train_model(
            arch,
            data,
            out,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            validation_split=validation_split,
            seed=seed,
            width=width,
            depth=depth,
            force=force,
            verbose=verbose,
        )
    return TrainReport(
        model=str(result.model_path),
        history=str(result.history_path),
        metadata=str(result.metadata_path),
        float_accuracy=result.float_accuracy,
        arch=arch,
        data=result.metadata["data"],
    )


# Same parameters as training/quantizing.py's quantize_model, which this public API forwards to; kept apart: the
# public signature is the API's, the other is the implementation's
def quantize(
    model: str | Path,
    data: str | Path | None = None,
    out: str | Path | None = None,
    calib: int = 200,
    seed: int | None = None,
    io_type: str | None = None,
    force: bool = False,
    mode: str = "int8",
) -> QuantizeReport:
    """`edgeconv quantize`: full-integer PTQ of a .keras model; returns a QuantizeReport
    (accuracies, per-layer SNR). `mode`: "int8" (int8 activations) or "16x8" (int16 activations,
    int8 weights: more precision for about twice the activation RAM); `io_type`: the model's
    edges, the mode's integer type (int8 or int16) by default, or "float32"."""
    from edgeconv.training.quantizing import check_mode, quantize_model

    with _user_errors():
        io_type = check_mode(mode, io_type)
        return quantize_model(
            model, data=data, out=out, calib=calib, seed=seed, io_type=io_type, force=force, mode=mode
        )


def compile(
    model: ModelInput | list,
    out_dir: str | Path | None = None,
    name: str | list | None = None,
    force: bool = False,
    weights: str = "auto",
    format: str = "plain",
    package_name: str | None = None,
    **bundle_options,
) -> CompileResult | BundleResult | PackageResult:
    """`edgeconv compile`: compile a .tflite (path or bytes) into C; writes the files to out_dir
    when given (files there that edgeconv did not write are refused unless force). `weights`:
    int8, int16 or auto (see `edgeconv compile --help`). The result's `compiled` is the
    CompiledModel (graph, steps, plan); `files` are written only with out_dir.
    Several models (a list of paths or bytes; `name` a list, one per model) share one runtime copy and
    give a bundle.BundleResult; so do the options runtime=DIR, arena="static"|"shared"|"user",
    io_outside_arena=True and float_helpers=True (see edgeconv.emit.bundle.compile_models).
    `format` cmake|zephyr|arduino|platformio (`--format`) writes a package named package_name
    into out_dir and gives a packaging.PackageResult (see edgeconv.emit.packaging.compile_package)."""
    if format != "plain" or package_name is not None:
        from edgeconv.emit.packaging import compile_package

        if format == "plain":
            raise ModelError("package_name names a package: give format cmake, zephyr, arduino or platformio too")
        if out_dir is None or "runtime" in bundle_options:
            raise ModelError(
                f"a {format} package is written into out_dir and holds its own runtime copy (no runtime folder)"
            )
        models = list(model) if isinstance(model, (list, tuple)) else [model]
        names = list(name) if isinstance(name, (list, tuple)) else ([name] if name is not None else None)
        with _user_errors():
            return compile_package(
                models,
                out_dir,
                format,
                names=names,
                package_name=package_name,
                force=force,
                weights=weights,
                **bundle_options,
            )
    if isinstance(model, (list, tuple)) or bundle_options:
        from edgeconv.emit.bundle import compile_models

        models = list(model) if isinstance(model, (list, tuple)) else [model]
        names = list(name) if isinstance(name, (list, tuple)) else ([name] if name is not None else None)
        with _user_errors():
            return compile_models(models, out_dir, names=names, force=force, weights=weights, **bundle_options)
    from edgeconv.emit.emitter import emit
    from edgeconv.frontend.labels import read_labels
    from edgeconv.lowering.modelsource import compile_model, model_bytes, model_label, protected_paths
    from edgeconv.outputs import publish, text_files, tree_writes
    from edgeconv.results import CompileResult, ModelFigures

    with _user_errors():
        compiled = compile_model(model, name=name, weights=weights)
        # class names the model carries (edgeconv quantize writes them): <NAME>_NUM_LABELS, <name>_labels
        emitted = emit(compiled, labels=read_labels(model_bytes(model)))
        if out_dir is not None:
            publish(
                tree_writes(Path(out_dir), f"compile:{compiled.name}", text_files(emitted.files)),
                force=force,
                protected=protected_paths(model),
            )
    return CompileResult(
        model=model_label(model, name),
        name=compiled.name,
        output_dir=str(out_dir) if out_dir is not None else None,
        files=sorted(emitted.files),
        kernels=len(compiled.steps),
        compiled=compiled,
        **ModelFigures.of(compiled, emitted),
    )


def inspect(
    model: ModelInput, board: str | None = None, weights: str = "auto", name: str | None = None
) -> InspectResult:
    """`edgeconv inspect`: one row per layer (op, shapes, parameters, MACs, activation bytes,
    arena offset, weights form) and the model's totals; with a board, the instructions per
    layer and per inference counted on its emulated core (one random input, seed 0)."""
    from edgeconv.emit.emitter import emit
    from edgeconv.frontend.boards import load_board
    from edgeconv.lowering.modelsource import compile_model, model_label
    from edgeconv.reports.layers import io_tensors, layer_rows
    from edgeconv.results import InspectResult, ModelFigures

    instructions = fit = None
    with _user_errors():
        compiled = compile_model(
            model, name=name, weights=weights, board=load_board(board) if board is not None else None
        )
        emitted = emit(compiled)
        rows = layer_rows(compiled)
        if board is not None:
            from edgeconv.checking.validation import random_inputs
            from edgeconv.targets.emulate import build_counted, count_instructions
            from edgeconv.targets.firmware import board_fit

            # The part's fit as `build` links it; then the instructions, counted on unicorn.
            fit = board_fit(compiled, emitted, load_board(board)).to_dict()
            fw = build_counted(compiled, board)
            try:
                from edgeconv.progress import progress_task

                with progress_task(f"Counting instructions on {board}"):
                    instructions, per_step = count_instructions(fw, random_inputs(compiled, 1, 0)[0])
            finally:
                fw.close()
            by_op = {compiled.steps[i].op.index: n for i, n in per_step.items()}
            for r in rows:
                r["instructions"] = by_op.get(r["index"], 0)
    model_inputs, model_outputs = io_tensors(compiled)
    return InspectResult(
        model=model_label(model, name),
        layers=rows,
        board=board,
        instructions=instructions,
        fit=fit,
        inputs=model_inputs,
        outputs=model_outputs,
        **ModelFigures.of(compiled, emitted),
    )


def validate(
    model: ModelInput,
    samples: int = 20,
    seed: int = 0,
    inputs: str | Path | None = None,
    board: str | None = None,
    weights: str = "auto",
    name: str | None = None,
    progress: Callable | None = None,
) -> ValidationReport:
    """`edgeconv validate`: build the C (on the host, or with `board` as firmware on its emulated
    core) and compare every output element with TFLite Micro and TFLite's reference, on
    `samples` random inputs (seeded) plus those of `inputs` (.npy/.npz) or, for a path without
    it, the samples shipped beside the model. `name`: the name of a model given as bytes (the
    report's `model`; a path's report names its file). `progress` wraps the sample loop (e.g.
    rich's track)."""
    import functools

    from edgeconv.checking.validation import load_inputs_file, validate_bytes, validate_file
    from edgeconv.lowering.modelsource import is_bytes, model_name

    with _user_errors():
        if not is_bytes(model):
            return validate_file(
                model, samples=samples, seed=seed, inputs_file=inputs, progress=progress, board=board, weights=weights
            )
        extra = functools.partial(load_inputs_file, Path(inputs)) if inputs is not None else None
        return validate_bytes(
            bytes(model),
            model_name(model, name),
            samples=samples,
            seed=seed,
            extra_inputs=extra,
            progress=progress,
            board=board,
            weights=weights,
        )


# Same parameters as targets/firmware.py's build_firmware, which this public API forwards to; kept apart: the
# public signature is the API's, the other is the implementation's
def build(
    model: ModelInput,
    board: str,
    out_dir: str | Path,
    name: str | None = None,
    force: bool = False,
    weights: str = "auto",
) -> FirmwareReport:
    """`edgeconv build`: cross-compile the model into firmware for a board profile (a name in
    boards/ or a .toml path); writes the sources, firmware.elf and its map into out_dir and
    reports flash (code vs weights), RAM (arena, stack, data) and the stack's worst path."""
    from edgeconv.targets.firmware import build_firmware

    with _user_errors():
        return build_firmware(model, board, out_dir, name=name, force=force, weights=weights)


def demo(
    out_dir: str | Path = "edgeconv-demo", seed: int = 0, force: bool = False, say: Callable[[str], None] | None = None
) -> DemoResult:
    """`edgeconv demo`: train, quantize, compile and verify a digits CNN (a minute or two).
    `say` receives the step lines ("[1/5] training ..."; default: none, the API is silent; the
    command passes stderr). Bars: `with edgeconv.show_progress(): ...`."""
    from edgeconv.results import DemoResult
    from edgeconv.training.demo import run_demo

    with _user_errors():
        summary = run_demo(out_dir, seed=seed, force=force, say=say if say is not None else (lambda line: None))
    return DemoResult(**summary)


def report(
    model: ModelInput,
    out: str | Path | None = "report.html",
    board: str | None = None,
    float_model: str | Path | None = None,
    data: str | Path | None = None,
    weights: str = "auto",
    name: str | None = None,
    force: bool = False,
) -> ReportResult:
    """`edgeconv report`: inspect's figures (the same InspectResult, `.inspect`), the arena plan
    as a picture, cost per layer, flash and RAM against the board, the first convolutions'
    filters and one sample's feature maps; with `float_model` (.keras) the quantization error
    per layer (SNR); with `data` its samples. Writes out (.html, self-contained), the same as
    Markdown and JSON beside it and the pictures in <stem>_files/ (out=None: nothing written).
    Needs matplotlib (the `report` extra); `float_model` needs TensorFlow (the `train` extra)."""
    from edgeconv.frontend.boards import load_board
    from edgeconv.lowering.modelsource import compile_model
    from edgeconv.reports.htmlreport import check_output, make_report

    if out is not None:
        with _user_errors():
            check_output(out, model, float_model, data, force=force)
    info = inspect(model, board=board, weights=weights, name=name)
    with _user_errors():
        compiled = compile_model(
            model, name=name, weights=weights, board=load_board(board) if board is not None else None
        )
        return make_report(
            model,
            compiled,
            info.to_dict(),
            out,
            board=board,
            float_model=float_model,
            data=str(data) if data is not None else None,
            force=force,
            label=compiled.name,
            weights=weights,
        )


def advise(
    model: ModelInput | None = None,
    board: str = "",
    layers: int = 4,
    whole_model: bool = True,
    instructions: bool = True,
    seed: int = 0,
    name: str | None = None,
    arch: str | None = None,
    data: str | Path | None = None,
    trials: int = 20,
    epochs: int = 10,
    study_db: str | None = None,
    out: str | Path | None = None,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> AdviseResult:
    """`edgeconv advise`: with a model (.tflite path or bytes), whether it fits `board` and what
    limits it (the RAM peak's step and live tensors, the top flash and instruction layers), and
    what-ifs measured by recompiling variants: `layers` layers (peak first) each with stride 2,
    half the filters, a smaller kernel or depthwise-separable, and (`whole_model`) the whole
    model with half the filters and/or half the input resolution (edgeconv.advise). With `arch`
    and `data` instead: an Optuna NSGA-II sweep of the zoo's knobs, `trials` trials of `epochs`
    epochs, its study in `study_db` (a database URL) or an SQLite file beside `out` (the figure,
    .png), resumed when it exists (edgeconv.reports.sweep). `progress(what, done, total)` is told each step."""
    from edgeconv.results import AdviseResult

    if not board:
        raise ModelError("advise needs a board (--board)")
    with _user_errors():
        if arch is not None or data is not None:
            if model is not None:
                raise ModelError("give a model, or --arch and --data for a sweep, not both")
            if arch is None or data is None:
                raise ModelError("a sweep needs both --arch and --data")
            from edgeconv.reports.sweep import run_sweep

            summary = run_sweep(
                arch,
                data,
                board,
                trials=trials,
                epochs=epochs,
                seed=seed,
                study_db=study_db,
                out=out,
                force=force,
                progress=progress,
            )
            from edgeconv.frontend.boards import load_board

            part = load_board(board)
            return AdviseResult(model=None, board=part.name, part=part.part, sweep=summary)
        if model is None:
            raise ModelError("advise needs a model, or --arch and --data for a sweep")
        from edgeconv.lowering.modelsource import compile_model, is_bytes, model_label, model_name
        from edgeconv.reports.advise import advise_model

        compile_model(model, name=name)  # the one-line refusals of a missing or bad model, as compile gives them
        data_bytes = bytes(model) if is_bytes(model) else Path(model).read_bytes()
        label = model_name(model, name) or Path(model).stem
        summary = advise_model(
            data_bytes,
            label,
            board,
            layers=layers,
            whole_model=whole_model,
            instructions=instructions,
            seed=seed,
            progress=progress,
        )
        return AdviseResult(model=model_label(model, name), **summary)


def evaluate(
    model: ModelInput,
    data: str | Path,
    float_model: str | Path | None = None,
    board: str | None = None,
    top_k: int = 5,
    report: str | Path | None = None,
    force: bool = False,
    weights: str = "auto",
    name: str | None = None,
) -> EvaluateResult:
    """`edgeconv evaluate`: accuracy on labelled `data` (.npz with x and y, a folder of
    in_XX.npy samples with INDEX.txt labels, or of class subfolders of images) of the float
    model (`float_model`, a .keras file; optional), the int8 model (TFLite Micro) and the
    generated C (host, or `board`'s emulated core), per output: top-1/top-k, recall per class and
    the confusion matrix; RMSE, max error and cosine similarity for other outputs. The result's
    c_mismatches counts the output elements where the C differs from the int8 model (0: equal).
    `report` (.html or .png) writes the report file too (see edgeconv.evaluate)."""
    from edgeconv.reports.evaluate import evaluate_model

    with _user_errors():
        return evaluate_model(
            model,
            data,
            float_model=float_model,
            board=board,
            top_k=top_k,
            name=name,
            weights=weights,
            report=report,
            force=force,
        )
