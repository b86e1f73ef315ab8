"""`edgeconv advise --arch A --data D --board B`: a sweep of a zoo architecture's knobs (width,
depth, kernel size, stride of the first layer, input resolution), each trial trained,
quantized to int8, compiled for the board and measured: int8 accuracy on the held-out test
split (TFLite Micro, which the C equals bit for bit), instructions on the board's emulated core,
and the firmware's RAM and flash beside the part (advise.measure, as inspect --board).

The search is Optuna's NSGA-II (multi-objective: maximize accuracy, minimize instructions and
RAM; fitting the part's RAM and flash is a constraint). The study lives in an SQLite file
beside the figure (`<figure stem>.optuna.db`) or in any database Optuna takes (`study_db`, e.g.
postgresql://host/db): a second run with the same study continues it and never redoes a
finished trial (a knob set already measured is read back, not retrained); several machines
given one database URL work on one study, each stopping once the study holds `trials`
finished trials.

The recommendation: among the trials that fit, those within RECOMMEND_WITHIN of the best
fitting accuracy; of those the fewest instructions, then the least RAM.
"""

from __future__ import annotations

import base64
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeconv.frontend.ir import ModelError

MISSING_OPTUNA = "the sweep needs Optuna: pip install 'edgeconv[advise]'"
RECOMMEND_WITHIN = 0.01  # accuracy (fraction) below the best fitting trial still worth its savings
RULE = (
    "of the trials that fit the board, those within 1 point of the best int8 accuracy; "
    "of those the fewest instructions, then the least RAM"
)
DIRECTIONS = ["maximize", "minimize", "minimize"]  # int8 accuracy, instructions, firmware RAM
LEARNING_RATE = 3e-3  # the demo's: small models on small data sets
BATCH_SIZE = 64
CALIBRATION = 200


def search_space(arch: str, input_shape: tuple[int, ...]) -> dict[str, list]:
    """Each knob the architecture takes, with its choices (categorical, so every trial is a
    model the zoo builds). Resolution is a fraction of the data's own height and width."""
    from edgeconv.training import zoo

    knobs = zoo.knobs(arch)
    space: dict[str, list] = {}
    if "width" in knobs:
        space["width"] = [0.25, 0.5, 1.0, 2.0] if arch != "mobilenetv1" else [0.125, 0.25, 0.5]
    if "depth" in knobs:
        space["depth"] = {
            "tinyconv": [1, 2, 3],
            "dscnn": [1, 2, 3, 4],
            "resnet8": [1, 2, 3],
            "mobilenetv1": [2, 4, 6],
            "conv1d": [1, 2, 3],
        }.get(arch, [1, 2, 3])
    if "kernel" in knobs:
        space["kernel"] = [3, 5]
    if "first_stride" in knobs:
        space["first_stride"] = [1, 2]
    if min(input_shape[:-1]) >= 8:
        space["resolution"] = [0.5, 0.75, 1.0]
    return space


def resized(x: np.ndarray, resolution: float) -> np.ndarray:
    """Samples scaled to `resolution` of their height and width (area averaging), at least 4."""
    if resolution == 1.0:
        return x
    import tensorflow as tf

    if x.ndim == 3:  # (length, channels) sequences
        n = max(4, round(x.shape[1] * resolution))
        return tf.image.resize(x[:, :, None, :], (n, 1), method="area").numpy()[:, :, 0, :].astype(np.float32)
    h, w = (max(4, round(d * resolution)) for d in x.shape[1:3])
    return tf.image.resize(x, (h, w), method="area").numpy().astype(np.float32)


def _require_optuna():
    try:
        import optuna
    except ImportError:
        raise ModelError(MISSING_OPTUNA) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _check_study_file(path: Path) -> None:
    """An existing file at the study's path must be an SQLite database holding Optuna's
    tables (a study to resume); anything else is the user's and is refused."""
    if not path.exists():
        return
    import sqlite3

    ok = False
    if path.is_file():
        with open(path, "rb") as f:
            ok = f.read(16) == b"SQLite format 3\x00"
        if ok:
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                    ok = (
                        db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='studies'").fetchone()
                        is not None
                    )
            except sqlite3.Error:
                ok = False
    if not ok:
        raise ModelError(f"{path} is in the way and is not an Optuna study; give another -o or --study-db")


def study_name(arch: str, data: str, board: str, epochs: int, seed: int) -> str:
    return f"edgeconv-advise:{arch}:{Path(str(data)).stem}:{board}:epochs{epochs}:seed{seed}"


def run_sweep(
    arch: str,
    data: str | Path,
    board_name: str,
    trials: int = 20,
    epochs: int = 10,
    seed: int = 0,
    study_db: str | None = None,
    out: str | Path | None = None,
    force: bool = False,
    progress=None,
) -> dict:
    """Run (or continue) the study until it holds `trials` finished trials; draw the figure
    into `out` (.png); return the summary (AdviseResult.sweep)."""
    from edgeconv.frontend.boards import load_board
    from edgeconv.outputs import FolderWrite, check_writable, publish
    from edgeconv.reports.pictures import png_bytes, require_matplotlib, sweep_figure
    from edgeconv.training import zoo
    from edgeconv.training.datasets import load_dataset, split
    from edgeconv.training.train import TEST_FRACTION

    start = time.monotonic()
    optuna = _require_optuna()
    require_matplotlib()
    if arch not in zoo.ARCHITECTURES:
        raise ModelError(f"unknown architecture {arch!r} (choose from {', '.join(zoo.ARCHITECTURES)})")
    if trials < 1 or epochs < 1:
        raise ModelError("--trials and --epochs must be at least 1")
    board = load_board(board_name)
    from edgeconv.targets.emulate import can_count_instructions

    if board.family == "host" or not can_count_instructions(board):
        raise ModelError(
            f"board {board.name}: no instruction-counting emulator models it, and the sweep minimizes "
            "instructions (choose a Cortex-M or RISC-V profile)"
        )
    data_stem = Path(str(data)).stem
    out = Path(out) if out is not None else Path(f"{arch}_{data_stem}_{board.name}_sweep.png")
    if out.suffix.lower() != ".png":
        raise ModelError(f"{out}: the sweep's figure is a .png")
    job = f"advise:{out.stem}"
    model_out = out.with_suffix(".tflite")  # the recommended trial's int8 model
    check_writable(out.parent, job, [out.name, model_out.name], force=force)
    if study_db is None:
        db_path = out.with_name(out.stem + ".optuna.db")
        _check_study_file(db_path)
        storage = f"sqlite:///{db_path.resolve()}"
        shown_storage = str(db_path)
    else:
        storage = shown_storage = study_db
    ds = load_dataset(data)
    want = 2 if arch == "conv1d" else 3
    if len(ds.input_shape) != want:
        raise ModelError(
            f"{data}: {arch} takes {'(length, channels)' if want == 2 else '(height, width, channels)'} "
            f"samples, the data has shape {list(ds.input_shape)}"
        )
    train_ds, test_ds = split(ds, TEST_FRACTION, seed)
    space = search_space(arch, ds.input_shape)
    name = study_name(arch, data, board.name, epochs, seed)
    say = progress or (lambda what, done, total: None)

    # Fit as a constraint: Optuna 5 reads each trial's set_constraint values, earlier versions
    # a constraints_func (the same values, kept in the trial's user attributes).
    modern = hasattr(optuna.trial.Trial, "set_constraint")
    sampler = optuna.samplers.NSGAIISampler(
        seed=seed,
        population_size=max(4, min(10, trials // 2)),
        **({} if modern else {"constraints_func": lambda t: t.user_attrs.get("constraints", [1.0, 1.0])}),
    )

    def constrain(trial, values: list[float]) -> None:
        trial.set_user_attr("constraints", values)
        if modern:
            trial.set_constraint("ram", values[0])
            trial.set_constraint("flash", values[1])

    errors: tuple = (ValueError, ImportError, RuntimeError, OSError, optuna.exceptions.OptunaError)
    try:
        import sqlalchemy.exc  # Optuna's RDB storage: a bad URL, an unreachable server, another schema

        errors += (sqlalchemy.exc.SQLAlchemyError,)
    except ImportError:
        pass
    try:
        study = optuna.create_study(
            study_name=name, storage=storage, directions=DIRECTIONS, sampler=sampler, load_if_exists=True
        )
    except errors as exc:
        raise ModelError(f"cannot open the study in {shown_storage}: {str(exc).splitlines()[0][:200]}") from None
    study.set_user_attr("arch", arch)
    study.set_user_attr("data", str(data))
    study.set_user_attr("board", board.name)

    def complete() -> list:
        return [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]

    def measured() -> list:
        """The finished trials that trained a knob set (not those that read one back)."""
        return [t for t in complete() if "copied_from" not in t.user_attrs]

    before = len(measured())

    running: list[int] = []  # the trial this process is running, marked failed if interrupted

    def objective(trial):
        running[:] = [trial.number]
        params = {k: trial.suggest_categorical(k, v) for k, v in space.items()}
        for done in complete():  # the same knobs measured before: read back, not retrained
            if done.params == params and "accuracy" in done.user_attrs:
                for k, v in done.user_attrs.items():
                    trial.set_user_attr(k, v)
                constrain(trial, done.user_attrs["constraints"])
                trial.set_user_attr("copied_from", done.number)
                return tuple(done.values)
        n_done = len(measured())
        say(f"trial {n_done + 1}/{trials}: training {params}", n_done, trials)
        figures = measure_trial(arch, params, train_ds, test_ds, board, board_name, epochs, seed, trial.number)
        for k, v in figures.items():
            trial.set_user_attr(k, v)
        constrain(trial, figures["constraints"])
        return figures["accuracy"], figures["instructions"], figures["ram_bytes"]

    def enough(study_, trial_) -> None:
        n_done = len(measured())
        say(f"{n_done}/{trials} trials", n_done, trials)
        if n_done >= trials:
            study_.stop()

    if before < trials:
        from edgeconv.progress import progress_task

        with progress_task(f"sweep: {arch} on {data_stem}", total=trials) as advance:
            advance(before)

            def tick(study_, trial_) -> None:
                advance(
                    0 if "copied_from" in trial_.user_attrs else 1,
                    description=f"sweep: {arch} on {data_stem}, trial {trial_.number} done",
                )

            # A knob set the sampler proposes again is read back and not counted; the cap ends
            # a search whose space holds fewer knob sets than asked for.
            try:
                study.optimize(
                    objective, n_trials=3 * (trials - before) + 10, callbacks=[tick, enough], catch=(ModelError,)
                )
            except BaseException:  # interrupted (Ctrl-C): the trial in progress is failed, not left running
                for number in running:
                    try:
                        study.tell(number, state=optuna.trial.TrialState.FAIL)
                    except (RuntimeError, ValueError, optuna.exceptions.OptunaError):
                        pass  # Optuna finished it already
                raise
    finished = measured()
    rows = [_row(t) for t in finished]
    pareto, recommended = pareto_and_pick(rows)
    fig = sweep_figure(
        rows,
        board.ram_bytes or None,
        board.flash_bytes or None,
        pareto,
        recommended["number"] if recommended else None,
        title=f"{arch} on {data_stem} for {board.name}: {len(rows)} trials",
    )
    files = {out.name: png_bytes(fig)}
    best_trial = next((t for t in finished if recommended and t.number == recommended["number"]), None)
    if best_trial is not None and "tflite_b64" in best_trial.user_attrs:
        files[model_out.name] = base64.b64decode(best_trial.user_attrs["tflite_b64"])
    publish([FolderWrite(out.parent, job, files)], force=force)
    failed = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.FAIL]
    return {
        "arch": arch,
        "data": str(data),
        "study_name": name,
        "storage": shown_storage,
        "space": space,
        "trials_requested": trials,
        "epochs": epochs,
        "seed": seed,
        "completed": len(rows),
        "new_trials": len(rows) - before,
        "failed": len(failed),
        "fitting": sum(1 for r in rows if r["fits"]),
        "pareto": pareto,
        "recommended": recommended,
        "rule": RULE,
        "figure": str(out),
        "model": str(model_out) if model_out.name in files else None,  # the recommended model (.tflite)
        "board_ram_bytes": board.ram_bytes,
        "board_flash_bytes": board.flash_bytes,
        "trials": rows,
        "seconds": round(time.monotonic() - start, 1),
    }


def measure_trial(
    arch: str, params: dict, train_ds, test_ds, board, board_name: str, epochs: int, seed: int, number: int
) -> dict:
    """Train the knob set, quantize it to int8 (200 calibration samples), compile it for the
    board and measure it."""
    import tensorflow as tf

    from edgeconv.lowering.compiler import compile_bytes
    from edgeconv.reports.advise import measure
    from edgeconv.training import zoo
    from edgeconv.training.quantizing import quantize_keras
    from edgeconv.training.train import seed_everything

    knobs = {k: v for k, v in params.items() if k != "resolution"}
    resolution = float(params.get("resolution", 1.0))
    train_x, test_x = resized(train_ds.x, resolution), resized(test_ds.x, resolution)
    seed_everything(seed)
    try:
        model = zoo.build_model(arch, train_x.shape[1:], train_ds.num_classes, **knobs)
    except ValueError as exc:
        raise ModelError(f"{arch} {params}: cannot build: {exc}") from None
    model.compile(
        optimizer=tf.keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    order = np.random.default_rng(seed).permutation(len(train_ds.y))
    model.fit(train_x[order], train_ds.y[order], epochs=epochs, batch_size=BATCH_SIZE, verbose=0, shuffle=True)
    with tempfile.TemporaryDirectory(prefix="edgeconv-sweep-") as tmp:
        path = Path(tmp) / f"trial{number}.tflite"
        q = quantize_keras(
            model,
            train_x,
            test_x,
            test_ds.y,
            path,
            calib=CALIBRATION,
            seed=seed,
            layer_report=False,
            class_names=train_ds.class_names,
        )
        tflite = path.read_bytes()
    compiled = compile_bytes(tflite, f"trial{number}", board=board)
    m = measure(compiled, board, board_name, instructions=True)
    ram_limit, flash_limit = board.ram_bytes or 0, board.flash_bytes or 0
    return {
        "accuracy": float(q.int8_accuracy),
        "float_accuracy": float(q.float_accuracy),
        "instructions": int(m.instructions),
        "ram_bytes": int(m.ram_bytes),
        "flash_bytes": int(m.flash_bytes),
        "arena_bytes": int(m.arena_bytes),
        "macs": int(m.macs),
        "fits": bool(m.fits),
        "input_shape": [int(d) for d in train_x.shape[1:]],
        # <= 0 where it fits (Optuna's convention): bytes over the part's RAM and flash
        "constraints": [
            float(m.ram_bytes - ram_limit) if ram_limit else -1.0,
            float(m.flash_bytes - flash_limit) if flash_limit else -1.0,
        ],
        # a model that fits is small: kept in the study, so the recommended one can be written
        # whichever run or machine trained it
        **({"tflite_b64": base64.b64encode(tflite).decode("ascii")} if m.fits else {}),
    }


def _row(t) -> dict:
    a = t.user_attrs
    return {
        "number": t.number,
        "params": dict(t.params),
        "accuracy": a["accuracy"],
        "float_accuracy": a.get("float_accuracy"),
        "instructions": a["instructions"],
        "ram_bytes": a["ram_bytes"],
        "flash_bytes": a["flash_bytes"],
        "arena_bytes": a.get("arena_bytes"),
        "macs": a.get("macs"),
        "fits": a["fits"],
        "input_shape": a.get("input_shape"),
        "copied_from": a.get("copied_from"),
    }


def pareto_and_pick(rows: list[dict]) -> tuple[list[int], dict | None]:
    """The trial numbers on the Pareto front of the fitting trials (higher accuracy, fewer
    instructions, less RAM: none better in all three and strictly in one), and the one the
    rule recommends."""
    fit = [r for r in rows if r["fits"]]

    def dominates(a: dict, b: dict) -> bool:
        ge = (
            a["accuracy"] >= b["accuracy"]
            and a["instructions"] <= b["instructions"]
            and a["ram_bytes"] <= b["ram_bytes"]
        )
        gt = a["accuracy"] > b["accuracy"] or a["instructions"] < b["instructions"] or a["ram_bytes"] < b["ram_bytes"]
        return ge and gt

    front = sorted(r["number"] for r in fit if not any(dominates(o, r) for o in fit))
    if not fit:
        return front, None
    best = max(r["accuracy"] for r in fit)
    near = [r for r in fit if r["accuracy"] >= best - RECOMMEND_WITHIN - 1e-12]
    pick = min(near, key=lambda r: (r["instructions"], r["ram_bytes"], -r["accuracy"], r["number"]))
    return front, pick
