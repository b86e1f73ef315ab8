"""Command line: edgeconv demo | train | quantize | compile | build | inspect | validate.

Exit status: 0 success; 1 validation ran but the C is not bit-exact; 2 bad input (a one-line
message naming the problem, no traceback, nothing half-written); 130/143 interrupted by
SIGINT/SIGTERM (one line; the outputs were left as they were). Commands that write go through
outputs.publish, so a user's file is never overwritten without --force. EDGECONV_DEBUG=1 shows
the traceback of an unexpected error.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import click

from edgeconv.frontend.ir import ModelError
from edgeconv.quiet import quiet_library_warnings, quiet_tensorflow_logs

quiet_tensorflow_logs()
quiet_library_warnings()

EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2


class _Group(click.Group):
    """Turns every failure into one line on stderr and exit status 2, and SIGINT/SIGTERM into
    one line and exit status 130/143 (after every `finally` has cleaned up)."""

    def main(self, *args, **kwargs):  # type: ignore[override]
        from edgeconv.outputs import Interrupted, describe_os_error, install_signal_handlers
        from edgeconv.progress import show_progress

        kwargs.setdefault("standalone_mode", False)
        install_signal_handlers()
        try:
            # progress bars (edgeconv/progress.py: stderr, terminals only) for every command but under --json
            with show_progress(not _json_requested(args[0] if args else kwargs.get("args"))):
                rv = super().main(*args, **kwargs)
        except Interrupted as exc:
            click.echo(
                f"edgeconv: interrupted by {signal.Signals(exc.signum).name}; {_interrupted_outputs(exc)}", err=True
            )
            sys.exit(128 + exc.signum)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"edgeconv: error: {exc.format_message()}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.exceptions.Abort:
            click.echo("edgeconv: aborted", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except ModelError as exc:
            click.echo(f"edgeconv: error: {_one_line(str(exc))}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except OSError as exc:  # a path the user gave: permissions, space, not a folder...
            if os.environ.get("EDGECONV_DEBUG"):
                raise
            click.echo(f"edgeconv: error: {_one_line(describe_os_error(exc))}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except Exception as exc:
            if os.environ.get("EDGECONV_DEBUG"):
                raise
            what = _one_line(str(exc)) or "an unexpected failure"
            click.echo(
                f"edgeconv: internal error: {what}; please report it (EDGECONV_DEBUG=1 shows the traceback)", err=True
            )
            sys.exit(EXIT_BAD_INPUT)
        sys.exit(rv or 0)


def _json_requested(args) -> bool:
    """Whether the command line asks for --json (every command's flag; options before `--`)."""
    argv = list(sys.argv[1:] if args is None else args)
    return "--json" in (argv[: argv.index("--")] if "--" in argv else argv)


# The outputs the running command writes, for the message of an interrupted run.
_WRITING: list[Path] = []


def _writes(*paths: Path) -> None:
    _WRITING[:] = [Path(p) for p in paths]


def _interrupted_outputs(exc) -> str:
    if exc.committed:
        return f"{', '.join(map(str, exc.committed))} had been fully written"
    if not _WRITING:
        return "nothing was written"
    return f"{', '.join(map(str, _WRITING))} was left as it was"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 600 else line[:597] + "..."


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeconv")
def main() -> None:
    """Compile int8 TFLite CNNs into dependency-free, bit-exact C99."""


def _model_arg():
    return click.argument("model", type=click.Path(path_type=Path))


_FORCE_HELP = "Overwrite files in the way that edgeconv did not write (never the input model)."
# packaging.FORMATS, spelled here so the command line starts without importing the compiler (a test
# checks the two agree).
PACKAGE_FORMATS = ("plain", "cmake", "zephyr", "arduino", "platformio")


def _weights_option():
    return click.option(
        "--weights",
        default="auto",
        show_default=True,
        type=click.Choice(["int8", "int16", "auto"]),
        help="Weights of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: int8 (smallest), int16 (pre-widened: "
        "faster, twice the flash), or auto: int16 per layer, most instructions saved per flash byte first, "
        "within the board's flash (without a board: only where it saves >= 2 instructions per byte).",
    )


@main.command("compile")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write into (created if missing); other files in it are left alone.",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    help="C identifier naming the files and prefixing every symbol (default: the model file's stem); "
    "with several models, one --name per model, in order.",
)
@click.option(
    "--runtime",
    "runtime_dir",
    default=None,
    type=click.Path(path_type=Path),
    help="Folder for the runtime files (ec_*.h/.c), e.g. one an earlier compile wrote: the files it lacks "
    "are added, one that differs is refused (default: the -o folder).",
)
@click.option(
    "--arena",
    "arena",
    default=None,
    type=click.Choice(["static", "shared", "user"]),
    help="static: each model its own static arena (default); shared: one arena for all the models "
    "compiled together (ec_shared_arena.h/.c; they must run one after another); user: "
    "<name>_init(void *arena) takes your buffer of <NAME>_ARENA_SIZE bytes.",
)
@click.option("--shared-arena", is_flag=True, help="Same as --arena shared.")
@click.option(
    "--io-outside-arena", is_flag=True, help="Keep inputs and outputs in their own static buffers, outside the arena."
)
@click.option(
    "--float-helpers",
    is_flag=True,
    help="Also write <name>_float.h/.c: <name>_quantize_input / <name>_dequantize_output (float).",
)
@click.option(
    "--format",
    "fmt",
    default="plain",
    show_default=True,
    type=click.Choice(PACKAGE_FORMATS),
    help="plain: the .h/.c files in the folder; cmake: a CMake library (plus a toolchain file per board); "
    "zephyr: a Zephyr module; arduino: an Arduino library with an example sketch; platformio: a "
    "PlatformIO library. See docs/deploy-<format>.md.",
)
@click.option(
    "--package-name",
    default=None,
    help="Name of the library a --format package makes (default: the model's name; several models: models).",
)
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@_weights_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def compile_cmd(
    models: tuple[Path, ...],
    out_dir: Path,
    names: tuple[str, ...],
    runtime_dir: Path | None,
    arena: str | None,
    shared_arena: bool,
    io_outside_arena: bool,
    float_helpers: bool,
    fmt: str,
    package_name: str | None,
    force: bool,
    weights: str,
    as_json: bool,
) -> int:
    """Compile MODEL.tflite (or several models, which then share one copy of the runtime) into C
    sources in a folder."""
    if shared_arena and arena not in (None, "shared"):
        raise click.UsageError(f"--shared-arena and --arena {arena} contradict each other")
    arena = "shared" if shared_arena else arena
    if fmt != "plain":
        return _compile_package(
            models,
            out_dir,
            fmt,
            names,
            package_name,
            runtime_dir,
            arena or "static",
            io_outside_arena,
            float_helpers,
            force,
            weights,
            as_json,
        )
    if package_name is not None:
        raise click.UsageError("--package-name names a package: give --format cmake|zephyr|arduino|platformio too")
    if len(models) > 1 or runtime_dir is not None or arena is not None or io_outside_arena or float_helpers:
        return _compile_several(
            models,
            out_dir,
            names,
            runtime_dir,
            arena or "static",
            io_outside_arena,
            float_helpers,
            force,
            weights,
            as_json,
        )
    if len(names) > 1:
        raise click.UsageError(f"{len(names)} --name options for one model")
    model, name = models[0], (names[0] if names else None)
    from edgeconv import compile as compile_api

    _writes(out_dir)
    r = compile_api(model, out_dir=out_dir, name=name, force=force, weights=weights)
    if as_json:
        click.echo(json.dumps(r.to_dict()))
    else:
        click.echo(
            f"{r.name}: {len(r.files)} files in {out_dir}: arena {r.ram_bytes} B "
            f"(lower bound {r.arena_lower_bound}), constants {r.flash_bytes} B, "
            f"{r.macs:,} MACs; {r.weights_summary}"
        )
    return 0


def _compile_package(
    models,
    out_dir,
    fmt,
    names,
    package_name,
    runtime_dir,
    arena,
    io_outside_arena,
    float_helpers,
    force,
    weights,
    as_json,
) -> int:
    """compile --format cmake|zephyr|arduino|platformio: edgeconv.emit.packaging.compile_package."""
    from edgeconv.emit.packaging import compile_package

    if runtime_dir is not None:
        raise click.UsageError(f"--runtime applies to --format plain; a {fmt} package holds its own runtime copy")
    _writes(out_dir)
    r = compile_package(
        list(models),
        out_dir,
        fmt,
        names=list(names),
        package_name=package_name,
        arena=arena,
        io_outside_arena=io_outside_arena,
        float_helpers=float_helpers,
        force=force,
        weights=weights,
    )
    if as_json:
        click.echo(json.dumps(r.to_dict()))
        return 0
    for m in r.models:
        click.echo(
            f"{m['name']}: RAM {m['ram_bytes']} B (arena {m['arena_bytes']} B), constants {m['flash_bytes']} B, "
            f"{m['macs']:,} MACs"
        )
    click.echo(f"{r.package}: {fmt} package, {len(r.files)} files in {out_dir} (docs/deploy-{fmt}.md)")
    return 0


def _compile_several(
    models, out_dir, names, runtime_dir, arena, io_outside_arena, float_helpers, force, weights, as_json
) -> int:
    """compile with several models or a bundle option: edgeconv.emit.bundle.compile_models."""
    from edgeconv.emit.bundle import compile_models

    _writes(*([out_dir] + ([runtime_dir] if runtime_dir is not None else [])))
    r = compile_models(
        list(models),
        out_dir,
        names=list(names),
        runtime=runtime_dir,
        arena=arena,
        io_outside_arena=io_outside_arena,
        float_helpers=float_helpers,
        force=force,
        weights=weights,
    )
    if as_json:
        click.echo(json.dumps(r.to_dict()))
        return 0
    for m in r.models:
        labels = f", {m['labels']} class labels" if m["labels"] else ""
        click.echo(
            f"{m['name']}: RAM {m['ram_bytes']} B (arena {m['arena_bytes']} B), constants {m['flash_bytes']} B, "
            f"{m['macs']:,} MACs{labels}"
        )
    shared = f"; shared arena {r.shared_arena_bytes} B" if r.shared_arena_bytes is not None else ""
    click.echo(
        f"{len(r.files)} files in {out_dir}; runtime {r.runtime_version} in {r.runtime_dir} "
        f"({len(r.runtime_files_added)} files written){shared}"
    )
    return 0


@main.command("inspect")
@_model_arg()
@click.option("--board", default=None, help="Add instructions per layer, counted on this board's emulated core.")
@_weights_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def inspect_cmd(model: Path, board: str | None, weights: str, as_json: bool) -> int:
    """Per-layer table: op, shapes, parameters, MACs, activation bytes, arena offset."""
    from edgeconv import inspect as inspect_api

    result = inspect_api(model, board=board, weights=weights)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return 0
    from edgeconv.reports.inspectview import console_for_inspect, render_inspect

    # the terminal's width (two lines per layer below 132 columns); on a pipe $COLUMNS or 160
    render_inspect(result, console_for_inspect())
    return 0


@main.command("validate")
@_model_arg()
@click.option(
    "--samples",
    default=20,
    show_default=True,
    type=click.IntRange(0, 100000),
    help="Random inputs, in addition to shipped ones.",
)
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed for the random inputs.")
@click.option(
    "--inputs",
    "inputs_file",
    default=None,
    type=click.Path(path_type=Path),
    help=".npy (one input) or .npz (x0, x1, ...: one array per input) of samples along the first axis; "
    "a sample's shape is the input's, or the input's without its leading batch dimension of 1. "
    "Integers that fit the input's type are cast; floats only for a float32 input.",
)
@click.option(
    "--board", default=None, help="Run the C as firmware on this board's emulated core (QEMU) instead of the host."
)
@_weights_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def validate_cmd(
    model: Path, samples: int, seed: int, inputs_file: Path | None, board: str | None, weights: str, as_json: bool
) -> int:
    """Build the C on the host and compare every output element with TFLite Micro and TFLite."""
    import warnings

    import numpy as np

    from edgeconv import validate as validate_api
    from edgeconv.checking.validation import headline

    progress = None  # validation draws its own bar (edgeconv/progress.py) on a terminal

    # Nothing but the report and one-line errors reaches the terminal: no library warnings.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        report = validate_api(
            model, samples=samples, seed=seed, inputs=inputs_file, board=board, weights=weights, progress=progress
        )
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(headline(report))
        click.echo(
            "  "
            + (
                f"firmware flash {report.flash_bytes:,} B, RAM {report.ram_bytes:,} B, "
                + (f"{report.instructions:,} instructions per inference, " if report.instructions is not None else "")
                + (
                    f"stack {report.stack_bytes:,} B {'computed' if report.stack_computed else 'reserved'}, "
                    f"{report.stack_measured_bytes:,} B used (painted), "
                    if report.stack_bytes is not None and report.stack_measured_bytes is not None
                    else ""
                )
                if report.board
                else f"arena {report.ram_bytes:,} B"
                + (f" (TFLite Micro's {report.tflm_arena_bytes:,} B)" if report.tflm_arena_bytes is not None else "")
                + f", constants {report.flash_bytes:,} B, "
            )
            + f"{report.macs:,} MACs"
        )
        for note in report.notes:
            click.echo(f"  note: {_one_line(note)[:300]}")
    return 0 if report.bit_exact else EXIT_MISMATCH


# Options spelled out per command, like report's and the others': the help texts differ per command; what is truly
# shared is _model_arg, _weights_option and _FORCE_HELP
@main.command("build")
@_model_arg()
@click.option(
    "--board",
    required=True,
    help="A profile in boards/ (cortex-m0plus, cortex-m4, cortex-m7, cortex-m33, cortex-m55, riscv32) or a .toml path.",
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the sources, the ELF and its map (created if missing); other files in it are left alone.",
)
@click.option(
    "--name",
    default=None,
    help="C identifier naming the files and prefixing every symbol (default: the model file's stem).",
)
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@_weights_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def build_cmd(
    model: Path, board: str, out_dir: Path, name: str | None, force: bool, weights: str, as_json: bool
) -> int:
    """Cross-compile MODEL.tflite into firmware for a board; report flash and RAM from the ELF."""
    from edgeconv import build as build_api

    _writes(out_dir)
    r = build_api(model, board, out_dir, name=name, force=force, weights=weights)
    if as_json:
        click.echo(json.dumps(r.to_dict()))
    else:
        click.echo(
            f"{r.elf} for {r.board} ({r.part}):\n"
            f"  flash {r.flash_bytes:,} B = code {r.flash_code_bytes:,} + weights {r.flash_weights_bytes:,}"
            f" ({100 * r.flash_bytes / r.board_flash_bytes:.1f}% of {r.board_flash_bytes:,})\n"
            f"  RAM   {r.ram_bytes:,} B = arena {r.ram_arena_bytes:,} + stack {r.ram_stack_bytes:,}"
            f" + data {r.ram_data_bytes:,}"
            f" ({100 * r.ram_bytes / r.board_ram_bytes:.1f}% of {r.board_ram_bytes:,})\n"
            f"  linked for the part: flash from {r.flash_origin:#010x}, RAM from {r.ram_origin:#010x}, "
            f"stack top {r.stack_top:#010x}\n"
            + (
                f"  stack {r.stack_need_bytes:,} B needed = worst path {r.stack_worst_path_bytes:,}"
                f" ({' > '.join(r.stack_worst_path)}) + interrupt room"
                + (
                    f" + {r.stack_margin_bytes:,} margin, NOT certified: {'; '.join(r.stack_uncertain)}"
                    if r.stack_uncertain
                    else ""
                )
                if r.stack_worst_path
                # no call graph to walk (avr-gcc): the profile's reserve
                else f"  stack {r.ram_stack_bytes:,} B reserved, not computed: {'; '.join(r.stack_uncertain)}"
            )
            + f"\n  {r.weights_summary}"
        )
    return 0


@main.command("train")
@click.option("--arch", required=True, help="Zoo architecture: tinyconv, dscnn, resnet8, mobilenetv1, conv1d.")
@click.option(
    "--data",
    default=None,
    help="digits, signals, a .npz (x, y) or a folder of class subfolders [default: the arch's bundled set].",
)
@click.option(
    "-o",
    "--output",
    "out",
    default="model.keras",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Model to write (.keras); history and metadata go beside it.",
)
@click.option("--epochs", default=20, show_default=True, type=click.IntRange(1, 100000))
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, 1 << 20))
@click.option("--lr", "learning_rate", default=1e-3, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option(
    "--val-split",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Fraction of the training split used for validation.",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--width",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Width multiplier (alpha for mobilenetv1).",
)
@click.option("--depth", default=None, type=click.IntRange(1, 64), help="Number of blocks.")
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def train_cmd(arch, data, out, epochs, batch_size, learning_rate, val_split, seed, width, depth, force, as_json) -> int:
    """Train a zoo architecture; 20% of the data is held out as the test split."""
    from edgeconv import train as train_api

    _writes(out)
    # The same arguments as edgeconv.train's call of training/train.py: the CLI is the API, option for argument
    r = train_api(
        arch,
        data,
        out,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        validation_split=val_split,
        seed=seed,
        width=width,
        depth=depth,
        force=force,
        verbose=0,
    )  # a bar per epoch on a terminal (edgeconv/progress.py); nothing on a pipe
    if as_json:
        click.echo(json.dumps(r.to_dict()))
    else:
        click.echo(f"{r.model}: {arch} on {r.data}, test accuracy {r.float_accuracy:.4f} (history: {r.history})")
    return 0


@main.command("quantize")
@_model_arg()
@click.option("--data", default=None, help="Calibration and test data [default: what `edgeconv train` recorded].")
@click.option(
    "-o",
    "--output",
    "out",
    default=None,
    type=click.Path(path_type=Path),
    help="The .tflite to write [default: MODEL with .tflite].",
)
@click.option(
    "--calib",
    default=200,
    show_default=True,
    type=click.IntRange(1, 1 << 20),
    help="Calibration samples, drawn seeded from the training split.",
)
@click.option("--seed", default=None, type=int, help="[default: the training seed]")
@click.option(
    "--mode",
    default="int8",
    show_default=True,
    type=click.Choice(["int8", "16x8"]),
    help="int8: int8 activations and weights (smallest, fastest). 16x8: int16 activations with int8 weights, "
    "for models that need more precision than int8 activations give (audio, denoising, regression, "
    "wide dynamic range): about twice the activation RAM and slower kernels.",
)
@click.option(
    "--io",
    "io_type",
    default=None,
    type=click.Choice(["int8", "int16", "float32"]),
    help="Type of the model's inputs and outputs [default: the activations' type, int8 or int16 (--mode 16x8)].",
)
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def quantize_cmd(model: Path, data, out, calib, seed, mode, io_type, force, as_json) -> int:
    """Full-integer post-training quantization of a .keras model, with accuracy and per-layer error."""
    from edgeconv import quantize as quantize_api
    from edgeconv.training.quantizing import check_mode

    io_type = check_mode(mode, io_type)
    _writes(out if out is not None else model.with_suffix(".tflite"))
    report = quantize_api(model, data=data, out=out, calib=calib, seed=seed, io_type=io_type, force=force, mode=mode)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=120)  # a terminal's own width (80 columns too)
    kind = "int8" if mode == "int8" else "16x8"
    table = Table(title=f"quantization error per layer (SNR of {kind} vs float activations)")
    table.add_column("layer")
    table.add_column("op")
    table.add_column("SNR dB", justify="right")
    for layer in report.layers:
        table.add_row(layer.layer, layer.op, "exact" if layer.snr_db is None else f"{layer.snr_db:.1f}")
    console.print(table)
    console.print(
        f"{report.output}: float accuracy {report.float_accuracy:.4f}, {kind} accuracy {report.int8_accuracy:.4f} "
        f"on {report.test_samples} test samples ({report.calib_samples} calibration samples, {io_type} I/O)"
    )
    return 0


@main.command("demo")
@click.option(
    "-o",
    "--output",
    "out_dir",
    default="edgeconv-demo",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder for the model, the .tflite and the C.",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (and nothing on stderr).")
def demo_cmd(out_dir: Path, seed: int, force: bool, as_json: bool) -> int:
    """Train, quantize, compile and verify a digits CNN: the whole pipeline in one command."""
    from edgeconv import demo as demo_api

    _writes(out_dir)
    r = demo_api(
        out_dir,
        seed=seed,
        force=force,
        say=(lambda line: None) if as_json else (lambda line: click.echo(line, err=True)),
    )
    if as_json:
        click.echo(json.dumps(r.to_dict()))
    else:
        verdict = "bit-exact" if r.bit_exact else "NOT bit-exact"
        click.echo(
            f"\naccuracy on {r.test_samples} test digits: float {r.float_accuracy:.4f}, "
            f"int8 {r.int8_accuracy:.4f}, C {r.c_accuracy:.4f}\n"
            f"the C is {verdict} with TFLite Micro and TFLite's reference ({r.validated_samples} inputs)\n"
            f"RAM {r.ram_bytes:,} B arena, flash {r.flash_bytes:,} B constants, {r.macs:,} MACs per inference\n"
            f"files: {r.model_keras}, {r.model_tflite}, C sources in {r.c_sources}/  ({r.seconds} s)"
        )
    return 0 if r.bit_exact else EXIT_MISMATCH


# Options spelled out per command, like build's and the others': the help texts differ per command; what is truly shared
# is _model_arg, _weights_option and _FORCE_HELP
@main.command("report")
@_model_arg()
@click.option(
    "-o",
    "--output",
    "out",
    default=None,
    type=click.Path(path_type=Path),
    help="The HTML file to write (self-contained); the Markdown (.md), the JSON (.json) and the pictures "
    "(<stem>_files/) go beside it [default: <model>_report.html].",
)
@click.option(
    "--board",
    default=None,
    help="Add instructions per layer (counted on its emulated core) and flash/RAM against the board's capacity.",
)
@click.option(
    "--float",
    "float_model",
    default=None,
    type=click.Path(path_type=Path),
    help="The float Keras model (.keras) the .tflite was quantized from: per-layer quantization error (SNR).",
)
@click.option(
    "--data",
    default=None,
    help="Samples for the SNR and the feature maps: digits, signals, a .npz (x, y) or a folder of class subfolders.",
)
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@_weights_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the report's JSON file).")
def report_cmd(
    model: Path,
    out: Path | None,
    board: str | None,
    float_model: Path | None,
    data: str | None,
    force: bool,
    weights: str,
    as_json: bool,
) -> int:
    """Write a report of MODEL.tflite: per-layer table, memory plan, cost, filters and feature maps
    (HTML, Markdown, JSON)."""
    from edgeconv import report as report_api

    out = out if out is not None else Path(f"{model.stem}_report.html")
    _writes(out)
    r = report_api(model, out=out, board=board, float_model=float_model, data=data, weights=weights, force=force)
    if as_json:
        click.echo(json.dumps(r.to_dict()))
    else:
        q = r.report.get("quantization")
        worst = (
            min((layer["snr_db"] for layer in q["layers"] if isinstance(layer["snr_db"], (int, float))), default=None)
            if q
            else None
        )
        click.echo(
            f"{r.html}: {len(r.inspect['layers'])} layers, arena {r.inspect['ram_bytes']:,} B "
            f"(lower bound {r.inspect['arena_lower_bound']:,}), constants {r.inspect['flash_bytes']:,} B, "
            f"{r.inspect['macs']:,} MACs, {len(r.pictures)} pictures"
            + (f"; lowest layer SNR {worst:.1f} dB" if worst is not None else "")
        )
        click.echo(f"  also {r.markdown} and {r.json}")
    return 0


@main.command("advise")
@click.argument("model", type=click.Path(path_type=Path), required=False)
@click.option("--board", required=True, help="A profile in boards/ (cortex-m0plus, cortex-m4, ...) or a .toml path.")
@click.option(
    "--layers",
    default=4,
    show_default=True,
    type=click.IntRange(0, 50),
    help="Layers tried as variants: those at the RAM peak first, then the top flash and instruction layers.",
)
@click.option(
    "--no-whole-model",
    "no_whole",
    is_flag=True,
    help="Skip the whole-model variants (half the filters, half the resolution).",
)
@click.option(
    "--no-instructions", "no_instr", is_flag=True, help="Do not count instructions (faster: fit and MACs only)."
)
@click.option("--arch", default=None, help="Sweep this zoo architecture's knobs instead of advising on a model.")
@click.option(
    "--data", default=None, help="The sweep's data: digits, signals, a .npz (x, y) or a folder of class folders."
)
@click.option(
    "--trials",
    default=20,
    show_default=True,
    type=click.IntRange(1, 100000),
    help="Sweep trials in the study (in all, across runs).",
)
@click.option(
    "--epochs", default=10, show_default=True, type=click.IntRange(1, 10000), help="Training epochs per sweep trial."
)
@click.option(
    "--study-db",
    default=None,
    help="The sweep's Optuna storage URL (e.g. postgresql://host/db, shared by "
    "several machines); default: an SQLite file beside -o.",
)
@click.option(
    "-o",
    "--out",
    default=None,
    type=click.Path(path_type=Path),
    help="The sweep's figure (.png); default <arch>_<data>_<board>_sweep.png.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed of the variants' new weights and of the sweep.",
)
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def advise_cmd(
    model: Path | None,
    board: str,
    layers: int,
    no_whole: bool,
    no_instr: bool,
    arch: str | None,
    data: str | None,
    trials: int,
    epochs: int,
    study_db: str | None,
    out: Path | None,
    seed: int,
    force: bool,
    as_json: bool,
) -> int:
    """What limits MODEL.tflite on a board, and what-ifs measured by recompiling variants; or, with --arch and
    --data, a sweep of the zoo's knobs (Optuna NSGA-II) with the Pareto front of models that fit."""
    from edgeconv import advise as advise_api

    if out is not None:
        _writes(out)
    # progress: edgeconv/progress.py's bars (variants, trials) on a terminal, none under --json
    r = advise_api(
        model,
        board=board,
        layers=layers,
        whole_model=not no_whole,
        instructions=not no_instr,
        seed=seed,
        arch=arch,
        data=data,
        trials=trials,
        epochs=epochs,
        study_db=study_db,
        out=out,
        force=force,
    )
    if as_json:
        click.echo(json.dumps(r.to_dict()))
        return 0
    from edgeconv.reports.advise import print_advice

    print_advice(r.to_dict())
    return 0


@main.command("evaluate")
@_model_arg()
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(path_type=Path),
    help="Labelled samples: an .npz with x and y (x0.../y0... for several inputs/outputs; class_names "
    "optional), a folder of in_XX.npy samples with INDEX.txt (label=N), or a folder of class "
    "subfolders of images. Float x is quantized with the input's scale and zero point; integer x "
    "is taken as already quantized.",
)
@click.option(
    "--float",
    "float_model",
    default=None,
    type=click.Path(path_type=Path),
    help="The float Keras model (.keras) to score beside the int8 model and the C.",
)
@click.option("--board", default=None, help="Run the C as firmware on this board's emulated core instead of the host.")
@click.option(
    "--top-k",
    "top_k",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Also count a sample right when its class is among the k highest scores.",
)
@click.option(
    "--report",
    "report",
    default=None,
    type=click.Path(path_type=Path),
    help="Write a report: .html (self-contained: tables and confusion matrices) or .png (the confusion matrix).",
)
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@_weights_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate_cmd(
    model: Path,
    data: Path,
    float_model: Path | None,
    board: str | None,
    top_k: int,
    report: Path | None,
    force: bool,
    weights: str,
    as_json: bool,
) -> int:
    """Accuracy of the float model, the int8 model (TFLite Micro) and the C on labelled data; the C
    must equal the int8 model exactly (exit 1 if it does not)."""
    import warnings

    import numpy as np

    from edgeconv import evaluate as evaluate_api
    from edgeconv.progress import show_progress
    from edgeconv.reports.evaluate import summary_lines

    if report is not None:
        _writes(report)
    with warnings.catch_warnings(), np.errstate(all="ignore"), show_progress(not as_json):
        warnings.simplefilter("ignore")
        r = evaluate_api(
            model, data, float_model=float_model, board=board, top_k=top_k, report=report, force=force, weights=weights
        )
    if as_json:
        click.echo(json.dumps(r.to_dict()))
    else:
        for line in summary_lines(r):
            click.echo(line)
        if r.report is not None:
            click.echo(f"report: {r.report}")
    return 0 if r.c_equals_int8 else EXIT_MISMATCH


if __name__ == "__main__":
    main()
