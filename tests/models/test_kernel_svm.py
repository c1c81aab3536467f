"""rbf_svm: a scikit-learn RBF SVC fitted in closed form and evaluated as a torch model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from serkit.config import TrainConfig
from serkit.models import create_model, list_models
from serkit.models.classical import ABSENT_CLASS_BIAS
from serkit.models.kernel_svm import RBFSVMClassifier, rbf_svm
from serkit.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model_checkpoint,
    save_checkpoint,
)
from serkit.training.data import ChunkSet
from serkit.training.strategies import ClosedForm, FoldSets


def _blobs(num_classes: int, num_features: int, seed: int, per_class: int = 40):
    """Overlapping Gaussian classes with different feature scales: a training part and a test part."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (num_classes, num_features))
    scales, offsets = rng.uniform(0.1, 100.0, num_features), rng.normal(0.0, 50.0, num_features)

    def draw() -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([c + rng.normal(0.0, 0.8, (per_class, num_features)) for c in centres])
        return x * scales + offsets, np.repeat(np.arange(num_classes), per_class)

    return draw(), draw()


def _reference(x, y, c, gamma):
    """scikit-learn's own pipeline with the settings rbf_svm documents."""
    svm = SVC(C=c, kernel="rbf", gamma=gamma, class_weight="balanced", break_ties=True)
    return make_pipeline(StandardScaler(), svm).fit(x, y)


def _logits(model: RBFSVMClassifier, x: np.ndarray) -> torch.Tensor:
    features = torch.as_tensor(x, dtype=torch.float64).unsqueeze(1)  # (batch, 1 frame, num_features)
    return model(features, torch.ones(len(x), dtype=torch.long))


def _chunk_set(x: np.ndarray, y: np.ndarray) -> ChunkSet:
    chunks = [row[None, :].astype(np.float32) for row in x]  # functionals: one chunk of one frame
    return ChunkSet(chunks, np.arange(len(x)), y, [f"u{i}" for i in range(len(x))])


def test_registered_with_egemaps_defaults_and_unfitted_prefers_no_class():
    assert "rbf_svm" in list_models()
    model = create_model("rbf_svm", num_classes=4)
    assert isinstance(model, RBFSVMClassifier) and model.fits_in_closed_form
    assert model.num_features == 88 and model.num_support_vectors == 0 and "scale" in model.gamma_grid
    logits = model(torch.randn(3, 1, 88), torch.ones(3, dtype=torch.long))
    assert torch.equal(logits, torch.full((3, 4), ABSENT_CLASS_BIAS, dtype=torch.float64))


@pytest.mark.parametrize("num_classes", [3, 8, 2])
def test_torch_logits_are_the_decision_function_and_argmax_is_predict(num_classes):
    (x, y), (x_test, _) = _blobs(num_classes, 10, seed=num_classes)
    model = rbf_svm(num_classes=num_classes, num_features=10, c=1.0, gamma="scale")
    report = model.fit(x, y)
    assert report["selection"] == "fixed_c_gamma" and report["gamma_option"] == "scale"
    assert report["num_support_vectors"] == model.num_support_vectors == len(model.support_vectors) > 0
    reference = _reference(x, y, 1.0, "scale")  # the number rbf_svm stores is the one "scale" gives
    assert model.gamma.item() == report["gamma"] == pytest.approx(1 / 10)
    logits = _logits(model, x_test)
    expected = reference.predict(x_test)
    assert len(set(expected)) == num_classes  # a non-trivial case: every class is predicted
    np.testing.assert_array_equal(logits.argmax(1).numpy(), expected)
    decision = torch.as_tensor(reference.decision_function(x_test))
    if num_classes == 2:  # one decision value d -> logits [0, d]
        assert torch.equal(logits[:, 0], torch.zeros(len(x_test), dtype=torch.float64))
        torch.testing.assert_close(logits[:, 1], decision, rtol=0, atol=1e-6)
    else:
        torch.testing.assert_close(logits, decision, rtol=0, atol=1e-6)
    assert report["train_wa"] == pytest.approx(float((reference.predict(x) == y).mean()))


def _rings(seed: int, num: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric rings: a (nearly) linear boundary fails, a narrow kernel separates them."""
    rng = np.random.default_rng(seed)
    angle, radius = rng.uniform(0, 2 * np.pi, 2 * num), np.repeat([1.0, 3.0], num)
    radius = radius + rng.normal(0, 0.2, 2 * num)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1), np.repeat([0, 1], num)


def test_c_and_gamma_are_chosen_by_validation_ua_ties_to_the_smaller():
    (x, y), (x_val, y_val) = _rings(0), _rings(1)
    model = rbf_svm(num_classes=2, num_features=2, c_grid=(10.0, 0.01), gamma_grid=(1e-4, "scale", 1.0, 0.5))
    report = model.fit(x, y, x_val, y_val)
    grid = report["grid"]
    # ascending C, then ascending gamma; "scale" gives 1 / (2 features * variance 1) = 0.5, tried once
    assert [(g["c"], g["gamma"]) for g in grid] == [
        (c, pytest.approx(g)) for c in (0.01, 10.0) for g in (1e-4, 0.5, 1.0)
    ]
    assert grid[2]["gamma_option"] == 1.0 and grid[1]["gamma_option"] == "scale"
    best = max(g["val_ua"] for g in grid)
    first_best = next(g for g in grid if g["val_ua"] == best)
    assert report["selection"] == "validation_ua" and report["val_ua"] == best > 0.95
    assert (report["c"], report["gamma"]) == (first_best["c"], first_best["gamma"])
    # here: candidates tie at UA 1, and the smallest gamma (1e-4) loses
    assert (report["c"], report["gamma_option"]) == (0.01, "scale")
    assert grid[0]["val_ua"] < 0.8  # the nearly linear kernel cannot separate rings
    # the copied model is the chosen candidate, not the last one fitted
    reference = _reference(x, y, report["c"], report["gamma"])
    decision = torch.as_tensor(reference.decision_function(x_val))
    torch.testing.assert_close(_logits(model, x_val)[:, 1], decision, rtol=0, atol=1e-6)


def test_checkpoint_round_trip_through_the_closed_form_strategy(tmp_path):
    (x, y), (x_test, y_test) = _blobs(3, 6, seed=11)
    model = create_model("rbf_svm", num_classes=3, num_features=6, c_grid=(1.0, 10.0))
    sets = FoldSets(_chunk_set(x, y), _chunk_set(x_test[:30], y_test[:30]), _chunk_set(x_test, y_test))
    meta = {
        "model_name": "rbf_svm",
        "model_args": dict(model.model_args),  # a copy: the strategy must store the args as fitted
        "label_names": ["a", "b", "c"],
        "feature": {"name": "egemaps"},
        "input": {},
    }
    config = TrainConfig(progress=False, threads=1)
    ClosedForm().train(
        model,
        sets,
        config=config,
        seed=0,
        run_dir=tmp_path,
        label_names=["a", "b", "c"],
        checkpoint_meta=meta,
    )
    stored = load_checkpoint(tmp_path / "best.pt")
    assert stored["model_args"]["num_support_vectors"] == model.num_support_vectors > 0
    _, loaded = load_model_checkpoint(tmp_path / "best.pt")  # what the recogniser and `serkit predict` call
    features = torch.as_tensor(x_test, dtype=torch.float32).unsqueeze(1)
    lengths = torch.ones(len(x_test), dtype=torch.long)
    with torch.no_grad():
        assert torch.equal(loaded.for_inference()(features, lengths), model(features, lengths))
    assert len(set(loaded(features, lengths).argmax(1).tolist())) == 3
    # without the fitted size the weights do not fit the rebuilt model, and the loader says so
    unfitted_args = {**stored["model_args"], "num_support_vectors": 0}
    save_checkpoint(tmp_path / "stale.pt", {**stored, "model_args": unfitted_args})
    with pytest.raises(CheckpointError, match="support_vectors"):
        load_model_checkpoint(tmp_path / "stale.pt")


@pytest.mark.parametrize("present", [(0, 2), (0, 1, 3)])
def test_classes_missing_from_training_are_never_predicted(present):
    (x, y), (x_test, _) = _blobs(len(present), 5, seed=len(present) + 20)
    y = np.asarray(present)[y]  # e.g. classes 0 and 2 of 4: a binary SVM inside a 4-class model
    model = rbf_svm(num_classes=4, num_features=5, c=1.0, gamma=0.3)
    model.fit(x, y)
    reference = _reference(x, y, 1.0, 0.3)
    logits = _logits(model, x_test)
    np.testing.assert_array_equal(logits.argmax(1).numpy(), reference.predict(x_test))
    absent = [k for k in range(4) if k not in present]
    assert torch.all(logits[:, absent] == ABSENT_CLASS_BIAS)
    decision = torch.as_tensor(reference.decision_function(x_test))
    if len(present) == 2:
        torch.testing.assert_close(logits[:, present[1]], decision, rtol=0, atol=1e-6)
    else:
        torch.testing.assert_close(logits[:, list(present)], decision, rtol=0, atol=1e-6)
    assert torch.isfinite(torch.softmax(logits, dim=1)).all()


def test_fit_chunks_without_validation_uses_the_fixed_values():
    (x, y), _ = _blobs(3, 4, seed=3)
    model = rbf_svm(num_classes=3, num_features=4, c=2.0, gamma="auto")
    report = model.fit_chunks(_chunk_set(x, y), None)
    assert report["selection"] == "fixed_c_gamma" and "grid" not in report
    assert (report["c"], report["gamma"], report["gamma_option"]) == (2.0, 0.25, "auto")


def test_options_from_the_command_line_are_converted():
    model = create_model(
        "rbf_svm", num_classes=3, c_grid="0.5, 2", gamma_grid="scale, 0.01", gamma="0.5", c="3"
    )
    assert model.c_grid == (0.5, 2.0) and model.gamma_grid == ("scale", 0.01)
    assert model.gamma_option == 0.5 and model.c == 3.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"c_grid": ()}, "c_grid"),
        ({"c_grid": (1.0, -1.0)}, "c_grid"),
        ({"gamma_grid": ()}, "gamma_grid must hold at least one"),
        (
            {"gamma_grid": ("scale", "wide")},
            r"gamma_grid must hold positive numbers or scale / auto, got 'wide'",
        ),
        ({"gamma_grid": (0.0,)}, "gamma_grid"),
        ({"gamma": -0.1}, "gamma must"),
        ({"c": 0.0}, "c must"),
        ({"class_weight": "auto"}, "class_weight"),
        ({"num_support_vectors": -1}, "num_support_vectors"),
        ({"num_features": 0}, "num_features"),
    ],
)
def test_bad_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        rbf_svm(num_classes=3, **options)
