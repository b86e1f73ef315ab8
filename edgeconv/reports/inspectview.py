"""`edgeconv inspect` as text: the model's inputs and outputs, the per-layer table and the
totals, laid out for the console's width.

- At 132 columns and more, one line per layer: #, op, input and output shapes, parameters,
  MACs, activation bytes, arena offset (and instructions with --board).
- Narrower (an 80-column terminal), two lines per layer: the op over its parameters, the input
  shape over the output shape, then the numbers; borders are dropped and long names shortened,
  so that no line is wider than the console.

The width is the terminal's; on a pipe, $COLUMNS if set, else 160 (a file keeps the wide
layout). The numbers are those of `inspect --json` (results.InspectResult), only formatted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from edgeconv.results import InspectResult

WIDE = 132  # from this width on, one line per layer
PIPE_WIDTH = 160  # on a pipe without $COLUMNS

# Short names of long op names for the narrow layout (TFLite's names otherwise).
SHORT_OPS = {
    "DEPTHWISE_CONV_2D": "DW_CONV_2D",
    "FULLY_CONNECTED": "FC",
    "AVERAGE_POOL_2D": "AVG_POOL_2D",
    "CONCATENATION": "CONCAT",
    "TRANSPOSE_CONV": "TCONV",
    "STRIDED_SLICE": "STR_SLICE",
    "RESIZE_NEAREST_NEIGHBOR": "RESIZE_NN",
    "RESIZE_BILINEAR": "RESIZE_BILIN",
    "SPACE_TO_BATCH_ND": "SPACE2BATCH",
    "BATCH_TO_SPACE_ND": "BATCH2SPACE",
    "SPACE_TO_DEPTH": "SPACE2DEPTH",
    "DEPTH_TO_SPACE": "DEPTH2SPACE",
    "L2_NORMALIZATION": "L2_NORM",
    "BATCH_MATMUL": "BATCH_MATMUL",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "LSTM",
}


def console_for_inspect() -> Console:
    """stdout's console: the terminal's width, or on a pipe $COLUMNS or PIPE_WIDTH."""
    if sys.stdout.isatty():
        return Console()
    columns = os.environ.get("COLUMNS", "")
    return Console(width=int(columns) if columns.isdigit() and int(columns) > 0 else PIPE_WIDTH)


def _scale(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return f"{len(value)} per-channel"
    return f"{value:.6g}"


def _zero_point(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "per-channel" if len(set(value)) > 1 else str(value[0])
    return str(value)


def _shape(entry: dict) -> str:
    return f"{entry['dtype']}[{'x'.join(str(d) for d in entry['shape']) or 'scalar'}]"


def io_table(result: InspectResult, width: int) -> Table:
    """One row per model input and output: its name, shape and type, scale and zero point."""
    table = Table(
        box=box.SIMPLE_HEAD, title="inputs and outputs", title_justify="left", pad_edge=False, show_edge=False
    )
    table.add_column("", no_wrap=True)
    table.add_column("tensor", overflow="fold", max_width=max(12, width - 56))
    table.add_column("shape", no_wrap=True)
    table.add_column("scale", justify="right", no_wrap=True)
    table.add_column("zero pt", justify="right", no_wrap=True)
    for kind, entries in (("in", result.inputs), ("out", result.outputs)):
        for i, e in enumerate(entries):
            table.add_row(f"{kind} {i}", e["name"], _shape(e), _scale(e["scale"]), _zero_point(e["zero_point"]))
    return table


def _layer_cells(r: dict, narrow: bool) -> tuple[str, str, str, str]:
    """op, parameters, input shapes, output shapes of a row (narrow: one input a line)."""
    params = r["params"] + (f" w:{r['weights_form']}" if r["weights_form"] == "int16" else "")
    if narrow and r["alias"]:
        params = "no copy (alias)"
    op = SHORT_OPS.get(r["op"], r["op"]) if narrow else r["op"]
    sep = "\n" if narrow else " "
    return op, params, sep.join(r["inputs"]), sep.join(r["outputs"])


def layers_table(result: InspectResult, width: int) -> Table:
    board = result.board
    narrow = width < WIDE
    if not narrow:
        table = Table(title=Path(result.model).name, show_lines=False)
        cols = [
            ("#", "right"),
            ("op", "left"),
            ("in", "left"),
            ("out", "left"),
            ("params", "left"),
            ("MACs", "right"),
            ("act bytes", "right"),
            ("offset", "right"),
        ]
        if board is not None:
            cols.append((f"instr ({board})", "right"))
        for col, justify in cols:
            table.add_column(col, justify=justify)
        for r in result.layers:
            op, params, ins, outs = _layer_cells(r, narrow=False)
            cells = [
                str(r["index"]),
                op,
                ins,
                outs,
                params,
                f"{r['macs']:,}",
                f"{r['activation_bytes']:,}",
                "alias" if r["alias"] else str(r["arena_offset"]),
            ]
            if board is not None:
                cells.append(f"{r['instructions']:,}")
            table.add_row(*cells)
        return table
    # Two lines per layer, no vertical borders: fits 80 columns for every shared model.
    table = Table(title=Path(result.model).name, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("op / params", overflow="fold")
    table.add_column("in / out", overflow="fold")
    table.add_column("MACs", justify="right", no_wrap=True)
    table.add_column("out B\n@offset", justify="right", no_wrap=True)
    if board is not None:
        table.add_column("instr", justify="right", no_wrap=True)
    for r in result.layers:
        op, params, ins, outs = _layer_cells(r, narrow=True)
        layer = Text(op)
        layer.append("\n" + params, style="dim")
        where = "alias" if r["alias"] else f"@{r['arena_offset']}"
        cells = [str(r["index"]), layer, f"{ins}\n→ {outs}", f"{r['macs']:,}", f"{r['activation_bytes']:,}\n{where}"]
        if board is not None:
            cells.append(f"{r['instructions']:,}")
        table.add_row(*cells)
    return table


def render_inspect(result: InspectResult, console: Console) -> None:
    """Print inspect's text: inputs and outputs, the layers, the totals and the board's fit."""
    width = console.width
    console.print(io_table(result, width))
    console.print(layers_table(result, width))
    board = result.board
    console.print(
        f"arena {result.ram_bytes:,} B (lower bound {result.arena_lower_bound:,}), constants "
        f"{result.flash_bytes:,} B (weights {result.weights_bytes:,}), {result.macs:,} MACs"
        + (f", {result.instructions:,} instructions on {board}" if result.instructions is not None else ""),
        highlight=False,
    )
    console.print(result.weights_summary, highlight=False)
    if result.fit is not None:
        f = result.fit
        console.print(
            f"{f['board']} ({f['part']}): firmware flash {f['flash_bytes']:,} of {f['board_flash_bytes']:,} B, "
            f"RAM {f['ram_bytes']:,} of {f['board_ram_bytes']:,} B: "
            + ("fits" if f["fits"] else "does not fit (" + "; ".join(f["short"]) + ")"),
            highlight=False,
        )
