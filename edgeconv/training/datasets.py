"""Training data: bundled sets, .npz files and folders of images, checked before use.

Bundled (nothing is downloaded, ever):
- `digits`: scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), which ships
  inside scikit-learn; pixels scaled from 0..16 to 0..1, shape (8, 8, 1).
- `signals`: a synthetic 1-D set for Conv1D models, generated here: 3-channel sequences of
  128 steps in 5 classes (sine, square, sawtooth, chirp, noise bursts) with random frequency,
  phase, amplitude and noise. It is synthetic: good for checking a pipeline, not a benchmark.

A `.npz` file holds `x` (samples first, float) and `y` (integer labels 0..K-1), optionally
`class_names`. A folder holds one subfolder per class with images (png, jpg, bmp, gif), which
are scaled to 0..1 and resized to the first image's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeconv.frontend.ir import ModelError

BUNDLED = ("digits", "signals")
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


class DataError(ModelError):
    """Bad training or calibration data: reported in one line, exit status 2."""


@dataclass
class Dataset:
    name: str
    x: np.ndarray  # float32, samples first
    y: np.ndarray  # int64 labels 0..K-1
    class_names: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x.shape[1:])

    def subset(self, index: np.ndarray) -> Dataset:
        return Dataset(self.name, self.x[index], self.y[index], self.class_names)


def load_dataset(spec: str | Path) -> Dataset:
    spec_s = str(spec)
    if spec_s == "digits":
        return _digits()
    if spec_s == "signals":
        return _signals()
    path = Path(spec_s)
    if not path.exists():
        raise DataError(f"{spec_s}: no such data file or folder (bundled sets: {', '.join(BUNDLED)})")
    if path.is_dir():
        return _image_folder(path)
    if path.suffix == ".npz":
        return _npz(path)
    raise DataError(f"{path}: data must be a .npz file, a folder of class subfolders, or one of {', '.join(BUNDLED)}")


def check_data(
    x: np.ndarray, y: np.ndarray, where: str, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and normalize: float32 x with samples first, int64 y in 0..K-1."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.size == 0 or len(x) == 0:
        raise DataError(f"{where}: holds no samples")
    if x.ndim < 2:
        raise DataError(f"{where}: x has shape {list(x.shape)}; expected samples first, then the input shape")
    if y.ndim != 1:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        else:
            raise DataError(f"{where}: y has shape {list(y.shape)}; expected one integer label per sample")
    if len(y) != len(x):
        raise DataError(f"{where}: {len(x)} samples in x but {len(y)} labels in y")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{where}: x has non-numeric type {x.dtype}")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise DataError(f"{where}: x holds {bad} NaN or infinite values")
    if not np.issubdtype(y.dtype, np.number) or (y.dtype.kind == "f" and not np.all(np.isfinite(y))):
        raise DataError(f"{where}: labels must be integers")
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        raise DataError(f"{where}: labels must be whole numbers (found {y[y != np.round(y)][0]})")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DataError(f"{where}: label {int(y.min())} is negative; labels must be 0..K-1")
    if num_classes is not None and y.max() >= num_classes:
        raise DataError(f"{where}: label {int(y.max())} is out of range for {num_classes} classes")
    return x, y


def _digits() -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the bundled 'digits' set needs scikit-learn (pip install 'edgeconv[train]')") from None
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., None]
    return Dataset("digits", x, d.target.astype(np.int64), [str(i) for i in range(10)])


SIGNAL_CLASSES = ["sine", "square", "sawtooth", "chirp", "noise_burst"]


def make_signals(n_per_class: int = 300, length: int = 128, channels: int = 3, seed: int = 1234) -> Dataset:
    """The synthetic `signals` set; fixed seed, so every machine gets the same samples."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, length, dtype=np.float64)
    xs, ys = [], []
    for label, kind in enumerate(SIGNAL_CLASSES):
        for _ in range(n_per_class):
            sample = np.empty((length, channels))
            freq = rng.uniform(2.0, 8.0)
            for c in range(channels):
                phase = rng.uniform(0, 2 * np.pi)
                amp = rng.uniform(0.4, 1.0)
                arg = 2 * np.pi * freq * t + phase
                if kind == "sine":
                    wave = np.sin(arg)
                elif kind == "square":
                    wave = np.sign(np.sin(arg))
                elif kind == "sawtooth":
                    wave = 2.0 * ((arg / (2 * np.pi)) % 1.0) - 1.0
                elif kind == "chirp":
                    wave = np.sin(2 * np.pi * (freq / 2 + freq * 2 * t) * t + phase)
                else:
                    wave = np.zeros(length)
                    start = rng.integers(0, length - 24)
                    wave[start : start + 24] = rng.normal(0, 1, 24)
                sample[:, c] = amp * wave + rng.normal(0, 0.15, length)
            xs.append(sample)
            ys.append(label)
    x = np.clip(np.stack(xs), -2.0, 2.0).astype(np.float32)
    return Dataset("signals", x, np.array(ys, dtype=np.int64), list(SIGNAL_CLASSES))


def _signals() -> Dataset:
    return make_signals()


def _reason(exc: Exception) -> str:
    """A library's error as a short phrase, without Python's exception class names."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = " ".join(str(exc).split())[:200]
    return text or "unreadable"


def _npz(path: Path) -> Dataset:
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{path}: cannot read as .npz ({_reason(exc)})") from None
    if not hasattr(data, "files"):
        raise DataError(f"{path}: not an .npz archive")
    missing = [k for k in ("x", "y") if k not in data.files]
    if missing:
        raise DataError(f"{path}: missing array(s) {', '.join(missing)} (has: {', '.join(data.files) or 'nothing'})")
    x, y = check_data(data["x"], data["y"], str(path))
    k = int(y.max()) + 1
    names = [str(n) for n in data["class_names"]] if "class_names" in data.files else [str(i) for i in range(k)]
    if len(names) < k:
        raise DataError(f"{path}: label {k - 1} is out of range for {len(names)} class_names")
    return Dataset(path.stem, x, y, names)


def _image_folder(path: Path) -> Dataset:
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading a folder of images needs Pillow (pip install 'edgeconv[train]')") from None
    classes = sorted(p.name for p in path.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{path}: no class subfolders")
    files = [
        (f, i)
        for i, c in enumerate(classes)
        for f in sorted((path / c).iterdir())
        if f.suffix.lower() in _IMAGE_SUFFIXES
    ]
    if not files:
        raise DataError(f"{path}: no images (png, jpg, bmp, gif) in the class subfolders")
    xs, ys, size, mode = [], [], None, None
    for f, label in files:
        try:
            with Image.open(f) as im:
                if mode is None:
                    mode = "L" if im.mode in ("L", "1", "I;16", "I") else "RGB"
                    size = im.size
                im = im.convert(mode)
                if im.size != size:
                    im = im.resize(size, Image.BILINEAR)
                arr = np.asarray(im, dtype=np.float32) / 255.0
        except Exception as exc:
            raise DataError(f"{f}: cannot read image ({_reason(exc)})") from None
        xs.append(arr[..., None] if arr.ndim == 2 else arr)
        ys.append(label)
    x, y = check_data(np.stack(xs), np.array(ys), str(path))
    return Dataset(path.name, x, y, classes)


def split(ds: Dataset, test_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """A seeded, stratified train/test split (every class in both where it has 2+ samples)."""
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test fraction {test_fraction} must be between 0 and 1")
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for c in range(ds.num_classes):
        idx = np.flatnonzero(ds.y == c)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_fraction)) if len(idx) > 1 else 0
        test_idx.extend(idx[:n_test])
        train_idx.extend(idx[n_test:])
    if not test_idx or not train_idx:
        raise DataError(f"{ds.name}: too few samples ({len(ds.y)}) for a train/test split")
    return ds.subset(np.sort(np.array(train_idx))), ds.subset(np.sort(np.array(test_idx)))
