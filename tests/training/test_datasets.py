"""Data loading and checking: bundled sets, .npz, image folders, and bad data refused."""

import numpy as np
import pytest

from conftest import assert_refused as _refused
from conftest import run_cli as _cli
from edgeconv.training.datasets import DataError, check_data, load_dataset, make_signals, split


def test_digits():
    ds = load_dataset("digits")
    assert ds.x.shape == (1797, 8, 8, 1) and ds.x.dtype == np.float32
    assert ds.x.min() >= 0.0 and ds.x.max() <= 1.0
    assert ds.num_classes == 10 and set(ds.y.tolist()) == set(range(10))


def test_signals_are_synthetic_and_deterministic():
    a, b = load_dataset("signals"), make_signals()
    assert a.x.shape == (1500, 128, 3) and a.num_classes == 5
    np.testing.assert_array_equal(a.x, b.x)
    assert np.isfinite(a.x).all()


def test_split_is_seeded_stratified_and_disjoint():
    ds = load_dataset("digits")
    tr, te = split(ds, 0.2, seed=3)
    tr2, te2 = split(ds, 0.2, seed=3)
    np.testing.assert_array_equal(te.y, te2.y)
    assert len(tr.y) + len(te.y) == len(ds.y)
    assert abs(len(te.y) - 0.2 * len(ds.y)) <= 10
    assert set(te.y.tolist()) == set(range(10))


def test_npz_and_class_names(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 6, 6, 1)).astype(np.float32)
    y = np.arange(20) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y, class_names=np.array(["a", "b", "c"]))
    ds = load_dataset(tmp_path / "d.npz")
    assert ds.class_names == ["a", "b", "c"] and ds.input_shape == (6, 6, 1)


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (10, 12), dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    ds = load_dataset(tmp_path)
    assert ds.x.shape == (6, 10, 12, 1) and ds.class_names == ["cat", "dog"]
    assert ds.y.tolist() == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.zeros((0, 4, 4, 1)), np.zeros(0), "no samples"),
        (np.zeros(5), np.zeros(5), "samples first"),
        (np.zeros((4, 4, 4, 1)), np.zeros(3), "4 samples in x but 3 labels"),
        (np.full((2, 3, 3, 1), np.nan), np.zeros(2), "NaN"),
        (np.zeros((2, 3, 3, 1)), np.array([0, -1]), "negative"),
        (np.zeros((2, 3, 3, 1)), np.array([0.5, 1.0]), "whole numbers"),
        (np.zeros((2, 3, 3, 1)), np.array([0, 7]), "out of range for 5 classes"),
    ],
)
def test_bad_data_is_refused(x, y, message):
    with pytest.raises(DataError, match=message):
        check_data(x, y, "data", num_classes=5)


def test_cli_train_refuses_bad_data(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    _refused(
        _cli("train", "--arch", "tinyconv", "--data", tmp_path / "empty.npz", "-o", tmp_path / "m.keras"), "empty.npz"
    )
    np.savez(tmp_path / "nan.npz", x=np.full((4, 8, 8, 1), np.nan), y=np.zeros(4))
    _refused(_cli("train", "--arch", "tinyconv", "--data", tmp_path / "nan.npz", "-o", tmp_path / "m.keras"), "NaN")
    np.savez(tmp_path / "noy.npz", x=np.zeros((4, 8, 8, 1)))
    _refused(
        _cli("train", "--arch", "tinyconv", "--data", tmp_path / "noy.npz", "-o", tmp_path / "m.keras"), "missing", "y"
    )
    np.savez(tmp_path / "neg.npz", x=np.zeros((4, 8, 8, 1)), y=np.array([0, 1, -2, 0]))
    _refused(
        _cli("train", "--arch", "tinyconv", "--data", tmp_path / "neg.npz", "-o", tmp_path / "m.keras"), "negative"
    )
    _refused(
        _cli("train", "--arch", "conv1d", "--data", "digits", "-o", tmp_path / "m.keras"),
        "conv1d takes (length, channels)",
    )
    _refused(_cli("train", "--arch", "nope", "-o", tmp_path / "m.keras"), "unknown architecture")
    _refused(_cli("train", "--arch", "tinyconv", "--data", tmp_path / "missing.npz"), "no such data")
    assert not (tmp_path / "m.keras").exists()
