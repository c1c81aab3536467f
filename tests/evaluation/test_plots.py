"""Report figures: real image files, written atomically, t-SNE deterministic and working on tiny data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serkit.evaluation.plots import (
    _subsample,
    plot_confusion_matrix,
    plot_training_curves,
    plot_tsne,
    tsne_embedding,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAMES = ["neutral", "happy", "sad"]


def assert_only_png(folder: Path, name: str) -> None:
    """``folder`` holds exactly ``name``, a non-empty PNG (no temporary file left behind)."""
    assert [p.name for p in folder.iterdir()] == [name]
    data = (folder / name).read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000


def test_confusion_matrix_png(tmp_path: Path):
    matrix = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.0, 0.0, 0.0]]  # last class absent: an all-zero row
    path = plot_confusion_matrix(matrix, NAMES, tmp_path / "figs" / "confusion.png", title="demo")
    assert path == tmp_path / "figs" / "confusion.png"
    assert_only_png(tmp_path / "figs", "confusion.png")


def test_confusion_matrix_other_format_and_overwrite(tmp_path: Path):
    path = tmp_path / "confusion.svg"
    plot_confusion_matrix(np.eye(3), NAMES, path)
    plot_confusion_matrix(np.eye(3), NAMES, path)  # overwriting an existing figure is fine
    assert "<svg" in path.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["confusion.svg"]


def test_confusion_matrix_shape_mismatch(tmp_path: Path):
    with pytest.raises(ValueError, match=r"expected \(3, 3\)"):
        plot_confusion_matrix(np.eye(2), NAMES, tmp_path / "c.png")
    with pytest.raises(ValueError, match="NaN"):
        plot_confusion_matrix(np.full((3, 3), np.nan), NAMES, tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []


def test_training_curves_with_and_without_optional_keys(tmp_path: Path):
    full = [
        {
            "epoch": e,
            "train_loss": 1 / (e + 1),
            "val_loss": 1.2 / (e + 1),
            "val_ua": 0.3 + 0.05 * e,
            "lr": 1e-3 * 0.9**e,
        }
        for e in range(6)
    ]
    sparse = [{"epoch": e, "train_loss": 0.5 / (e + 1), "val_loss": None} for e in range(4)]
    plot_training_curves({"fold0/seed0": full, "fold1/seed0": sparse}, tmp_path / "curves.png", title="demo")
    assert_only_png(tmp_path, "curves.png")

    only_train = tmp_path / "only" / "curves.png"
    plot_training_curves({"run": sparse}, only_train)
    assert_only_png(only_train.parent, "curves.png")


def test_training_curves_errors(tmp_path: Path):
    with pytest.raises(ValueError, match="empty"):
        plot_training_curves({}, tmp_path / "c.png")
    with pytest.raises(ValueError, match="'fold0'.*#1.*train_loss"):
        plot_training_curves({"fold0": [{"epoch": 0, "train_loss": 1.0}, {"epoch": 1}]}, tmp_path / "c.png")


def test_tsne_on_five_points(tmp_path: Path):
    embeddings = np.random.default_rng(0).normal(size=(5, 8))
    plot_tsne(embeddings, np.array([0, 1, 2, 0, 1]), NAMES, tmp_path / "tsne.png", seed=0)
    assert_only_png(tmp_path, "tsne.png")


def test_tsne_is_deterministic_for_a_seed_and_subsamples_deterministically():
    embeddings = np.random.default_rng(1).normal(size=(12, 4))
    first, indices = tsne_embedding(embeddings, seed=0, max_points=8)
    again, indices_again = tsne_embedding(embeddings, seed=0, max_points=8)
    assert first.shape == (8, 2)
    np.testing.assert_array_equal(indices, indices_again)
    np.testing.assert_array_equal(first, again)
    assert len(set(indices.tolist())) == 8 and list(indices) == sorted(indices)


def test_subsample_depends_on_the_seed_only():
    np.testing.assert_array_equal(_subsample(100, 10, seed=0), _subsample(100, 10, seed=0))
    assert not np.array_equal(_subsample(100, 10, seed=0), _subsample(100, 10, seed=1))
    assert _subsample(5, 10, seed=0).tolist() == [0, 1, 2, 3, 4]


def test_tsne_keeps_every_point_below_max_points_and_handles_one_dimension():
    coordinates, indices = tsne_embedding(np.arange(6, dtype=float)[:, None], seed=0)
    assert coordinates.shape == (6, 2) and indices.tolist() == list(range(6))


def test_tsne_errors(tmp_path: Path):
    with pytest.raises(ValueError, match="at least 2"):
        tsne_embedding(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        tsne_embedding(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="integer indices in 0..2"):
        plot_tsne(np.zeros((3, 2)), np.array([0, 1, 3]), NAMES, tmp_path / "t.png")
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        plot_tsne(np.zeros((3, 2)), np.array([0, 1]), NAMES, tmp_path / "t.png")


def test_tsne_refuses_identical_embeddings_instead_of_crashing():
    # scikit-learn's Barnes-Hut t-SNE segfaults on identical points (a model that ignores its input makes them)
    with pytest.raises(ValueError, match="identical"):
        tsne_embedding(np.ones((6, 4)))


def test_tsne_bound_is_respected_with_a_stratified_subsample(tmp_path: Path, monkeypatch, caplog):
    import logging

    from serkit.evaluation import plots

    monkeypatch.setattr(plots, "TSNE_MAX_POINTS", 12)
    rng = np.random.default_rng(0)
    labels = np.array([0] * 30 + [1] * 15 + [2] * 15)  # shares 1/2, 1/4, 1/4
    embeddings = rng.normal(size=(60, 4)) + labels[:, None]
    coordinates, indices = tsne_embedding(embeddings, seed=0, labels=labels)
    assert coordinates.shape == (12, 2) and len(indices) == 12 and np.all(np.diff(indices) > 0)
    assert np.bincount(labels[indices]).tolist() == [6, 3, 3]  # each class keeps its share
    caplog.set_level(logging.INFO, logger="serkit.evaluation.plots")
    plot_tsne(embeddings, labels, NAMES, tmp_path / "tsne.png", seed=0)  # the default bound is the module's
    assert_only_png(tmp_path, "tsne.png")
    assert any("t-SNE of 12 of 60 utterances" in r.getMessage() for r in caplog.records)


def test_stratified_subsample_rounds_to_exactly_max_points():
    labels = np.array([0] * 7 + [1] * 7 + [2] * 7)
    indices = _subsample(21, 10, seed=3, labels=labels)
    assert len(indices) == 10 and sorted(np.bincount(labels[indices]).tolist()) == [3, 3, 4]
    np.testing.assert_array_equal(indices, _subsample(21, 10, seed=3, labels=labels))


def test_tsne_reduces_wide_embeddings_by_pca_first(monkeypatch):
    from sklearn import manifold

    from serkit.evaluation import plots

    monkeypatch.setattr(plots, "TSNE_PCA_DIMS", 3)
    widths = []
    real = manifold.TSNE.fit_transform

    def spy(self, points, *args, **kwargs):
        widths.append(points.shape[1])
        return real(self, points, *args, **kwargs)

    monkeypatch.setattr(manifold.TSNE, "fit_transform", spy)
    embeddings = np.random.default_rng(1).normal(size=(20, 16))
    first, _ = tsne_embedding(embeddings, seed=0)
    again, _ = tsne_embedding(embeddings, seed=0)
    assert widths == [3, 3]
    np.testing.assert_allclose(first, again)  # the PCA is seeded: the same map
