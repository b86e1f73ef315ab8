"""edgeconv report: the HTML/Markdown/JSON report of a model (edgeconv/reports/htmlreport.py, pictures.py).

Every figure the report shares with `inspect --json` is the same value; every picture is a PNG of
the size the JSON gives; the HTML renders in headless Chromium into a page that is not blank."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgeconv
from conftest import SHARED_MODEL_FILES, assert_refused, run_cli
from edgeconv.frontend.ir import ModelError

pytest.importorskip("matplotlib")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def _png(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    return mpimg.imread(path)


def _colours(img: np.ndarray) -> np.ndarray:
    """The distinct RGB colours of a decoded image and how often each occurs."""
    rgb = np.round(img[..., :3] * 255).astype(np.uint32) if img.dtype.kind == "f" else img[..., :3].astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return np.unique(packed.reshape(-1), return_counts=True)[1]


def _md_layer_rows(md: str) -> list[list[str]]:
    """The cells of the Markdown layer table's rows."""
    lines = md.splitlines()
    start = lines.index("## Layers")
    rows = []
    for line in lines[start + 4 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return rows


def _num(cell: str) -> int | None:
    return None if cell in ("", "alias") else int(cell.replace(",", ""))


def check_report(result, out: Path, inspect: dict, conv: bool) -> dict:
    """The files exist, the JSON is the result, its numbers are inspect's, the Markdown table
    says the same, each picture is a valid PNG of its stated size."""
    html, md, js = out, out.with_suffix(".md"), out.with_suffix(".json")
    data = json.loads(js.read_text())
    assert data == json.loads(json.dumps(result.to_dict()))
    assert data["inspect"] == inspect  # the same figures as inspect --json, all of them
    rows = _md_layer_rows(md.read_text())
    assert len(rows) == len(inspect["layers"])
    for cells, r in zip(rows, inspect["layers"]):
        assert int(cells[0]) == r["index"] and cells[2] == r["op"]
        assert [_num(c) for c in cells[6:10]] == [
            r["macs"],
            r["weights_bytes"],
            r["activation_bytes"],
            r["scratch_bytes"],
        ]
        assert _num(cells[10]) == (None if r["alias"] else r["arena_offset"])
        if r["first_step"] is not None:
            assert cells[11] == f"{r['first_step']}-{r['last_step']}"
        if inspect["instructions"] is not None:
            assert _num(cells[12]) == r["instructions"]
    text = md.read_text()
    for figure in ("ram_bytes", "arena_lower_bound", "flash_bytes", "weights_bytes", "macs"):
        assert f"{inspect[figure]:,}" in text, figure
    page = html.read_text()
    assert f"{inspect['ram_bytes']:,} B" in page and f"{inspect['macs']:,}" in page
    # self-contained: every picture embedded, nothing fetched
    assert 'src="http' not in page and "<link" not in page and "<script" not in page
    names = {Path(p["file"]).name for p in data["pictures"]}
    assert {"memory_plan.png", "cost.png", "capacity.png"} <= names
    if conv:
        assert "filters_0.png" in names
    for p in data["pictures"]:
        img = _png(out.parent / p["file"])
        assert img.shape[:2] == (p["height"], p["width"]), p
        assert p["width"] >= 300 and p["height"] >= 100
        assert len(_colours(img)) > 8, p  # drawn, not blank
    assert page.count('src="data:image/png;base64,') == len(data["pictures"])
    assert all(f"]({p['file']})" in text for p in data["pictures"])
    # the arena plan: the blocks the planner placed, the peak where the lower bound is reached
    blocks = data["report"]["arena_blocks"]
    assert max(b["offset"] + b["size"] for b in blocks) <= inspect["ram_bytes"]
    assert data["report"]["peak_step"] is not None and data["report"]["peak_tensors"]
    return data


# Reports written by the shared-model test (the screenshot test takes vww's if this worker wrote it).
WRITTEN: dict[str, Path] = {}

# Models without a convolution whose kernel is wider than 1x1 (no filter grid to draw).
DENSE = {"ad01_int8"}


@pytest.mark.parametrize("rel", SHARED_MODEL_FILES, ids=[Path(r).stem for r in SHARED_MODEL_FILES])
def test_report_on_shared_model(rel, shared_models, tmp_path):
    model = shared_models / rel
    if not model.exists():
        pytest.skip(f"{rel} is absent from the shared models")
    out = tmp_path / "r" / "report.html"
    result = edgeconv.report(model, out=out)
    WRITTEN[model.stem] = out
    data = check_report(result, out, edgeconv.inspect(model).to_dict(), conv=model.stem not in DENSE)
    # a model shipped with samples: the feature maps show the first shipped one
    if (model.parent / "samples" / model.stem).is_dir():
        assert data["report"]["feature_sample"].startswith("the shipped sample")


def test_report_cli_matches_api_and_is_deterministic(shared_models, tmp_path):
    model = shared_models / "tflite_micro" / "micro_speech_quantized.tflite"
    if not model.exists():
        pytest.skip("micro_speech_quantized.tflite is absent from the shared models")
    out = tmp_path / "m.html"
    proc = run_cli("report", model, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout and "336,000 MACs" in proc.stdout
    first = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    # again, over its own files, with --json: the same bytes (no dates, no random ids in the pictures)
    proc = run_cli("report", model, "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed == json.loads(out.with_suffix(".json").read_text())
    assert {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()} == first
    assert printed["inspect"] == edgeconv.inspect(model).to_dict()  # = inspect --json (tests/test_api.py)


def test_report_refusals(shared_models, tmp_path, monkeypatch):
    model = shared_models / "tflite_micro" / "micro_speech_quantized.tflite"
    if not model.exists():
        pytest.skip("micro_speech_quantized.tflite is absent from the shared models")
    assert_refused(run_cli("report", model, "-o", tmp_path / "r.pdf"), "r.pdf", ".html")
    assert not (tmp_path / "r.pdf").exists()
    # a file edgeconv did not write is never overwritten; nothing is half-written
    (tmp_path / "r.md").write_text("my notes")
    assert_refused(run_cli("report", model, "-o", tmp_path / "r.html"), "r.md")
    assert (tmp_path / "r.md").read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md"]
    with pytest.raises(ModelError, match="missing.tflite"):
        edgeconv.report(tmp_path / "missing.tflite", out=tmp_path / "x.html")
    with pytest.raises(ModelError, match="none.keras: no such Keras model"):
        edgeconv.report(model, out=tmp_path / "y.html", float_model=tmp_path / "none.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md"]
    # matplotlib missing: one line naming the extra
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ModelError, match=r"pip install 'edgeconv\[report\]'"):
        edgeconv.report(model, out=None)


# ---------------------------------------------------------------------------------------------
# --float and --data on a small Keras model trained here (cached)


@pytest.fixture(scope="module")
def digits_models(tmp_path_factory):
    """tinyconv on digits, 3 epochs, quantized to int8; and the test split as an .npz. Cached
    under the edgeconv cache (keyed by this fixture's version)."""
    pytest.importorskip("tensorflow")
    from edgeconv.targets.hostbuild import cache_root
    from edgeconv.training.datasets import load_dataset, split

    folder = cache_root() / "test_report" / "tinyconv-digits-v1"
    names = ["m.keras", "m.tflite", "m.edgeconv.json", "test.npz"]
    if not all((folder / n).exists() for n in names):
        work = tmp_path_factory.mktemp("digits")
        edgeconv.train("tinyconv", "digits", work / "m.keras", epochs=3, seed=0, verbose=0)
        edgeconv.quantize(work / "m.keras", out=work / "m.tflite", calib=64)
        _, test = split(load_dataset("digits"), 0.2, 0)
        np.savez(work / "test.npz", x=test.x[:60], y=test.y[:60])
        folder.mkdir(parents=True, exist_ok=True)
        for n in names:
            shutil.copy(work / n, folder / n)
    return folder


def test_report_float_snr_and_evaluation(digits_models, tmp_path):
    model, keras, data = digits_models / "m.tflite", digits_models / "m.keras", digits_models / "test.npz"
    out = tmp_path / "digits.html"
    result = edgeconv.report(model, out=out, float_model=keras, data=data)
    report = check_report(result, out, edgeconv.inspect(model).to_dict(), conv=True)["report"]
    q = report["quantization"]
    assert q["samples"] == 32 and str(data) in q["source"]
    # every op with a quantized output paired with its float tensor by name, none guessed
    assert q["unmatched"] == []
    assert [layer["opcode"] for layer in q["layers"]][:1] == ["CONV_2D"] and len(q["layers"]) >= 4
    snr = [layer["snr_db"] for layer in q["layers"]]
    assert all(s is None or 10.0 < s < 80.0 for s in snr), snr
    assert {Path(p["file"]).name for p in result.pictures} >= {
        "quantization.png",
        "filters_0.png",
        "input.png",
        "features_0.png",
    }
    assert report["feature_sample"].startswith("test.npz[0]") or "test.npz" in report["feature_sample"]
    # the evaluation is `edgeconv evaluate`'s result on the same data
    ev = report["evaluation"]
    assert ev["samples"] == 60 and ev["c_equals_int8"] and ev["int8_accuracy"] == ev["c_accuracy"]
    assert ev["float_accuracy"] > 0.5 and ev["int8_accuracy"] > 0.5
    assert any(Path(p["file"]).name.startswith("evaluation_") for p in result.pictures)
    page = out.read_text()
    assert "Quantization error" in page and "Evaluation on" in page
    # the SNR from the recorded data set when --data is not given (edgeconv train wrote it beside the model)
    r2 = edgeconv.report(model, out=None, float_model=keras)
    assert "digits" in r2.report["quantization"]["source"] and r2.report["evaluation"] is None


def test_pair_tensors_says_what_it_cannot_match():
    from edgeconv.checking.quanterror import pair_tensors
    from edgeconv.frontend.ir import Graph, Op, Quant, Tensor

    def graph(names, quant):
        tensors = {
            i: Tensor(i, n, (1, 4), "int8" if quant else "float32", Quant((0.1,), (0,)) if quant else None)
            for i, n in enumerate(names)
        }
        return Graph("g", tensors, [Op(i, "RELU", [i], [i + 1]) for i in range(len(names) - 1)], [0], [len(names) - 1])

    q = graph(["in", "functional_3/dense/Relu;x", "functional_3/other/Relu", "out"], True)
    f = graph(["in", "functional/dense/Relu", "model/other2/Relu", "out"], False)
    pairs, unmatched = pair_tensors(q, f)
    assert [(op.index, t, ft) for op, t, ft in pairs] == [(0, 1, 1), (2, 3, 3)]
    assert unmatched == ["op 1 RELU (functional_3/other/Relu)"]


# ---------------------------------------------------------------------------------------------
# Board and browser


def _require(tools: list[str], package: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None and not Path(t).exists()]
    if missing:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail(f"{', '.join(missing)} missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip(f"{', '.join(missing)} not installed (Debian package {package})")


def test_report_with_board(shared_models, tmp_path):
    _require(["arm-none-eabi-gcc"], "gcc-arm-none-eabi")
    model = shared_models / "tflite_micro" / "micro_speech_quantized.tflite"
    if not model.exists():
        pytest.skip("micro_speech_quantized.tflite is absent from the shared models")
    out = tmp_path / "b.html"
    result = edgeconv.report(model, out=out, board="cortex-m0plus")
    inspect = edgeconv.inspect(model, board="cortex-m0plus").to_dict()
    data = check_report(result, out, inspect, conv=True)
    assert inspect["instructions"] > 0 and data["inspect"]["fit"]["board_ram_bytes"] > 0
    page = out.read_text()
    assert f"{inspect['instructions']:,}" in page and "instructions on cortex-m0plus" in page.lower()


def test_report_screenshot_in_chromium(shared_models, tmp_path):
    """The HTML in headless Chromium: a page with many colours (text, tables, charts, images)."""
    _require([CHROMIUM], "chromium")
    model = shared_models / "mlcommons_tiny" / "vww_96_int8.tflite"
    if not model.exists():
        pytest.skip("vww_96_int8.tflite is absent from the shared models")
    out = WRITTEN.get(model.stem)
    if out is None or not out.exists():
        out = tmp_path / "vww.html"
        edgeconv.report(model, out=out)
    shot = tmp_path / "shot.png"
    profile = tmp_path / "chromium-profile"
    subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            out.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=180,
    )
    assert shot.exists(), "chromium wrote no screenshot"
    img = _png(shot)
    assert img.shape[:2] == (2000, 1200)
    counts = _colours(img)
    assert len(counts) > 500, len(counts)  # text, charts and pictures, not one flat colour
    assert counts.max() < 0.8 * counts.sum()  # no colour covers the page
    # the top band is the dark header, the body light: the stylesheet was applied
    assert img[20:60, 10:200, :3].mean() < 80 / 255
