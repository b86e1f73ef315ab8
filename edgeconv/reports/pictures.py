"""Every matplotlib figure edgeconv draws (reports, evaluation, the advisor), and the one way
to turn a figure into image bytes.

matplotlib is optional (the `report` extra): `require_matplotlib()` gives one clear line when
it is missing. Figures use the Agg backend (no display), a fixed size and DPI, and carry no
date in their metadata, so the same input draws byte-identical PNG/SVG files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgeconv.frontend.ir import ModelError

MISSING_MATPLOTLIB = "pictures need matplotlib: pip install 'edgeconv[report]'"

DPI = 100
"""Every PNG is drawn at this DPI: a figure of (w, h) inches is (w*DPI, h*DPI) pixels."""

# One palette for every figure (colour-blind safe, the Okabe-Ito set).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
ACCENT = "#D55E00"
MUTED = "#888888"


def require_matplotlib() -> Any:
    """matplotlib.pyplot on the Agg backend, or a ModelError (exit 2) naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise ModelError(MISSING_MATPLOTLIB) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def new_figure(width_in: float, height_in: float) -> Any:
    """A figure of a fixed size (inches) on the Agg backend, edgeconv's style applied."""
    plt = require_matplotlib()
    # whole pixels: a PNG of exactly round(width_in * DPI) x round(height_in * DPI)
    fig = plt.figure(figsize=(round(width_in * DPI) / DPI, round(height_in * DPI) / DPI), dpi=DPI)
    return fig


def style_axes(ax: Any) -> None:
    """The look every chart shares: no top/right spines, light grid behind the data."""
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.set_axisbelow(True)
    ax.grid(True, color="#e4e4e4", linewidth=0.6)
    ax.tick_params(labelsize=8)


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes at DPI, exactly figsize*DPI pixels, no date or version in the
    metadata; the figure is closed."""
    import io

    plt = require_matplotlib()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": "edgeconv"})
    finally:
        plt.close(fig)
    return buf.getvalue()


@dataclass
class Picture:
    """A drawn figure: a file name (``memory_plan.png``), a caption and the PNG bytes."""

    name: str
    caption: str
    png: bytes
    width: int
    height: int

    def data_uri(self) -> str:
        import base64

        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def picture(name: str, caption: str, fig: Any) -> Picture:
    """Render `fig` to a Picture (its pixel size taken from the figure)."""
    png = png_bytes(fig)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the IHDR chunk
    return Picture(name, caption, png, width, height)


def _fmt_bytes(n: float) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{int(n)} B"


@dataclass
class ArenaBlock:
    """One arena block for the memory picture: a label, its offset and size (bytes), and its
    lifetime over the kernel steps (first and last step, inclusive)."""

    label: str
    offset: int
    size: int
    first: int
    last: int
    scratch: bool = False


def memory_plan_figure(
    blocks: Sequence[ArenaBlock],
    arena_bytes: int,
    peak_step: int | None,
    lower_bound: int,
    n_steps: int,
    title: str = "Arena plan",
) -> Any:
    """Gantt-style memory plan: each block a rectangle over its lifetime (x: step) at its
    arena offset (y), height = size; the arena size, the lower bound (largest sum of live
    blocks at one step) and the peak step are marked."""
    from matplotlib.patches import Rectangle

    fig = new_figure(10, 5)
    ax = fig.add_subplot(1, 1, 1)
    style_axes(ax)
    scale, unit = (1024, "KiB") if arena_bytes >= 4096 else (1, "B")
    for i, b in enumerate(blocks):
        colour = MUTED if b.scratch else PALETTE[i % 6]
        ax.add_patch(
            Rectangle(
                (b.first - 0.45, b.offset / scale),
                (b.last - b.first) + 0.9,
                b.size / scale,
                facecolor=colour,
                edgecolor="white",
                linewidth=0.6,
                alpha=0.85,
                hatch="//" if b.scratch else None,
            )
        )
    top = max(arena_bytes, lower_bound, 1) / scale
    ax.axhline(arena_bytes / scale, color="#333333", linewidth=1.0)
    ax.text(
        n_steps - 0.5,
        arena_bytes / scale,
        f" arena {_fmt_bytes(arena_bytes)}",
        va="bottom",
        ha="right",
        fontsize=8,
        color="#333333",
    )
    ax.axhline(lower_bound / scale, color=ACCENT, linewidth=1.0, linestyle="--")
    ax.text(
        -0.5,
        lower_bound / scale,
        f" lower bound {_fmt_bytes(lower_bound)}",
        va="bottom",
        ha="left",
        fontsize=8,
        color=ACCENT,
    )
    if peak_step is not None:
        ax.axvline(peak_step, color=ACCENT, linewidth=1.0, linestyle=":")
        ax.text(peak_step, top * 1.06, f"peak step {peak_step}", ha="center", va="bottom", fontsize=8, color=ACCENT)
    ax.set_xlim(-0.8, max(n_steps, 1) - 0.2)
    ax.set_ylim(0, top * 1.15)
    ax.set_xlabel("step (kernel in execution order)", fontsize=9)
    ax.set_ylabel(f"arena offset ({unit})", fontsize=9)
    ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def cost_bars_figure(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    title: str = "Cost per layer",
) -> Any:
    """One horizontal bar chart per series (MACs, instructions ...), layers top to bottom in
    execution order, sharing the layer axis."""
    n = max(len(labels), 1)
    height = min(max(2.2, 0.22 * n + 1.2), 14)
    fig = new_figure(10, height)
    axes = fig.subplots(1, len(series), sharey=True, squeeze=False)[0]
    ys = list(range(len(labels)))
    for k, (ax, (name, values)) in enumerate(zip(axes, series)):
        style_axes(ax)
        ax.grid(True, axis="x", color="#e4e4e4", linewidth=0.6)
        ax.grid(False, axis="y")
        ax.barh(ys, list(values), color=PALETTE[k % len(PALETTE)], height=0.7)
        ax.set_title(name, fontsize=9, loc="left")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        ax.xaxis.get_offset_text().set_fontsize(7)
    axes[0].set_yticks(ys)
    axes[0].set_yticklabels(labels, fontsize=7)
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def capacity_figure(items: Sequence[tuple[str, int, int | None]], title: str = "Memory") -> Any:
    """Used against capacity, one horizontal bar per memory (name, used bytes, capacity bytes
    or None where no board is known)."""
    fig = new_figure(10, 0.6 * max(len(items), 1) + 1.0)
    ax = fig.add_subplot(1, 1, 1)
    style_axes(ax)
    ax.grid(False, axis="y")
    ys = list(range(len(items)))
    if not any(cap for _, _, cap in items):  # no board: the sizes themselves
        top = max((used for _, used, _ in items), default=1) or 1
        for y, (_name, used, _) in zip(ys, items):
            ax.barh(y, used / 1024, color=PALETTE[y % len(PALETTE)], height=0.6)
            ax.text(used / 1024 + top / 1024 * 0.01, y, f" {_fmt_bytes(used)}", va="center", fontsize=8)
        ax.set_yticks(ys)
        ax.set_yticklabels([i[0] for i in items], fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, top / 1024 * 1.2)
        ax.set_xlabel("KiB (give --board for the part's capacity)", fontsize=9)
        ax.set_title(title, fontsize=10, loc="left")
        fig.tight_layout()
        return fig
    for y, (_name, used, cap) in zip(ys, items):
        if cap:
            ax.barh(y, 100.0, color="#eeeeee", height=0.6, edgecolor="#bbbbbb")
            pct = 100.0 * used / cap
            colour = ACCENT if used > cap else PALETTE[0]
            ax.barh(y, min(pct, 100.0), color=colour, height=0.6)
            ax.text(
                min(pct, 100.0) + 1,
                y,
                f"{_fmt_bytes(used)} of {_fmt_bytes(cap)} ({pct:.1f} %)",
                va="center",
                fontsize=8,
            )
        else:
            ax.text(1, y, f"{_fmt_bytes(used)} (no board: capacity unknown)", va="center", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([i[0] for i in items], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 130)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("% of the board's capacity", fontsize=9)
    ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def snr_figure(labels: Sequence[str], snr_db: Sequence[float], title: str = "Quantization error") -> Any:
    """SNR in dB (float vs int8) per matched layer, a horizontal bar each."""
    n = max(len(labels), 1)
    fig = new_figure(10, min(max(2.2, 0.24 * n + 1.2), 12))
    ax = fig.add_subplot(1, 1, 1)
    style_axes(ax)
    ax.grid(False, axis="y")
    ys = list(range(len(labels)))
    finite = [v if v == v and abs(v) != float("inf") else 0.0 for v in snr_db]
    colours = [ACCENT if v < 20 else PALETTE[2] for v in finite]
    ax.barh(ys, finite, color=colours, height=0.7)
    for y, v in zip(ys, snr_db):
        ax.text(max(finite[y], 0) + 0.5, y, "exact" if v == float("inf") else f"{v:.1f} dB", va="center", fontsize=7)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    # The house style's last lines (title top left, tight layout), like the confusion matrix's: a figure's own axes come
    # before
    ax.set_xlabel("SNR of the int8 activations against the float model (dB; higher is better)", fontsize=9)
    ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def image_grid_figure(
    images: Sequence[Any],
    title: str,
    cmap: str = "RdBu_r",
    symmetric: bool = True,
    columns: int = 8,
    labels: Sequence[str] | None = None,
) -> Any:
    """A grid of small images (filters or feature maps; 2-D, or H x W x 3 in [0, 1] for colour)
    drawn as one mosaic, each scaled on its own: `symmetric` centres the colour map on 0
    (weights, blue negative and red positive); otherwise min..max (activations)."""
    import numpy as np
    from matplotlib.patches import Rectangle

    arrs = [np.asarray(i, dtype=np.float64) for i in images] or [np.zeros((1, 1))]
    arrs = [a[None, :] if a.ndim == 1 else a for a in arrs]
    colour = any(a.ndim == 3 for a in arrs)
    n = len(arrs)
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    th = max(a.shape[0] for a in arrs)
    tw = max(a.shape[1] for a in arrs)
    gap = max(1, round(0.08 * max(th, tw)))
    lab = max(1, round(0.16 * th)) if labels else 0
    height, width = rows * (th + lab + gap) + gap, cols * (tw + gap) + gap
    mosaic = np.full((height, width, 3) if colour else (height, width), np.nan)
    boxes = []
    for k, a in enumerate(arrs):
        r, c = divmod(k, cols)
        y, x = gap + r * (th + lab + gap) + lab, gap + c * (tw + gap)
        if colour:
            tile = a if a.ndim == 3 else np.repeat(a[:, :, None], 3, axis=2)
        elif symmetric:
            m = float(np.max(np.abs(a))) or 1.0
            tile = a / m
        else:
            lo, hi = float(np.min(a)), float(np.max(a))
            tile = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        mosaic[y : y + a.shape[0], x : x + a.shape[1]] = tile
        boxes.append((x, y, a.shape[1], a.shape[0]))
    if colour:
        mosaic = np.where(np.isnan(mosaic), 1.0, mosaic)
    width_in = min(10.0, max(4.0, 0.9 * cols * max(1.0, tw / 12))) if n > 1 else 3.5
    title_in = 0.4
    height_in = width_in * height / width
    if height_in > 14.0:  # very tall: narrower
        width_in, height_in = width_in * 14.0 / height_in, 14.0
    fig = new_figure(width_in, height_in + title_in)
    ax = fig.add_axes((0.0, 0.0, 1.0, height_in / (height_in + title_in)))
    import matplotlib

    cm = matplotlib.colormaps[cmap].with_extremes(bad="white")
    ax.imshow(
        mosaic if colour else np.ma.masked_invalid(mosaic),
        cmap=None if colour else cm,
        vmin=-1.0 if symmetric else 0.0,
        vmax=1.0,
        interpolation="nearest",
        aspect="auto",
    )
    for k, (x, y, w, h) in enumerate(boxes):
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor="#bbbbbb", linewidth=0.5))
        if labels:
            ax.text(
                x - 0.5 + w / 2, y - 0.5 - lab / 2, labels[k], ha="center", va="center", fontsize=6, color="#333333"
            )
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.axis("off")
    fig.text(0.01, 1 - 0.5 * title_in / (height_in + title_in), title, fontsize=9, ha="left", va="center")
    return fig


def confusion_matrix_figure(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str] | None = None, title: str = "Confusion matrix"
) -> Any:
    """A confusion matrix (rows: true class, columns: predicted), each cell shaded by the share
    of its row (recall on the diagonal) and labelled with its count; empty cells left blank.
    (edgeconv evaluate --report; the evaluation section of edgeconv report.)"""
    import numpy as np

    m = np.asarray(matrix, dtype=np.int64)
    k = max(int(m.shape[0]), 1)
    names = (
        [str(n) for n in class_names]
        if class_names is not None and len(class_names) == k
        else [str(i) for i in range(k)]
    )
    side = min(max(3.2, 0.42 * k + 1.8), 14.0)
    fig = new_figure(side + 1.0, side)
    ax = fig.add_subplot(1, 1, 1)
    totals = m.sum(axis=1, keepdims=True)
    share = np.divide(m, totals, out=np.zeros(m.shape, dtype=np.float64), where=totals > 0)
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    if k <= 40:
        size = 8 if k <= 12 else 6 if k <= 24 else 4
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if m[i, j]:
                    ax.text(
                        j,
                        i,
                        str(int(m[i, j])),
                        ha="center",
                        va="center",
                        fontsize=size,
                        color="white" if share[i, j] > 0.55 else "#222222",
                    )
    ticks = list(range(k))
    step = 1 if k <= 40 else (k + 39) // 40
    ax.set_xticks(ticks[::step])
    ax.set_yticks(ticks[::step])
    label_size = 8 if k <= 12 else 6
    ax.set_xticklabels(
        [n[:14] for n in names][::step], rotation=90 if k > 6 or max(map(len, names)) > 4 else 0, fontsize=label_size
    )
    ax.set_yticklabels([n[:14] for n in names][::step], fontsize=label_size)
    # The house style's last lines (title top left, tight layout), like the SNR figure's: a figure's own axes come
    # before
    ax.set_xlabel("predicted class", fontsize=9)
    ax.set_ylabel("true class", fontsize=9)
    ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def sweep_figure(
    trials: Sequence[dict],
    ram_limit: int | None,
    flash_limit: int | None,
    pareto: Sequence[int],
    recommended: int | None,
    title: str = "Sweep",
) -> Any:
    """`edgeconv advise --arch`: int8 accuracy against instructions and against firmware RAM,
    one point per trial (dicts with number, accuracy, instructions, ram_bytes, fits); trials
    that do not fit the board hollow grey, the Pareto front of those that fit joined, the
    recommended trial starred, the board's RAM drawn as a line (and its flash named)."""
    fig = new_figure(10, 4.2)
    axes = fig.subplots(1, 2, sharey=True)
    front = set(pareto)
    for ax, key, label in (
        (axes[0], "instructions", "instructions per inference"),
        (axes[1], "ram_bytes", "firmware RAM (B)"),
    ):
        style_axes(ax)
        fit = [t for t in trials if t["fits"]]
        over = [t for t in trials if not t["fits"]]
        ax.scatter(
            [t[key] for t in over],
            [t["accuracy"] for t in over],
            facecolors="none",
            edgecolors=MUTED,
            s=28,
            label="does not fit",
        )
        ax.scatter([t[key] for t in fit], [t["accuracy"] for t in fit], color=PALETTE[0], s=28, label="fits")
        on_front = sorted((t for t in fit if t["number"] in front), key=lambda t: t[key])
        if on_front:
            ax.plot(
                [t[key] for t in on_front],
                [t["accuracy"] for t in on_front],
                color=PALETTE[2],
                linewidth=1.2,
                marker="o",
                markersize=4,
                label="Pareto front (fits)",
            )
        best = [t for t in trials if t["number"] == recommended]
        if best:
            ax.scatter(
                [best[0][key]],
                [best[0]["accuracy"]],
                marker="*",
                s=220,
                color=ACCENT,
                zorder=5,
                label=f"recommended (trial {recommended})",
            )
        if key == "ram_bytes" and ram_limit:
            ax.axvline(ram_limit, color=ACCENT, linestyle="--", linewidth=1)
            ax.text(
                ram_limit,
                ax.get_ylim()[1],
                f"RAM {_fmt_bytes(ram_limit)} ",
                color=ACCENT,
                fontsize=7,
                va="top",
                ha="right",
                rotation=90,
            )
        ax.set_xlabel(label, fontsize=8)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    axes[0].set_ylabel("int8 accuracy (test split)", fontsize=8)
    axes[0].legend(fontsize=7, loc="lower right")
    limits = (f"; board flash {_fmt_bytes(flash_limit)}" if flash_limit else "") + (
        f", RAM {_fmt_bytes(ram_limit)}" if ram_limit else ""
    )
    fig.suptitle(title + limits, fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return fig
