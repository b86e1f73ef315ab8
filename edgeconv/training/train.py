"""`edgeconv train`: fit a zoo architecture on a data set, save a .keras model, its training
history and the metadata the later steps (quantize, demo) read: data set, split and classes."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeconv.frontend.ir import ModelError
from edgeconv.outputs import FolderWrite, check_writable, publish
from edgeconv.quiet import quiet_tensorflow_logs
from edgeconv.training.datasets import DataError, Dataset, load_dataset, split

quiet_tensorflow_logs()

TEST_FRACTION = 0.2


@dataclass
class TrainResult:
    model_path: Path
    history_path: Path
    metadata_path: Path
    float_accuracy: float  # on the held-out test split
    history: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


def metadata_path_for(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + ".edgeconv.json")


def read_metadata(model_path: Path) -> dict:
    path = metadata_path_for(Path(model_path))
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: unreadable metadata ({exc})") from None


def seed_everything(seed: int) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _EpochProgress(advance, arch: str):
    """A Keras callback advancing a progress bar (edgeconv.progress) once per epoch, with the
    latest accuracy in its label."""
    import keras

    class EpochProgress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            key = "val_accuracy" if "val_accuracy" in logs else "accuracy"
            shown = f", {'val ' if key == 'val_accuracy' else ''}acc {float(logs[key]):.2f}" if key in logs else ""
            advance(1, description=f"Training {arch}{shown}")

    return EpochProgress()


def history_path_for(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + ".history.json")


# edgeconv.train repeats these parameters (plus force) so help() shows them; this is the function that trains
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
    verbose: int | str = "auto",
    dataset: Dataset | None = None,
    force: bool = False,
) -> TrainResult:
    """Train `arch` (see edgeconv.training.zoo) on `data` and save it to `out` (.keras), with its
    history and metadata beside it. Files already there that edgeconv did not write are
    refused before training starts (see outputs.py), unless `force`."""
    from edgeconv.training import zoo

    out = Path(out)
    if out.suffix != ".keras":
        raise ModelError(f"{out}: the output model must end in .keras")
    if arch not in zoo.ARCHITECTURES:
        raise ModelError(f"unknown architecture {arch!r} (choose from {', '.join(zoo.ARCHITECTURES)})")
    if epochs < 1 or batch_size < 1 or learning_rate <= 0 or not 0.0 <= validation_split < 1.0:
        raise ModelError("epochs and batch size must be >= 1, the learning rate > 0, the validation split in [0, 1)")
    outputs = [out, history_path_for(out), metadata_path_for(out)]
    check_writable(out.parent, f"train:{out.stem}", [p.name for p in outputs], force=force)
    data = data if data is not None else zoo.DEFAULT_DATA[arch]
    ds = dataset if dataset is not None else load_dataset(data)
    if arch == "conv1d" and len(ds.input_shape) != 2:
        raise DataError(f"{data}: conv1d takes (length, channels) samples, the data has shape {list(ds.input_shape)}")
    if arch != "conv1d" and len(ds.input_shape) != 3:
        raise DataError(
            f"{data}: {arch} takes (height, width, channels) samples, the data has shape {list(ds.input_shape)}"
        )
    train_ds, test_ds = split(ds, TEST_FRACTION, seed)

    import tensorflow as tf

    seed_everything(seed)
    try:
        model = zoo.build_model(arch, ds.input_shape, ds.num_classes, width=width, depth=depth)
    except ValueError as exc:
        raise ModelError(f"{arch}: cannot build for input {list(ds.input_shape)}: {exc}") from None
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    order = np.random.default_rng(seed).permutation(len(train_ds.y))  # validation_split takes the tail
    from edgeconv.progress import progress_task

    with progress_task(f"Training {arch}", total=epochs) as advance:
        fit = model.fit(
            train_ds.x[order],
            train_ds.y[order],
            epochs=epochs,
            batch_size=batch_size,
            validation_split=validation_split,
            verbose=verbose,
            shuffle=True,
            callbacks=[_EpochProgress(advance, arch)],
        )
    history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
    probs = model.predict(test_ds.x, batch_size=256, verbose=0)
    accuracy = float(np.mean(np.argmax(probs, axis=-1) == test_ds.y))

    metadata = {
        "arch": arch,
        "data": str(data),
        "seed": seed,
        "test_fraction": TEST_FRACTION,
        "input_shape": list(ds.input_shape),
        "class_names": ds.class_names,
        "float_test_accuracy": accuracy,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "width": width,
        "depth": depth,
    }
    with tempfile.TemporaryDirectory(prefix="edgeconv-train-") as tmp:
        saved = Path(tmp) / out.name
        model.save(saved)  # Keras wants a path; the bytes are then published like any output
        files = {
            out.name: saved.read_bytes(),
            outputs[1].name: json.dumps(history, indent=1).encode(),
            outputs[2].name: json.dumps(metadata, indent=1).encode(),
        }
    publish([FolderWrite(out.parent, f"train:{out.stem}", files)], force=force)
    return TrainResult(out, outputs[1], outputs[2], accuracy, history, metadata)
