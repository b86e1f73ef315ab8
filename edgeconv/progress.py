"""Progress bars for the long steps (training epochs, calibration, validation samples, several
models, the op-by-op oracle, firmware builds, sweeps), on stderr so stdout keeps --json clean.

The one API every module uses:

    from edgeconv.progress import progress_task, track

    with progress_task("Training", total=epochs) as advance:
        for epoch in range(epochs):
            ...
            advance()            # one step; advance(3) for three

    for sample in track(samples, "Validating"):
        ...

Both are silent no-ops unless progress was switched on *and* stderr is a terminal:

- The CLI switches it on for every command except under --json (`show_progress(not as_json)`).
- The Python API is silent by default; a caller who wants bars wraps the calls:
  `with edgeconv.show_progress(): edgeconv.train(...)`.
- Never on a pipe, a file or CI (stderr not a TTY), nor with TERM=dumb or EDGECONV_NO_PROGRESS=1.
  EDGECONV_PROGRESS=1 forces it on a non-terminal (for tests of this module).

Nested tasks (a sweep that trains, a demo that validates) share one live display: each task is one
line, removed when it ends (transient), so finished steps leave nothing behind but the command's
own output. The state is process-wide (not per thread): a worker thread's `advance()` updates the
bar its caller opened.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

Advance = Callable[..., None]

_lock = threading.RLock()
_requested: list[bool] = []  # stack of show_progress() switches; empty means off
_live: dict = {"progress": None, "tasks": 0}


def _noop(steps: float = 1, **_: object) -> None:
    return None


@contextmanager
def show_progress(on: bool = True) -> Iterator[None]:
    """Switch progress bars on (or, with on=False, off) for the calls made inside. Nestable; the
    innermost wins. Bars appear only where stderr is a terminal (see `progress_enabled`)."""
    with _lock:
        _requested.append(bool(on))
    try:
        yield
    finally:
        with _lock:
            _requested.pop()


def progress_enabled() -> bool:
    """True when a task would draw a bar: switched on by `show_progress`, and stderr a terminal
    (or EDGECONV_PROGRESS=1), not TERM=dumb, not EDGECONV_NO_PROGRESS=1."""
    if not _requested or not _requested[-1]:
        return False
    if os.environ.get("EDGECONV_NO_PROGRESS", "") not in ("", "0"):
        return False
    if os.environ.get("EDGECONV_PROGRESS", "") not in ("", "0"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def _terminal():
    """A file on the terminal stderr is now: a duplicate of fd 2, so that bars stay visible while
    quiet.silenced() sends fd 2 to /dev/null around a chatty library call (the TFLite converter
    calibrating). Returns (file, close)."""
    try:
        stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", encoding="utf-8", errors="replace")
    except (AttributeError, ValueError, OSError):  # no real descriptor (a test's capture)
        return sys.stderr, lambda: None
    return stream, stream.close


def _new_progress():
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    stream, close = _terminal()
    forced = os.environ.get("EDGECONV_PROGRESS", "") not in ("", "0")
    console = Console(file=stream, force_terminal=True if forced else None, width=80 if forced else None)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    return progress, close


@contextmanager
def progress_task(description: str, total: float | None = None) -> Iterator[Advance]:
    """A bar labelled `description` with `total` steps (None: a spinner with a count). Yields
    `advance(steps=1, description=None)`; a no-op function when progress is off."""
    if not progress_enabled():
        yield _noop
        return
    with _lock:
        progress = _live["progress"]
        owner = progress is None
        if owner:
            progress, close = _new_progress()
            progress.start()
            _live["progress"] = progress
        task = progress.add_task(description, total=total)
        _live["tasks"] += 1

    def advance(steps: float = 1, description: str | None = None) -> None:
        if description is not None:
            progress.update(task, advance=steps, description=description)
        else:
            progress.advance(task, steps)

    try:
        yield advance
    finally:
        with _lock:
            progress.remove_task(task)
            _live["tasks"] -= 1
            if owner:
                progress.stop()
                close()
                _live["progress"] = None


def track(items: Iterable[T], description: str, total: float | None = None) -> Iterator[T]:
    """Iterate over `items`, advancing a bar per item (total: len(items) when it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_task(description, total=total) as advance:
        for item in items:
            yield item
            advance()
