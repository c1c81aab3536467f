"""linear_svm: a scikit-learn LinearSVC fitted in closed form and evaluated as a torch model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from serkit.models import create_model, list_models
from serkit.models.classical import (
    ABSENT_CLASS_BIAS,
    MAX_ITER,
    LinearSVMClassifier,
    linear_svm,
    utterance_vectors,
)
from serkit.models.kernel_svm import rbf_svm
from serkit.training.data import ChunkSet, utterance_logits


def _blobs(num_classes: int, per_class: int, num_features: int, seed: int, spread: float = 1.5):
    """Overlapping Gaussian classes (so the SVM makes some errors) with different feature scales."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (num_classes, num_features))
    x = np.concatenate(
        [centres[k] + rng.normal(0.0, spread, (per_class, num_features)) for k in range(num_classes)]
    )
    x = x * rng.uniform(0.1, 100.0, num_features) + rng.normal(0.0, 50.0, num_features)  # unstandardised
    y = np.repeat(np.arange(num_classes), per_class)
    return x, y


def _reference(x, y, c):
    """scikit-learn's own pipeline with the settings linear_svm documents."""
    return make_pipeline(
        StandardScaler(),
        LinearSVC(C=c, class_weight="balanced", dual="auto", max_iter=MAX_ITER, random_state=0),
    ).fit(x, y)


def _logits(model: LinearSVMClassifier, x: np.ndarray) -> torch.Tensor:
    features = torch.as_tensor(x, dtype=torch.float32).unsqueeze(1)  # (batch, 1 frame, num_features)
    return model(features, torch.ones(len(x), dtype=torch.long))


def _assert_argmax_matches(logits: torch.Tensor, expected: np.ndarray) -> None:
    """Equal predictions, except where float32 cannot tell the two best classes apart."""
    top2 = logits.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1] > 1e-4).numpy()
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(logits.argmax(1).numpy()[clear], expected[clear])


def test_registered_with_egemaps_defaults():
    assert "linear_svm" in list_models()
    model = create_model("linear_svm", num_classes=4)
    assert isinstance(model, LinearSVMClassifier)
    assert model.num_classes == 4 and model.num_features == 88 and model.fits_in_closed_form
    # an unfitted model is a valid torch model that does not prefer any class
    logits = model(torch.randn(3, 1, 88), torch.ones(3, dtype=torch.long))
    assert torch.equal(logits, torch.zeros(3, 4))


@pytest.mark.parametrize("num_classes", [4, 2])
def test_torch_logits_are_the_decision_function_and_argmax_is_predict(num_classes):
    x, y = _blobs(num_classes, 40, 12, seed=num_classes)
    x_test, _ = _blobs(num_classes, 30, 12, seed=100 + num_classes, spread=3.0)
    model = linear_svm(num_classes=num_classes, num_features=12, c=0.1)
    report = model.fit(x, y)
    assert report["selection"] == "fixed_c" and report["c"] == 0.1 and report["converged"]
    reference = _reference(x, y, 0.1)
    logits = _logits(model, x_test)
    expected = reference.predict(x_test)
    assert len(set(expected)) == num_classes  # a non-trivial case: every class is predicted
    _assert_argmax_matches(logits, expected)
    decision = torch.as_tensor(reference.decision_function(x_test), dtype=torch.float32)
    if num_classes == 2:  # one hyperplane d -> logits [0, d]
        torch.testing.assert_close(logits[:, 0], torch.zeros(len(x_test)))
        torch.testing.assert_close(logits[:, 1], decision, rtol=1e-4, atol=1e-4)
    else:
        torch.testing.assert_close(logits, decision, rtol=1e-4, atol=1e-4)
    assert report["train_wa"] == pytest.approx(float((reference.predict(x) == y).mean()))


def test_classes_missing_from_training_are_never_predicted():
    x, y = _blobs(2, 40, 6, seed=1)
    y = np.where(y == 1, 2, 0)  # classes 0 and 2 of 4: a binary SVM inside a 4-class model
    model = linear_svm(num_classes=4, num_features=6, c=0.1)
    model.fit(x, y)
    x_test, _ = _blobs(2, 50, 6, seed=2, spread=3.0)
    logits = _logits(model, x_test)
    _assert_argmax_matches(logits, _reference(x, y, 0.1).predict(x_test))
    assert torch.all(logits[:, [1, 3]] == ABSENT_CLASS_BIAS)
    assert torch.isfinite(torch.softmax(logits, dim=1)).all()


def _correlated_noise_case(seed: int):
    """Binary data where small and large C learn different directions.

    x1 = s + n, x2 = n with s = +-1 the class and n loud shared noise: the optimal direction is x1 - x2 (what a large C
    finds), while a tiny C gives the class-mean difference, i.e. x1 alone.
    """
    rng = np.random.default_rng(seed)
    s = np.repeat([-1.0, 1.0], 100)
    n = rng.normal(0.0, 3.0, 200)
    return np.stack([s + n, n], axis=1), (s > 0).astype(np.int64)


def test_c_is_chosen_by_validation_ua():
    x, y = _correlated_noise_case(0)
    x_same, y_same = _correlated_noise_case(1)  # same distribution: the large C separates it perfectly
    s = np.repeat([-1.0, 1.0], 50)
    x_shift, y_shift = (
        np.stack([s, 3.0 * s], axis=1),
        (s > 0).astype(np.int64),
    )  # x1 - x2 has the wrong sign here
    grid = (1e-4, 10.0)

    model = linear_svm(num_classes=2, num_features=2, c_grid=grid)
    report = model.fit(x, y, x_same, y_same)
    assert report["selection"] == "validation_ua" and report["c"] == 10.0
    assert [entry["c"] for entry in report["grid"]] == list(grid)
    assert report["val_ua"] == max(entry["val_ua"] for entry in report["grid"]) == 1.0

    report = model.fit(x, y, x_shift, y_shift)
    assert report["c"] == 1e-4
    assert report["grid"][0]["val_ua"] == 1.0 and report["grid"][1]["val_ua"] == 0.0
    # the copied weights are those of the chosen C, not of the last one fitted
    _assert_argmax_matches(_logits(model, x_shift), y_shift)


def test_state_dict_round_trips_through_a_file(tmp_path):
    x, y = _blobs(3, 30, 88, seed=5)
    model = create_model("linear_svm", num_classes=3, c=0.01)
    model.fit(x, y)
    torch.save(model.state_dict(), tmp_path / "best.pt")
    fresh = linear_svm(num_classes=3, num_features=88)
    fresh.load_state_dict(torch.load(tmp_path / "best.pt", weights_only=True))
    assert torch.equal(_logits(fresh, x), _logits(model, x))
    assert not torch.equal(_logits(fresh, x), torch.zeros(len(x), 3))


def test_padding_does_not_change_logits_and_embedding_is_standardised_input():
    x, y = _blobs(3, 20, 5, seed=3)
    model = linear_svm(num_classes=3, num_features=5, c=1.0)
    model.fit(x, y)
    frames = torch.as_tensor(x[:4], dtype=torch.float32).reshape(2, 2, 5)  # 2 chunks of 2 frames
    padded = torch.cat([frames, torch.full((2, 3, 5), 1e6)], dim=1)  # garbage beyond the valid frames
    lengths = torch.tensor([2, 2])
    torch.testing.assert_close(model(padded, lengths), model(frames, lengths))
    embedding = model.forward_features(frames, lengths)
    assert embedding.shape == (2, 5)
    expected = (frames.double().mean(1) - torch.as_tensor(x.mean(0))) / torch.as_tensor(x.std(0))
    torch.testing.assert_close(embedding.double(), expected, rtol=1e-4, atol=1e-4)


def test_utterance_vectors_average_chunk_means():
    chunks = [
        np.array([[0.0, 2.0], [2.0, 2.0]], np.float32),  # utterance 0, chunk mean (1, 2)
        np.array([[3.0, 4.0]], np.float32),  # utterance 0, chunk mean (3, 4)
        np.array([[5.0, 5.0]], np.float32),
    ]  # utterance 1
    dataset = ChunkSet(chunks, np.array([0, 0, 1]), np.array([0, 1]), ("a", "b"))
    np.testing.assert_array_equal(utterance_vectors(dataset), [[2.0, 3.0], [5.0, 5.0]])


def test_fit_chunks_agrees_with_utterance_logits():
    rng = np.random.default_rng(7)
    x, y = _blobs(3, 20, 4, seed=7)
    chunks, owner = [], []
    for index, vector in enumerate(x):  # 1-3 chunks of 2-4 frames scattered around each utterance's vector
        for _ in range(rng.integers(1, 4)):
            chunks.append((vector + rng.normal(0, 1.0, (rng.integers(2, 5), 4))).astype(np.float32))
            owner.append(index)
    train = ChunkSet(chunks, np.array(owner), y, tuple(f"u{i}" for i in range(len(y))))
    model = linear_svm(num_classes=3, num_features=4, c_grid=(0.01, 1.0))
    report = model.fit_chunks(train, train)
    assert report["num_train"] == len(y) and report["selection"] == "validation_ua"
    vectors = utterance_vectors(train)
    logits, embeddings = utterance_logits(model, train, batch_size=8, with_embeddings=True)
    torch.testing.assert_close(logits, _logits(model, vectors), rtol=1e-4, atol=1e-4)
    assert embeddings.shape == (len(y), 4)
    assert report["val_ua"] == pytest.approx(report["train_ua"])  # validation was the training set here
    assert linear_svm(num_classes=3, num_features=4).fit_chunks(train, None)["selection"] == "fixed_c"


def test_options_from_the_command_line_are_converted():
    model = create_model("linear_svm", num_classes=3, c_grid="0.5, 2", c="0.1", class_weight="none")
    assert model.c_grid == (0.5, 2.0) and model.c == 0.1 and model.class_weight == "none"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"c_grid": ()}, "c_grid"),
        ({"c_grid": (0.1, 0.0)}, "c_grid"),
        ({"c": -1.0}, "c must"),
        ({"class_weight": "auto"}, "class_weight"),
    ],
)
def test_bad_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        linear_svm(num_classes=3, **options)


@pytest.mark.parametrize("factory", [linear_svm, rbf_svm])
def test_bad_data_raises_with_the_reason(factory):
    model = factory(num_classes=3, num_features=4)
    x = np.zeros((6, 4))
    with pytest.raises(ValueError, match=r"shape \(num_utterances, 4\)"):
        model.fit(np.zeros((6, 5)), np.arange(6) % 3)
    with pytest.raises(ValueError, match="at least two"):
        model.fit(x, np.zeros(6, dtype=np.int64))
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        model.fit(x, np.array([0, 1, 2, 0, 1, -1]))
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.full((6, 4), np.nan), np.arange(6) % 3)
    with pytest.raises(ValueError, match="both"):
        model.fit(x, np.arange(6) % 3, val_features=x)
