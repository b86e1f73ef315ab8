"""`edgeconv report`: one model's report as a self-contained HTML page, the same as Markdown
(pictures beside it in <stem>_files/) and as JSON.

The numbers come from `inspect` (the API passes its InspectResult in: report.layer_rows and the
totals, so every figure the two share is the same value); this module adds what inspect does
not give: the arena plan's blocks (planner.ArenaPlan), the pictures (pictures.py), the
quantization error per layer against the float Keras model (float TFLite under TFLite's
reference kernels vs the int8 model under TFLite Micro, every tensor kept, paired by the
converter's tensor names), the first convolutions' filters and one sample's feature maps
(TFLite Micro, every tensor kept). Files go through outputs.publish (a manifest; never over a
file edgeconv did not write; all or nothing).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.checking.quanterror import Quantization, dequantize, quantization_error, tensor_label
from edgeconv.frontend.ir import Graph, ModelError, Op
from edgeconv.lowering.compiler import CompiledModel
from edgeconv.reports import pictures

SNR_SAMPLES = 32  # samples the quantization error is accumulated over (seeded choice)
FILTER_LAYERS = 2  # the first convolutions with a spatial kernel drawn as filter grids
MAX_FILTERS = 64  # output channels drawn per filter grid
FEATURE_LAYERS = 6  # layers whose feature maps are drawn (spread over the network)
MAX_FEATURE_CHANNELS = 16  # channels drawn per feature-map grid (the most active ones)
TEMPLATE_DIR = "report"
MISSING_TENSORFLOW = "--float needs TensorFlow to convert the Keras model: pip install 'edgeconv[train]'"


@dataclass
class Content:
    """Everything the templates render, and the JSON's additions to inspect's figures."""

    title: str
    inspect: dict
    board: str | None
    float_model: str | None
    data: str | None
    pictures: list[pictures.Picture] = field(default_factory=list)
    peak_step: int | None = None
    peak_tensors: list[str] = field(default_factory=list)
    blocks: list[dict] = field(default_factory=list)
    quantization: Quantization | None = None
    sample: str | None = None  # which sample the feature maps show
    evaluation: dict | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The arena plan


def arena_blocks(model: CompiledModel) -> list[dict]:
    """Every arena block (tensor buffers with their aliases, kernel scratch) with its offset,
    size and lifetime in steps, in offset order."""
    out = []
    for b in model.plan.blocks:
        scratch = b.key.startswith("s")
        label = (
            f"scratch of step {b.first} ({model.steps[b.first].op.opcode})"
            if scratch
            else tensor_label(model.graph, b.tensors[0])
        )
        out.append(
            {
                "block": b.key,
                "label": label,
                "offset": model.plan.offsets[b.key],
                "size": b.size,
                "first_step": b.first,
                "last_step": b.last,
                "scratch": scratch,
                "tensors": [] if scratch else list(b.tensors),
            }
        )
    return sorted(out, key=lambda d: (d["offset"], d["first_step"], d["block"]))


def peak_step(model: CompiledModel) -> int | None:
    """The first step at which the aligned sizes of the live blocks add up to the lower bound."""
    a = model.plan.alignment
    best, at = -1, None
    for s in range(len(model.steps)):
        live = sum(-(-max(b.size, 1) // a) * a for b in model.plan.blocks if b.first <= s <= b.last)
        if live > best:
            best, at = live, s
    return at


# ---------------------------------------------------------------------------------------------
# Quantization error against the float model


def float_tflite(keras_path: Path) -> bytes:
    """The Keras model behind a batch-1 input (static shapes, as `edgeconv quantize` converts
    it), converted to a float .tflite: its tensor names are what pairs the layers."""
    try:
        import tensorflow as tf
    except ImportError:
        raise ModelError(MISSING_TENSORFLOW) from None
    from edgeconv.quiet import silenced

    if not keras_path.is_file():
        raise ModelError(f"{keras_path}: no such Keras model file")
    try:
        # Like training/quantizing.py's Keras loading (same one-line refusal); kept apart: reports does not import
        # training
        model = tf.keras.models.load_model(keras_path, compile=False)
    except Exception as exc:
        raise ModelError(
            f"{keras_path}: cannot load the Keras model ({' '.join(str(exc).split())[:200] or 'unreadable'})"
        ) from None
    if len(model.inputs) != 1:
        raise ModelError(f"{keras_path}: --float takes a model with one input (this one has {len(model.inputs)})")
    from quantize.ptq import convert_float, fixed_batch

    fixed = fixed_batch(model, tuple(int(d) for d in model.inputs[0].shape[1:]))
    try:
        with silenced():
            return convert_float(fixed)
    except Exception as exc:
        raise ModelError(f"{keras_path}: the TFLite converter failed: {str(exc).splitlines()[0][:300]}") from None


# ---------------------------------------------------------------------------------------------
# Filters and feature maps


def conv_filters(graph: Graph) -> list[tuple[Op, np.ndarray, str]]:
    """The first FILTER_LAYERS convolutions with a kernel wider than 1x1: per output channel
    its dequantized kernel as an image (KH x KW; an RGB image where it reads 3 channels; with
    more input channels, the channel with the largest weights), with a description."""
    out = []
    for op in graph.ops:
        if op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D") or len(op.inputs) < 2 or op.inputs[1] < 0:
            continue
        w = graph.tensors[op.inputs[1]]
        if w.data is None or w.data.ndim != 4 or w.data.shape[1] * w.data.shape[2] <= 1:
            continue
        real = dequantize(w, w.data)
        if op.opcode == "DEPTHWISE_CONV_2D":  # [1, KH, KW, C]: one kernel per channel
            images = [real[0, :, :, c] for c in range(real.shape[3])]
            how = "one kernel per channel"
        elif real.shape[3] == 3:  # [O, KH, KW, 3]: colour filters
            images = [real[o] for o in range(real.shape[0])]
            how = "RGB, each filter scaled to its own range"
        elif real.shape[3] == 1:
            images = [real[o, :, :, 0] for o in range(real.shape[0])]
            how = "one input channel"
        else:
            images = []
            for o in range(real.shape[0]):
                c = int(np.argmax(np.sum(real[o] ** 2, axis=(0, 1))))
                images.append(real[o, :, :, c])
            how = f"of {real.shape[3]} input channels, the one with the largest weights"
        out.append((op, images[:MAX_FILTERS], how))
        if len(out) == FILTER_LAYERS:
            break
    return out


def _rgb(img: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(img)), float(np.max(img))
    return (img - lo) / (hi - lo) if hi > lo else np.full_like(img, 0.5)


def feature_layers(model: CompiledModel) -> list[int]:
    """Op outputs worth drawing (4-D, more than one pixel), at most FEATURE_LAYERS of them spread
    evenly over the network: tensor indices."""
    g = model.graph
    seen, cands = set(), []
    for step in model.steps:
        t = step.kernel.outputs[0] if step.kernel.outputs else None
        if t is None or t in seen:
            continue
        shape = g.tensors[t].shape
        if len(shape) == 4 and shape[1] * shape[2] > 1 and g.tensors[t].quant is not None:
            seen.add(t)
            cands.append(t)
    if len(cands) <= FEATURE_LAYERS:
        return cands
    picks = sorted({round(i * (len(cands) - 1) / (FEATURE_LAYERS - 1)) for i in range(FEATURE_LAYERS)})
    return [cands[i] for i in picks]


# ---------------------------------------------------------------------------------------------
# The whole report


def _label(r: dict) -> str:
    return f"#{r['index']} {r['op']}"


def _human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:g}"


def build_content(
    model_input: Any,
    compiled: CompiledModel,
    inspect: dict,
    *,
    board: str | None = None,
    float_model: Path | None = None,
    data: str | None = None,
    title: str | None = None,
    weights: str = "auto",
) -> Content:
    """Compute everything the report shows (pictures included) without writing anything; a
    progress bar over its stages on a terminal (progress.py)."""
    from edgeconv.progress import progress_task

    stages = 6 + (float_model is not None) + (data is not None)
    with progress_task("Report", total=stages) as advance:
        return _build(
            model_input,
            compiled,
            inspect,
            advance,
            board=board,
            float_model=float_model,
            data=data,
            title=title,
            weights=weights,
        )


def _build(
    model_input: Any,
    compiled: CompiledModel,
    inspect: dict,
    advance,
    *,
    board: str | None,
    float_model: Path | None,
    data: str | None,
    title: str | None,
    weights: str,
) -> Content:
    from edgeconv.lowering.modelsource import model_bytes

    rows = inspect["layers"]
    content = Content(
        title=title or compiled.name,
        inspect=inspect,
        board=board,
        float_model=str(float_model) if float_model is not None else None,
        data=str(data) if data is not None else None,
    )
    pictures.require_matplotlib()

    # memory plan (Gantt)
    content.blocks = arena_blocks(compiled)
    content.peak_step = peak_step(compiled)
    if content.peak_step is not None:
        content.peak_tensors = [
            b["label"] for b in content.blocks if b["first_step"] <= content.peak_step <= b["last_step"]
        ]
    fig = pictures.memory_plan_figure(
        [
            pictures.ArenaBlock(b["label"], b["offset"], b["size"], b["first_step"], b["last_step"], b["scratch"])
            for b in content.blocks
        ],
        inspect["ram_bytes"],
        content.peak_step,
        inspect["arena_lower_bound"],
        len(compiled.steps),
        title=f"Arena plan: {inspect['ram_bytes']:,} B (lower bound {inspect['arena_lower_bound']:,} B)",
    )
    content.pictures.append(
        pictures.picture(
            "memory_plan.png",
            "Arena plan: each block (tensor or kernel scratch, hatched) over the steps it is live, "
            "at its arena offset; the dashed line is the lower bound, the dotted one the peak step.",
            fig,
        )
    )

    advance()
    # cost per layer
    kernels = [r for r in rows if not r["alias"]]
    series = [("MACs", [r["macs"] for r in kernels])]
    if inspect.get("instructions") is not None:
        series.append((f"instructions on {board}", [r["instructions"] for r in kernels]))
    series.append(("weights (bytes of flash)", [r["weights_bytes"] for r in kernels]))
    content.pictures.append(
        pictures.picture(
            "cost.png",
            "Cost per layer, in execution order"
            + (
                f" (instructions counted on {board}'s emulated core)" if inspect.get("instructions") is not None else ""
            ),
            pictures.cost_bars_figure([_label(r) for r in kernels], series, title="Cost per layer"),
        )
    )

    advance()
    # flash and RAM against the board
    fit = inspect.get("fit")
    if fit:
        items = [
            ("flash (firmware)", fit["flash_bytes"], fit["board_flash_bytes"]),
            ("RAM (firmware)", fit["ram_bytes"], fit["board_ram_bytes"]),
        ]
        cap_title = f"{fit['board']} ({fit['part']}): " + ("fits" if fit["fits"] else "does not fit")
    else:
        items = [("constants (flash)", inspect["flash_bytes"], None), ("arena (RAM)", inspect["ram_bytes"], None)]
        cap_title = "Memory the model needs"
    content.pictures.append(
        pictures.picture(
            "capacity.png",
            "Flash and RAM"
            + (
                " of the firmware `edgeconv build` links, against the part's capacity"
                if fit
                else " the model needs (no board given)"
            ),
            pictures.capacity_figure(items, title=cap_title),
        )
    )

    graph = compiled.graph
    data_bytes = model_bytes(model_input)
    timeout = max(60.0, compiled.macs / 1e6)
    ds = None
    if data is not None:  # what `edgeconv evaluate --data` reads: .npz (x, y), a samples folder, image folders
        from edgeconv.reports.evaluate import load_eval_data

        ds = load_eval_data(data, compiled)

    advance()
    # quantization error against the float model
    if float_model is not None:
        flt = float_tflite(Path(float_model))
        x, source = _snr_samples(compiled, ds, data, Path(float_model))
        content.quantization = quantization_error(data_bytes, flt, x, source, timeout)
        advance()
        q = content.quantization
        if q.layers:
            content.pictures.append(
                pictures.picture(
                    "quantization.png",
                    f"SNR of each layer's int8 output (dequantized) against the float model's, over "
                    f"{q.samples} samples ({q.source}); below 20 dB in orange.",
                    pictures.snr_figure(
                        [f"#{layer.op} {layer.opcode}" for layer in q.layers],
                        [float("inf") if layer.snr_db is None else layer.snr_db for layer in q.layers],
                    ),
                )
            )

    advance()
    # filters
    for k, (op, images, how) in enumerate(conv_filters(graph)):
        w = graph.tensors[op.inputs[1]]
        colour = images and np.asarray(images[0]).ndim == 3
        imgs = [_rgb(np.asarray(i)) for i in images] if colour else images
        fig = pictures.image_grid_figure(
            imgs,
            f"op {op.index} {op.opcode}: {w.shape[0] if op.opcode == 'CONV_2D' else w.shape[3]} "
            f"filters {w.shape[1]}x{w.shape[2]} ({how})",
            symmetric=not colour,
            columns=16,
        )
        content.pictures.append(
            pictures.picture(
                f"filters_{k}.png",
                f"Filters of op {op.index} ({op.opcode}), dequantized weights per output channel "
                f"({how}; blue negative, red positive)",
                fig,
            )
        )

    advance()
    # feature maps of one sample
    _feature_maps(content, compiled, data_bytes, model_input, ds, timeout)
    advance()

    if data is not None:
        content.evaluation = evaluation_section(content, model_input, compiled, data, float_model, board, weights)
        advance()
    return content


def _snr_samples(compiled: CompiledModel, ds, data: str | None, keras_path: Path) -> tuple[np.ndarray, str]:
    """Float samples for the SNR (at most SNR_SAMPLES, a seeded choice): from --data, else the
    data set `edgeconv train` recorded beside the Keras model, else seeded uniform noise over the
    input's range (said so)."""
    from edgeconv.training.train import read_metadata

    rng = np.random.default_rng(0)
    x, source = None, None
    if ds is not None:
        x, source = ds.x_float[0], f"{ds.source}"
    else:
        spec = read_metadata(keras_path).get("data")
        if spec is not None:
            from edgeconv.training.datasets import load_dataset

            x, source = load_dataset(spec).x, f"{spec}, the data set recorded beside {keras_path.name}"
    if x is not None and len(x):
        idx = np.sort(rng.choice(len(x), size=min(SNR_SAMPLES, len(x)), replace=False))
        return np.asarray(x[idx], dtype=np.float32), source
    t = compiled.graph.tensors[compiled.graph.inputs[0]]
    if t.quant is not None:
        info = np.iinfo(np.dtype(t.dtype)) if t.dtype in ("int8", "uint8", "int16") else None
        lo, hi = ((info.min - t.quant.zp) * t.quant.s, (info.max - t.quant.zp) * t.quant.s) if info else (-1.0, 1.0)
    else:
        lo, hi = -1.0, 1.0
    x = rng.uniform(lo, hi, size=(SNR_SAMPLES,) + tuple(t.shape)).astype(np.float32)
    return x, f"uniform random inputs over [{lo:.3g}, {hi:.3g}], seed 0 (give --data for real samples)"


def _feature_sample(compiled: CompiledModel, model_input: Any, ds) -> tuple[list[np.ndarray], str]:
    from edgeconv.checking.validation import input_specs, load_shipped_samples, random_inputs
    from edgeconv.lowering.modelsource import is_bytes

    if ds is not None and ds.count:
        y = ds.y[0][0] if ds.y and ds.y[0] is not None else None
        label = f" (label {y.tolist() if np.ndim(y) else int(y)})" if y is not None and np.size(y) <= 4 else ""
        return [np.asarray(x[0]) for x in ds.x], f"{ds.origins[0]} of {ds.source}{label}"
    if not is_bytes(model_input):
        shipped = load_shipped_samples(Path(model_input), input_specs(compiled))
        if shipped:
            return [np.asarray(a) for a in shipped[0].arrays], f"the shipped sample {shipped[0].origin}" + _index_note(
                Path(model_input), shipped[0].origin
            )
    return random_inputs(compiled, 1, 0)[0], "a random input (seed 0; no --data and no shipped sample)"


def _index_note(model_path: Path, origin: str) -> str:
    """What samples/<stem>/INDEX.txt says of a shipped sample (its source and label), if anything."""
    index = model_path.parent / "samples" / model_path.stem / "INDEX.txt"
    try:
        lines = index.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    name = Path(origin).name
    for line in lines:
        fields = line.split()
        if fields and fields[0] == name and len(fields) > 1:
            return " (" + " ".join(fields[1:])[:80] + ")"
    return ""


def _feature_maps(
    content: Content, compiled: CompiledModel, data_bytes: bytes, model_input: Any, ds, timeout: float
) -> None:
    from edgeconv.checking.references import ReferenceFailed, ReferenceUnavailable, TflmReference

    g = compiled.graph
    sample, content.sample = _feature_sample(compiled, model_input, ds)
    layers = feature_layers(compiled)
    if not layers:
        return
    try:
        with TflmReference(data_bytes, preserve_all_tensors=True, timeout=timeout) as ref:
            ref.run([np.asarray(a).reshape(g.tensors[t].shape) for a, t in zip(sample, g.inputs)], len(g.outputs))
            maps = {t: dequantize(g.tensors[t], ref.tensor(t)).reshape(g.tensors[t].shape) for t in layers}
    except (ReferenceFailed, ReferenceUnavailable, ModelError) as exc:
        content.notes.append(f"feature maps: TFLite Micro could not run the model ({' '.join(str(exc).split())[:200]})")
        return
    first = g.tensors[g.inputs[0]]
    if len(first.shape) == 4 and first.shape[1] * first.shape[2] > 1:
        x = dequantize(first, np.asarray(sample[0]).reshape(first.shape))[0]
        imgs = [_rgb(x)] if x.shape[-1] == 3 else [x[:, :, c] for c in range(min(x.shape[-1], MAX_FEATURE_CHANNELS))]
        content.pictures.append(
            pictures.picture(
                "input.png",
                f"The input: {content.sample}",
                pictures.image_grid_figure(
                    imgs, f"input {list(first.shape)}", cmap="viridis", symmetric=False, columns=8
                ),
            )
        )
    for k, t in enumerate(layers):
        m = maps[t][0]
        energy = np.mean(np.abs(m), axis=(0, 1))
        order = sorted(range(m.shape[-1]), key=lambda c: (-float(energy[c]), c))[:MAX_FEATURE_CHANNELS]
        producer = next(s.op for s in compiled.steps if t in s.kernel.outputs)
        fig = pictures.image_grid_figure(
            [m[:, :, c] for c in order],
            f"op {producer.index} {producer.opcode} -> {list(g.tensors[t].shape)}: "
            f"the {len(order)} most active of {m.shape[-1]} channels",
            cmap="viridis",
            symmetric=False,
            columns=8,
            labels=[f"ch {c}" for c in order],
        )
        content.pictures.append(
            pictures.picture(
                f"features_{k}.png",
                f"Feature maps after op {producer.index} ({producer.opcode}), dequantized, for {content.sample}",
                fig,
            )
        )


def evaluation_section(
    content: Content,
    model_input: Any,
    compiled: CompiledModel,
    data: str,
    float_model: Path | None,
    board: str | None,
    weights: str = "auto",
) -> dict:
    """`edgeconv evaluate`'s result on --data (the same function and options: its to_dict() is
    `evaluate --json`), its confusion matrices added to the pictures as evaluation_*.png."""
    from edgeconv.reports.evaluate import confusion_pictures, evaluate_model

    result = evaluate_model(
        model_input, data, float_model=float_model, board=board, name=compiled.name, weights=weights
    )
    for pics in confusion_pictures(result).values():
        for p in pics:
            p.name = f"evaluation_{p.name}"
            content.pictures.append(p)
    return result.to_dict()


# ---------------------------------------------------------------------------------------------
# Rendering


def _env(autoescape: bool):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("edgeconv", f"templates/{TEMPLATE_DIR}"),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = lambda v: "" if v is None else f"{v:,}"
    env.filters["human"] = _human
    env.filters["md"] = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
    env.filters["snr"] = lambda v: "exact" if v is None else ("-inf" if v == float("-inf") else f"{v:.1f}")
    return env


def render(content: Content, files_dir: str, json_dict: dict) -> dict[str, str]:
    """'html' and 'md' texts (the Markdown refers to the pictures in files_dir)."""
    from edgeconv.version import __version__

    ctx = {
        "c": content,
        "i": content.inspect,
        "version": __version__,
        "files_dir": files_dir,
        "pictures": {p.name: p for p in content.pictures},
        "json": json_dict,
    }
    return {
        "html": _env(True).get_template("report.html.j2").render(**ctx),
        "md": _env(False).get_template("report.md.j2").render(**ctx),
    }


def content_dict(content: Content) -> dict:
    """What the report adds to inspect's figures, as plain data."""
    return {
        "peak_step": content.peak_step,
        "peak_tensors": content.peak_tensors,
        "arena_blocks": content.blocks,
        "quantization": content.quantization.to_dict() if content.quantization else None,
        "feature_sample": content.sample,
        "evaluation": content.evaluation,
        "notes": content.notes,
    }


def output_paths(out: Path) -> tuple[Path, Path, Path, str]:
    """report.html -> (report.html, report.md, report.json, 'report_files')."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise ModelError(f"{out}: the report is an HTML file: give -o a name ending in .html")
    return out, out.with_suffix(".md"), out.with_suffix(".json"), f"{out.stem}_files"


def check_output(
    out: str | Path,
    model_input: Any,
    float_model: str | Path | None = None,
    data: str | Path | None = None,
    force: bool = False,
) -> tuple[Path, ...]:
    """Refuse now (before minutes of work) an output name that is not .html or a file in the way
    that edgeconv did not write; returns the paths never to write over (the inputs)."""
    from edgeconv.lowering.modelsource import protected_paths
    from edgeconv.outputs import check_writable

    for given, what in ((float_model, "Keras model"), (data, "data file or folder")):
        if given is not None and not Path(given).exists():
            raise ModelError(f"{given}: no such {what}")
    html, md, js, _ = output_paths(Path(out))
    protected = tuple(protected_paths(model_input)) + tuple(
        Path(p) for p in (float_model, data) if p is not None and Path(p).exists()
    )
    check_writable(html.parent, f"report:{html.stem}", [html.name, md.name, js.name], force=force, protected=protected)
    return protected


def report_files(content: Content, out: Path, json_dict: dict) -> dict[str, bytes]:
    """The files of the report as paths relative to out's folder."""
    html, md, js, files_dir = output_paths(out)
    texts = render(content, files_dir, json_dict)
    files = {
        html.name: texts["html"].encode(),
        md.name: texts["md"].encode(),
        js.name: (json.dumps(json_dict, indent=2, allow_nan=False, default=_json_default) + "\n").encode(),
    }
    for p in content.pictures:
        files[f"{files_dir}/{p.name}"] = p.png
    return files


def _json_default(v):
    raise TypeError(f"{type(v).__name__} in the report's JSON")


def json_safe(v):
    """Non-finite floats (an SNR of -inf) as strings: JSON has no infinities."""
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_safe(x) for x in v]
    return v


def make_report(
    model_input: Any,
    compiled: CompiledModel,
    inspect: dict,
    out: str | Path | None,
    *,
    board: str | None = None,
    float_model: str | Path | None = None,
    data: str | None = None,
    force: bool = False,
    label: str | None = None,
    weights: str = "auto",
):
    """Compute the report and, with `out` (an .html path), publish the HTML, the Markdown, the
    JSON and the pictures folder beside them, all or nothing. Returns a results.ReportResult
    whose to_dict() is the JSON file's content."""
    from edgeconv.outputs import publish, tree_writes
    from edgeconv.results import ReportResult

    paths = output_paths(Path(out)) if out is not None else None
    content = build_content(
        model_input,
        compiled,
        inspect,
        board=board,
        float_model=Path(float_model) if float_model is not None else None,
        data=data,
        title=label,
        weights=weights,
    )
    files_dir = paths[3] if paths else None
    result = ReportResult(
        model=inspect["model"],
        html=str(paths[0]) if paths else None,
        markdown=str(paths[1]) if paths else None,
        json=str(paths[2]) if paths else None,
        pictures=[
            {
                "file": f"{files_dir}/{p.name}" if files_dir else None,
                "caption": p.caption,
                "width": p.width,
                "height": p.height,
            }
            for p in content.pictures
        ],
        board=board,
        float_model=content.float_model,
        data=content.data,
        inspect=inspect,
        report=json_safe(content_dict(content)),
    )
    if paths is not None:
        protected = check_output(paths[0], model_input, float_model, data, force=force)
        files = report_files(content, paths[0], result.to_dict())
        publish(tree_writes(paths[0].parent, f"report:{paths[0].stem}", files), force=force, protected=protected)
    return result
