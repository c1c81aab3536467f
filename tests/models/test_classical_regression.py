"""linear_svr and ridge: scikit-learn regressors of emotion dimensions fitted in closed form, served as torch models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_tone
from fake_iemocap import fake_iemocap
from fake_msp_podcast import fake_msp_podcast
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVR

from serkit.config import TrainConfig
from serkit.data.corpora import load_corpus
from serkit.data.task import TaskSpec
from serkit.evaluation.regression import regression_metrics
from serkit.inference import Recognizer
from serkit.models import create_model, model_class
from serkit.models.classical import MAX_ITER
from serkit.models.classical_regression import ClosedFormRegressor, linear_svr, ridge
from serkit.recipe import load_experiment
from serkit.training.data import ChunkSet
from serkit.training.runner import run_experiment
from serkit.training.strategies import ClosedForm, FoldSets
from tests.training.tiny_runs import tiny_corpus, tiny_recipe

DIMENSIONS = ["arousal", "valence", "dominance"]
RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "dimensional"


def _data(num: int, num_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unstandardised features and 3 dimensions on [0, 1], each a noisy linear function of them."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(num, num_features))
    maps = np.random.default_rng(99).normal(size=(num_features, 3))
    y = 1 / (1 + np.exp(-(latent @ maps / np.sqrt(num_features) + rng.normal(0, 0.3, (num, 3)))))
    scales = np.random.default_rng(98).uniform(0.1, 100.0, num_features)
    return latent * scales + 50.0, y


def _values(model: ClosedFormRegressor, x: np.ndarray) -> np.ndarray:
    features = torch.as_tensor(x, dtype=torch.float32).unsqueeze(1)  # (batch, 1 frame, num_features)
    with torch.no_grad():
        return model(features, torch.ones(len(x), dtype=torch.long)).numpy()


def _reference(name: str, value: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """scikit-learn's own pipeline for one dimension; the SVR learns the centred targets (see the module)."""
    if name == "ridge":
        return make_pipeline(StandardScaler(), Ridge(alpha=value)).fit(x, y).predict
    svr = LinearSVR(C=value, epsilon=0.0, dual="auto", max_iter=MAX_ITER, random_state=0)
    pipeline = make_pipeline(StandardScaler(), svr).fit(x, y - y.mean())
    return lambda z: pipeline.predict(z) + y.mean()


FIXED = {"linear_svr": ("c", 0.1), "ridge": ("alpha", 10.0)}


def test_registered_as_closed_form_regressors():
    for name in ("linear_svr", "ridge"):
        cls = model_class(name)
        assert cls.fits_in_closed_form and cls.predicts_dimensions and cls.input_spec.feature == "egemaps"
        model = create_model(name, num_classes=3)
        assert model.num_features == 88 and model.num_classes == 3
        np.testing.assert_array_equal(_values(model, np.ones((2, 88))), np.zeros((2, 3)))  # unfitted
    assert not model_class("linear_svm").predicts_dimensions and not model_class("glam").predicts_dimensions


@pytest.mark.parametrize("name", ["linear_svr", "ridge"])
def test_values_are_the_scikit_learn_predictions_per_dimension(name):
    x, y = _data(120, 10, seed=1)
    x_test, _ = _data(40, 10, seed=2)
    param, value = FIXED[name]
    model = create_model(name, num_classes=3, num_features=10, **{param: value})
    report = model.fit(x, y)
    assert report["selection"] == f"fixed_{param}" and report["converged"] and report["num_train"] == 120
    assert [report[f"{param}_dim{d}"] for d in range(3)] == [value] * 3
    expected = np.stack([_reference(name, value, x, y[:, d])(x_test) for d in range(3)], axis=1)
    np.testing.assert_allclose(_values(model, x_test), expected, atol=1e-6)
    # the scores are those of the torch model on the training data
    train_ccc = regression_metrics(y, _values(model, x), ["a", "b", "c"])["ccc"]
    assert report["train_ccc"] == pytest.approx(train_ccc) and report["train_loss"] == pytest.approx(
        1 - train_ccc
    )


@pytest.mark.parametrize("name", ["linear_svr", "ridge"])
def test_unrated_values_are_left_out_of_the_fit(name):
    x, y = _data(60, 6, seed=3)
    param, value = FIXED[name]
    clean = create_model(name, num_classes=3, num_features=6, **{param: value})
    clean.fit(x, y)
    # a row rated on no dimension changes nothing: not fitted, not in the standardisation either
    extra = np.concatenate([x, np.full((1, 6), 1e4)]), np.concatenate([y, np.full((1, 3), np.nan)])
    holes = create_model(name, num_classes=3, num_features=6, **{param: value})
    assert holes.fit(*extra)["num_train"] == 60
    for key, tensor in clean.state_dict().items():
        torch.testing.assert_close(holes.state_dict()[key], tensor, rtol=1e-12, atol=1e-12)
    # rows unrated on one dimension only: that dimension is the regressor of its rated rows, the others use all
    y_holes = y.copy()
    y_holes[:15, 0] = np.nan
    report = holes.fit(x, y_holes)
    assert report["dimensions"]["dim0"]["num_train"] == 45 and report["dimensions"]["dim1"]["num_train"] == 60
    x_test, _ = _data(30, 6, seed=4)
    got = _values(holes, x_test)
    np.testing.assert_allclose(got[:, 0], _reference(name, value, x[15:], y[15:, 0])(x_test), atol=1e-6)
    np.testing.assert_allclose(got[:, 1], _reference(name, value, x, y[:, 1])(x_test), atol=1e-6)


def _shift_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x1 = s + n, x2 = n with loud shared noise n: weak regularisation learns x1 - x2, strong about x1 alone."""
    rng = np.random.default_rng(seed)
    s = np.repeat([-1.0, 1.0], 100)
    n = rng.normal(0.0, 3.0, 200)
    return np.stack([s + n, n], axis=1), np.stack([(1 + s) / 2, (1 + s) / 2], axis=1)


@pytest.mark.parametrize(
    ("name", "grid", "chosen"),
    [("linear_svr", (1e-4, 10.0), (10.0, 1e-4)), ("ridge", (1e-3, 1e5), (1e-3, 1e5))],
)
def test_the_hyperparameter_is_chosen_per_dimension_on_validation_ccc(name, grid, chosen):
    x, y = _shift_case(0)
    s = np.repeat([-1.0, 1.0], 50)
    # validation where x1 - x2 = -2 s: dimension 0 rated against s (weak regularisation wins), dimension 1 with s
    x_val, y_val = np.stack([s, 3.0 * s], axis=1), np.stack([(1 - s) / 2, (1 + s) / 2], axis=1)
    param = FIXED[name][0]
    model = create_model(name, num_classes=2, num_features=2, **{f"{param}_grid": grid})
    report = model.fit(x, y, x_val, y_val, names=["arousal", "valence"])
    assert report["selection"] == "validation_ccc"
    assert (report[f"{param}_arousal"], report[f"{param}_valence"]) == chosen
    for dimension, value in zip(("arousal", "valence"), chosen):
        entry = report["dimensions"][dimension]
        scores = [row["val_ccc"] for row in entry["grid"]]
        assert entry[param] == value and entry["val_ccc"] == max(scores) > 0 > min(scores)
        assert report[f"val_ccc_{dimension}"] == pytest.approx(
            entry["val_ccc"]
        )  # the copied maps are the chosen
    # a dimension without validation ratings keeps the fixed value
    y_val[:, 1] = np.nan
    report = model.fit(x, y, x_val, y_val, names=["arousal", "valence"])
    assert report["selection"] == "mixed" and report["dimensions"]["valence"]["selection"] == f"fixed_{param}"
    assert report[f"{param}_valence"] == model.value and report["dimensions"]["valence"]["val_ccc"] is None


@pytest.mark.parametrize(
    ("name", "grid", "order"),
    [("linear_svr", (1.0, 0.01, 0.1), [0.01, 0.1, 1.0]), ("ridge", (1.0, 100.0, 10.0), [100.0, 10.0, 1.0])],
)
def test_the_grid_runs_from_the_strongest_regularisation_and_a_tie_keeps_the_first(name, grid, order):
    _, y = _data(50, 4, seed=5)
    x = np.ones(
        (50, 4)
    )  # constant features: every value predicts the training mean, validation CCC 0 for all
    param = FIXED[name][0]
    report = create_model(name, num_classes=3, num_features=4, **{f"{param}_grid": grid}).fit(x, y, x, y)
    rows = report["dimensions"]["dim0"]["grid"]
    scores = {row["val_ccc"] for row in rows}
    assert [row[param] for row in rows] == order and len(scores) == 1 and abs(scores.pop()) < 1e-9
    assert report[f"{param}_dim0"] == order[0] and report["selection"] == "validation_ccc"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_classes": 0}, "num_classes"),
        ({"c_grid": ()}, "c_grid"),
        ({"c": -1.0}, "c must"),
        ({"epsilon": 1.5}, "epsilon"),
    ],
)
def test_bad_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        linear_svr(**{"num_classes": 3, **options})
    with pytest.raises(ValueError, match="alpha_grid"):
        ridge(num_classes=3, alpha_grid=(0.0,))


def test_bad_data_raises_with_the_reason():
    model = ridge(num_classes=3, num_features=4)
    x, y = _data(6, 4, seed=6)
    with pytest.raises(ValueError, match=r"shape \(num_utterances, 4\)"):
        model.fit(np.zeros((6, 5)), y)
    with pytest.raises(ValueError, match="linear_svm"):  # class indices: a classifier's targets
        model.fit(x, np.arange(6) % 3)
    y[1:, 2] = np.nan
    with pytest.raises(ValueError, match="'dim2' has 1 rated"):
        model.fit(x, y)
    with pytest.raises(ValueError, match="both"):
        model.fit(x, y, val_features=x)


# -- the closed-form strategy ---------------------------------------------------------------------------------


def _sets(kind: str) -> FoldSets:
    rng = np.random.default_rng(0)
    targets = {
        "classification": np.arange(8) % 4,
        "regression": rng.uniform(size=(8, 3)).astype(np.float32),
        "multitask": np.concatenate([(np.arange(8) % 4)[:, None], rng.uniform(size=(8, 3))], axis=1),
    }[kind]
    task = TaskSpec.of_recipe(kind, () if kind == "regression" else ("a", "b", "c", "d"), DIMENSIONS)
    chunks = [rng.normal(size=(1, 5)).astype(np.float32) for _ in range(8)]
    part = ChunkSet(chunks, np.arange(8), targets, [f"u{i}" for i in range(8)], task=task)
    return FoldSets(part, part, part)


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("linear_svm", "regression", r"linear_svm classifies; .* \(linear_svr, ridge\)"),
        ("rbf_svm", "regression", "closed-form"),
        ("linear_svr", "classification", "linear_svr regresses emotion dimensions; set task: regression"),
        ("ridge", "multitask", r"not both; .*task: regression"),
        ("linear_svm", "multitask", "task=multitask"),
    ],
)
def test_closed_form_strategy_refuses_a_task_the_model_does_not_fit(name, kind, message, tmp_path):
    model = create_model(name, num_classes=3 if kind == "regression" else 4, num_features=5)
    with pytest.raises(ValueError, match=message):
        ClosedForm().train(
            model,
            _sets(kind),
            config=TrainConfig(),
            seed=0,
            run_dir=tmp_path,
            label_names=[],
            checkpoint_meta={},
        )
    assert not (tmp_path / "best.pt").exists()


# -- end to end -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tiny_corpus(tmp_path_factory.mktemp("corpus"))


def _recipe(corpus: Path, name: str) -> dict:
    recipe = tiny_recipe(corpus, task="regression", targets=DIMENSIONS, seeds=[0])
    recipe["train"]["mixup_alpha"] = 0.0
    recipe["input"] = {"mode": "utterance"}  # one 13-MFCC mean vector per utterance: the fit takes < 1 s
    recipe["model"] = {"name": name, "args": {"num_features": 13}}
    return recipe


#: Mean test CCC over the 2 folds on the tiny synthetic corpus (12 training utterances per fold), measured
#: arousal / mean: linear_svr 0.40 / 0.38, ridge 0.50 / 0.45 (a network gets 0.13 arousal CCC in 6 epochs).
CCC_BAR = 0.25


@pytest.mark.parametrize("name", ["linear_svr", "ridge"])
def test_regression_run_end_to_end_and_the_checkpoint_predicts_the_same(corpus, tmp_path, name):
    summary = run_experiment(load_experiment(base=_recipe(corpus, name)), tmp_path)
    assert summary["dimensions"] == DIMENSIONS and summary["n_runs"] == 2
    assert summary["metrics"]["ccc_arousal"]["mean"] > CCC_BAR and summary["metrics"]["ccc"]["mean"] > CCC_BAR
    param = FIXED[name][0]
    run = tmp_path / "runs" / summary["folds"][0] / "seed0"
    fit = json.loads((run / "fit.json").read_text())
    assert fit["selection"] == "validation_ccc" and set(fit["dimensions"]) == set(DIMENSIONS)
    for dimension in DIMENSIONS:
        assert fit[f"{param}_{dimension}"] == fit["dimensions"][dimension][param]
        assert fit[f"val_ccc_{dimension}"] == pytest.approx(fit["dimensions"][dimension]["val_ccc"], abs=1e-6)
    assert "val_ccc" in json.loads((run / "history.json").read_text())[0]
    with open(run / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    written = np.array([[float(row[f"pred_{d}"]) for d in DIMENSIONS] for row in rows])
    paths = {u.id: u.path for u in load_corpus("synthetic", corpus)}
    recognizer = Recognizer.from_checkpoint(run / "best.pt")
    assert recognizer.dimensions_ == DIMENSIONS
    predicted = recognizer.predict_dimensions([paths[row["utt_id"]] for row in rows])
    np.testing.assert_allclose(predicted, written, atol=1e-5)  # predictions.csv has 6 decimals


def test_iemocap_recipe_runs_on_a_fake_release(tmp_path):
    """recipes/dimensional/iemocap_loso_egemaps_svr.yaml with its eGeMAPS features, 3 sessions: 3 folds."""

    def write(path: Path, session: int, gender: str, turn: int, code: str) -> None:
        write_tone(path, seconds=1.0, frequency=120.0 + 50 * (turn % 5) + 7 * session)

    def ratings(session: int, gender: str, turn: int, code: str) -> tuple[float, float, float]:
        return 2.0 + 0.5 * (turn % 3), 1.5 + 0.6 * (turn % 5), 2.0 + 0.4 * (turn % 4)

    root = fake_iemocap(
        tmp_path / "iemocap",
        sessions=3,
        per_speaker=6,
        codes=["neu", "sad", "ang", "exc"],
        write=write,
        ratings=ratings,
    )
    config = load_experiment(
        RECIPES / "iemocap_loso_egemaps_svr.yaml", [f"corpus.root={root}", "train.progress=false"]
    )
    summary = run_experiment(config, tmp_path / "run")
    assert summary["n_runs"] == 3 and summary["speaker_independent"]
    assert summary["metrics"]["ccc_arousal"]["n"] == 3
    fit = json.loads((tmp_path / "run" / "runs" / summary["folds"][0] / "seed0" / "fit.json").read_text())
    assert fit["num_train"] == 12 and set(fit["dimensions"]) == set(DIMENSIONS)


def test_msp_podcast_recipe_runs_on_the_official_partitions(tmp_path):
    """recipes/dimensional/msp_podcast_egemaps_svr.yaml on a fake release whose valence is 4.0 everywhere: its
    validation CCC is undefined, so valence keeps the fixed C while arousal and dominance are chosen."""
    fake_msp_podcast(tmp_path / "msp", seconds=1.0)
    overrides = [f"corpus.root={tmp_path / 'msp'}", "train.progress=false"]
    config = load_experiment(RECIPES / "msp_podcast_egemaps_svr.yaml", overrides)
    summary = run_experiment(config, tmp_path / "run")
    assert summary["protocol"] == "official" and summary["runs"][0]["num_utterances"] == 4
    fit = json.loads((tmp_path / "run" / "runs" / summary["folds"][0] / "seed0" / "fit.json").read_text())
    assert fit["num_train"] == 12 and fit["selection"] == "mixed"
    assert fit["dimensions"]["valence"]["selection"] == "fixed_c" and fit["c_valence"] == 0.01
    assert fit["dimensions"]["arousal"]["selection"] == "validation_ccc"
