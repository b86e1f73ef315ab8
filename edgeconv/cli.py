"""Command line: edgeconv compile | inspect | validate.

Exit status: 0 success; 1 validation ran but the C is not bit-exact; 2 bad input (a one-line
message naming the problem, no traceback, nothing half-written). EDGECONV_DEBUG=1 shows the
traceback of an unexpected error.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .ir import ModelError

EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2


class _Group(click.Group):
    """Turns every failure into one line on stderr and exit status 2."""

    def main(self, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("standalone_mode", False)
        try:
            rv = super().main(*args, **kwargs)
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
        except Exception as exc:
            if os.environ.get("EDGECONV_DEBUG"):
                raise
            click.echo(f"edgeconv: error: {type(exc).__name__}: {_one_line(str(exc))}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        sys.exit(rv or 0)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 600 else line[:597] + "..."


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeconv")
def main() -> None:
    """Compile int8 TFLite CNNs into dependency-free, bit-exact C99."""


def _model_arg():
    return click.argument("model", type=click.Path(path_type=Path))


@main.command("compile")
@_model_arg()
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder to write (replaced atomically).")
@click.option("--name", default=None, help="C identifier prefix (default: the model file's stem).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def compile_cmd(model: Path, out_dir: Path, name: str | None, as_json: bool) -> int:
    """Compile MODEL.tflite into C sources in a folder."""
    from .compiler import c_identifier, compile_file
    from .emitter import emit, write_output

    if name is not None and c_identifier(name) != name:
        raise click.BadParameter(f"--name {name!r} is not a C identifier (try {c_identifier(name)!r})")
    compiled = compile_file(model, name=name)
    emitted = emit(compiled)
    write_output(emitted, out_dir)
    summary = {
        "model": str(model),
        "name": compiled.name,
        "output_dir": str(out_dir),
        "files": sorted(emitted.files),
        "ram_bytes": compiled.ram_bytes,
        "arena_lower_bound": compiled.plan.lower_bound,
        "flash_bytes": emitted.flash_const_bytes,
        "weights_bytes": emitted.weights_bytes,
        "macs": compiled.macs,
        "kernels": len(compiled.steps),
    }
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"{compiled.name}: {len(emitted.files)} files in {out_dir}: arena {compiled.ram_bytes} B "
            f"(lower bound {compiled.plan.lower_bound}), constants {emitted.flash_const_bytes} B, "
            f"{compiled.macs:,} MACs"
        )
    return 0


@main.command("inspect")
@_model_arg()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def inspect_cmd(model: Path, as_json: bool) -> int:
    """Per-layer table: op, shapes, parameters, MACs, activation bytes, arena offset."""
    from .compiler import compile_file
    from .emitter import emit
    from .report import layer_rows

    compiled = compile_file(model)
    emitted = emit(compiled)
    rows = layer_rows(compiled)
    totals = {
        "ram_bytes": compiled.ram_bytes,
        "arena_lower_bound": compiled.plan.lower_bound,
        "flash_bytes": emitted.flash_const_bytes,
        "weights_bytes": emitted.weights_bytes,
        "macs": compiled.macs,
    }
    if as_json:
        click.echo(json.dumps({"model": str(model), "layers": rows, **totals}))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{model.name}", show_lines=False)
    for col, justify in (("#", "right"), ("op", "left"), ("in", "left"), ("out", "left"), ("params", "left"),
                         ("MACs", "right"), ("act bytes", "right"), ("offset", "right")):
        table.add_column(col, justify=justify)
    for r in rows:
        table.add_row(str(r["index"]), r["op"], " ".join(r["inputs"]), " ".join(r["outputs"]), r["params"],
                      f"{r['macs']:,}", f"{r['activation_bytes']:,}", "alias" if r["alias"] else str(r["arena_offset"]))
    console = Console(width=160)
    console.print(table)
    console.print(
        f"arena {totals['ram_bytes']:,} B (lower bound {totals['arena_lower_bound']:,}), constants "
        f"{totals['flash_bytes']:,} B (weights {totals['weights_bytes']:,}), {totals['macs']:,} MACs"
    )
    return 0


@main.command("validate")
@_model_arg()
@click.option("--samples", default=20, show_default=True, type=click.IntRange(0, 100000), help="Random inputs, in addition to shipped ones.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the random inputs.")
@click.option("--inputs", "inputs_file", default=None, type=click.Path(path_type=Path), help=".npy/.npz of inputs (first axis: samples).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def validate_cmd(model: Path, samples: int, seed: int, inputs_file: Path | None, as_json: bool) -> int:
    """Build the C on the host and compare every output element with TFLite Micro and TFLite."""
    from .validation import validate_file

    progress = None
    if not as_json and sys.stderr.isatty():
        from rich.progress import track

        def progress(items):
            return track(items, description="comparing", transient=True)

    report = validate_file(model, samples=samples, seed=seed, inputs_file=inputs_file, progress=progress)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        verdict = "BIT-EXACT" if report.bit_exact else "MISMATCH"
        click.echo(
            f"{report.model}: {verdict} on {report.samples} samples vs {' and '.join(report.references)}; "
            f"arena {report.ram_bytes} B (TFLM {report.tflm_arena_bytes} B), constants {report.flash_bytes} B, "
            f"{report.macs:,} MACs"
        )
        if not report.bit_exact:
            click.echo(
                f"  {report.mismatches_vs_tflm} elements differ from TFLite Micro (max |diff| {report.max_abs_diff}); "
                f"first divergent op: {report.first_divergent_op}"
            )
        if report.reference_disagreements:
            click.echo(f"  note: the two references disagree on {report.reference_disagreements} elements")
        for note in report.notes:
            click.echo(f"  note: {_one_line(note)[:300]}")
    return 0 if report.bit_exact else EXIT_MISMATCH


if __name__ == "__main__":
    main()
