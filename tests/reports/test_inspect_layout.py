"""`inspect` fits an 80-column terminal (two lines per layer below 132 columns) and shows the
model's inputs and outputs: shapes, dtypes, scales and zero points, in text and in --json."""

from __future__ import annotations

import io
import json
import sys

import pytest
from rich.console import Console

import edgeconv
from conftest import SHARED_MODEL_FILES, run_cli
from edgeconv.reports.inspectview import WIDE, render_inspect
from test_progress import plain, run_in_terminal, user_env

# The keys `inspect --json` had before the inputs and outputs were added: all still there.
EARLIER_KEYS = {
    "model",
    "layers",
    "board",
    "instructions",
    "fit",
    "ram_bytes",
    "arena_lower_bound",
    "flash_bytes",
    "weights_bytes",
    "macs",
    "weights_mode",
    "weights_int16_extra_flash_bytes",
    "weights_int16_instructions_saved",
    "weight_forms",
    "weights_summary",
}


def rendered(result, width: int) -> list[str]:
    buf = io.StringIO()
    render_inspect(result, Console(file=buf, width=width, force_terminal=False, color_system=None))
    return buf.getvalue().splitlines()


@pytest.mark.parametrize("path", SHARED_MODEL_FILES)
def test_every_shared_model_fits_80_columns(shared_models, path):
    """No line wider than 80 (nor 100) columns; every layer, input and output is shown, with
    its shape, scale and zero point; at 160 columns the one-line-per-layer table."""
    result = edgeconv.inspect(shared_models / path)
    for width in (80, 100):
        lines = rendered(result, width)
        assert max(len(line) for line in lines) <= width, "\n".join(lines)
        text = "\n".join(lines)
        assert "inputs and outputs" in text and "op / params" in text
        for r in result.layers:
            assert any(line.lstrip().startswith(f"{r['index']} ") for line in lines), r["index"]
        for kind, entries in (("in", result.inputs), ("out", result.outputs)):
            for i, e in enumerate(entries):
                row = next(line for line in lines if line.startswith(f"{kind} {i} "))
                assert f"{e['dtype']}[{'x'.join(map(str, e['shape']))}]" in row
                assert f"{e['scale']:.6g}" in row and row.rstrip().endswith(str(e["zero_point"]))
    wide = rendered(result, 160)
    assert max(len(line) for line in wide) <= 160
    assert sum(1 for line in wide if line.startswith("│")) == len(result.layers)  # one line per layer
    assert 160 >= WIDE > 100


def test_inspect_json_gains_inputs_and_outputs(shared_models):
    """Additively: every earlier key is there, and inputs/outputs carry index, name, shape,
    dtype, bytes, scale and zero point (kws: int8 49x10 features in, 12 class scores out)."""
    proc = run_cli("inspect", shared_models / "mlcommons_tiny/kws_ref_model.tflite", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert set(d) >= EARLIER_KEYS
    (inp,), (out,) = d["inputs"], d["outputs"]
    assert inp == {
        "index": inp["index"],
        "name": "input_1",
        "shape": [1, 49, 10, 1],
        "dtype": "int8",
        "bytes": 490,
        "scale": pytest.approx(0.584703, rel=1e-5),
        "zero_point": 83,
    }
    assert out["name"] == "Identity" and out["shape"] == [1, 12] and out["dtype"] == "int8"
    assert out["scale"] == 1 / 256 and out["zero_point"] == -128
    # the indices are the model's tensors: the first layer reads the input, the last writes the output
    assert d["layers"][0]["inputs"][0] == "int8[1x49x10x1]"


def test_inspect_in_an_80_column_terminal(shared_models, tmp_path):
    """As a user sees it: `edgeconv inspect vww_96_int8.tflite` in an 80-column pseudo-terminal."""
    rc, shown = run_in_terminal(
        [sys.executable, "-m", "edgeconv.cli", "inspect", str(shared_models / "mlcommons_tiny/vww_96_int8.tflite")],
        tmp_path,
        user_env(),
    )
    assert rc == 0, shown
    lines = plain(shown).splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(line for line in lines if len(line) > 80)
    assert any(line.startswith("in 0 ") and "int8[1x96x96x3]" in line for line in lines)
    assert any("DW_CONV_2D" in line for line in lines) and lines[-1].strip()
