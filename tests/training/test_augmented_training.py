"""On-the-fly waveform augmentation (``augment:``): same chunks as the cache without augmentation, seeded epochs,
deterministic and resumable runs, the report's line, and the recipe checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny_runs import tiny_corpus, tiny_recipe

from serkit.audio.augment import WaveformAugment
from serkit.audio.io import load
from serkit.cli import main
from serkit.config import ConfigError, InputConfig
from serkit.core.errors import NoAudioFilesError
from serkit.data.corpora import load_corpus
from serkit.features.normalize import Normalizer
from serkit.features.pipeline import InputPipeline
from serkit.recipe import load_experiment
from serkit.training import engine
from serkit.training.augmented_data import AugmentedChunkSet
from serkit.training.data import ChunkSet
from serkit.training.engine import TIMING_KEYS
from serkit.training.runner import run_experiment

AUGMENT = {"speed_prob": 1.0, "noise_prob": 0.5, "noise_snr_db": [5, 15], "gain_prob": 0.5}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return tiny_corpus(tmp_path_factory.mktemp("synthetic"))


def _recipe(corpus: Path, augment: dict | None = None, epochs: int = 3) -> dict:
    recipe = tiny_recipe(corpus, train={"epochs": epochs}, seeds=[0])
    recipe["protocol"]["folds"] = [0]
    return {**recipe, **({"augment": augment} if augment else {})}


def _run_files(out: Path) -> tuple[str, list[dict]]:
    """predictions.csv and the history without its measured keys, of the one (fold, seed) run under ``out``."""
    run = next(out.glob("runs/*/seed0"))
    history = json.loads((run / "history.json").read_text())
    return (run / "predictions.csv").read_text(), [
        {k: v for k, v in epoch.items() if k not in TIMING_KEYS} for epoch in history
    ]


@pytest.fixture(scope="module")
def augmented_run(corpus: Path, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("augmented")
    return run_experiment(load_experiment(base=_recipe(corpus, AUGMENT)), out), out


def _chunk_sets(corpus: Path, mode: str) -> tuple[InputPipeline, ChunkSet, Normalizer, list[np.ndarray]]:
    """A pipeline, the cached (normalised) training set of 8 utterances, its normaliser and their waveforms."""
    utterances = load_corpus("synthetic", corpus)[:8]
    pipeline = InputPipeline({"name": "mfcc", "n_mfcc": 13}, InputConfig(mode=mode, window=0.5, hop=0.25))
    cached = [pipeline.chunks(u.path, train=True, name=u.id) for u in utterances]
    normalizer = Normalizer.fit(cached)
    normalized = [normalizer.utterance(chunks) for chunks in cached]
    base = ChunkSet(
        [chunk for chunks in normalized for chunk in chunks],
        np.repeat(np.arange(len(cached)), [len(chunks) for chunks in cached]),
        np.zeros(len(utterances), dtype=np.int64),
        [u.id for u in utterances],
    )
    return pipeline, base, normalizer, [load(u.path, 16000) for u in utterances]


@pytest.mark.parametrize("mode", ["segments", "utterance", "frames"])
def test_augmentation_that_changes_nothing_gives_the_cached_chunks(corpus: Path, mode: str):
    pipeline, base, normalizer, waveforms = _chunk_sets(corpus, mode)
    identity = WaveformAugment(
        speeds=(1.0,), speed_prob=1.0
    )  # on, but a no-op: the same code path as the cache
    augmented = AugmentedChunkSet(
        base,
        waveforms=waveforms,
        speakers=[""] * len(waveforms),
        pipeline=pipeline,
        augment=identity,
        normalizer=normalizer,
        seed=0,
    )
    np.testing.assert_array_equal(augmented.chunk_utterance, base.chunk_utterance)
    for ours, cached in zip(augmented.chunks, base.chunks):
        np.testing.assert_allclose(ours, cached, atol=1e-4)  # featurised in batches of several utterances


@pytest.mark.parametrize("short_policy", ["pad", "tile", "drop", "keep"])
def test_batched_featurisation_gives_each_waveform_its_own_chunks(short_policy: str):
    rng = np.random.default_rng(0)
    waveforms = [rng.standard_normal(n).astype(np.float32) for n in (4000, 9000, 20000, 3000, 16000, 8000)]
    inputs = InputConfig(window=0.5, hop=0.25, short_policy=short_policy)
    pipeline = InputPipeline({"name": "mfcc", "n_mfcc": 13}, inputs)
    batched = pipeline.chunks_from_waveforms(waveforms, train=True, batch_size=4)
    for ours, waveform in zip(batched, waveforms):
        one = pipeline.chunks_from_waveform(waveform, train=True)
        assert ours.shape == one.shape
        np.testing.assert_allclose(ours, one, atol=1e-4)


def test_each_epoch_has_its_own_chunks_and_an_epoch_is_reproducible(corpus: Path):
    pipeline, base, normalizer, waveforms = _chunk_sets(corpus, "segments")
    augmented = AugmentedChunkSet(
        base,
        waveforms=waveforms,
        speakers=[""] * len(waveforms),
        pipeline=pipeline,
        augment=WaveformAugment(speed_prob=1.0, noise_prob=1.0, gain_prob=1.0),
        normalizer=normalizer,
        seed=3,
    )
    epochs = []
    for epoch in (0, 1, 2, 0):
        augmented.set_epoch(epoch)
        epochs.append((augmented.chunk_utterance.copy(), [c.copy() for c in augmented.chunks]))
    for owner, _ in epochs:  # each utterance keeps its number of cached segments, whatever the speed
        np.testing.assert_array_equal(owner, base.chunk_utterance)
    for a, b in zip(epochs[0][1], epochs[3][1]):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(epochs[0][1][0], epochs[1][1][0])
    assert not pipeline.short_utterances  # the corpus' short-utterance count is not the augmented one's


def test_augmented_runs_are_deterministic_differ_from_plain_and_are_reported(
    corpus: Path, tmp_path: Path, augmented_run, capsys
):
    summary, out = augmented_run
    note = next(n for n in summary["notes"] if "augmented on the fly" in n)
    assert "speed x0.9/1/1.1 (p=1)" in note and "white/pink/brown noise at 5 to 15 dB SNR (p=0.5)" in note
    assert "augmented on the fly" in (out / "summary.md").read_text()
    recipe = tmp_path / "tiny.yaml"  # the same recipe from the CLI, augmentation set by --set
    recipe.write_text(yaml.safe_dump(_recipe(corpus)))
    settings = [f"augment.{key}={json.dumps(value)}" for key, value in AUGMENT.items()]
    args = ["train", str(recipe), "--out", str(tmp_path / "cli")]
    assert main([*args, *(item for s in settings for item in ("--set", s))]) == 0
    capsys.readouterr()
    assert _run_files(tmp_path / "cli") == _run_files(out)
    run_experiment(load_experiment(base=_recipe(corpus)), tmp_path / "plain")
    plain_predictions, plain_history = _run_files(tmp_path / "plain")
    predictions, history = _run_files(out)
    assert [e["train_loss"] for e in plain_history] != [e["train_loss"] for e in history]
    assert plain_predictions != predictions


def test_interrupted_augmented_run_resumes_to_the_same_result(
    corpus: Path, tmp_path: Path, augmented_run, monkeypatch
):
    config = load_experiment(base=_recipe(corpus, AUGMENT))
    real_save = engine.save_checkpoint

    def killing_save(path, payload):
        real_save(path, payload)
        if Path(path).name == "last.pt" and payload["epoch"] == 1:  # killed after the second epoch
            raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", killing_save)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path)
    monkeypatch.setattr(engine, "save_checkpoint", real_save)
    run_experiment(config, tmp_path)
    assert _run_files(tmp_path) == _run_files(augmented_run[1])


@pytest.mark.parametrize(
    "override, message",
    [
        ("augment.speed_prob=2", "augment.speed_prob=2.0 is out of range"),
        ("augment.noise_snr_db=[20, 5]", r"augment.noise_snr_db=\[20.0, 5.0\] is out of range"),
        ("augment.speed=[0.1, 1.0]", "speed factors in"),
        ("augment.noise_colors=[blue]", "white, pink, brown"),
        ("augment.speeds=[1.0]", "unknown config key 'augment.speeds'"),
    ],
)
def test_bad_augment_values_fail_before_any_work(corpus: Path, override: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_experiment(base=_recipe(corpus), overrides=[override])


def test_default_is_off_and_an_empty_noise_folder_is_named(corpus: Path, tmp_path: Path):
    assert not load_experiment(base=_recipe(corpus)).augment.enabled
    empty = tmp_path / "noise"
    empty.mkdir()
    recipe = _recipe(corpus, {"noise_prob": 1.0, "noise_dir": str(empty)}, epochs=1)
    with pytest.raises(NoAudioFilesError, match=f"noise folder {empty} holds no audio file"):
        run_experiment(load_experiment(base=recipe), tmp_path / "run")


def test_every_epoch_has_the_same_number_of_steps_so_per_step_schedules_hold(corpus: Path, tmp_path: Path):
    recipe = _recipe(corpus, {"speed": [0.8, 1.25], "speed_prob": 1.0}, epochs=3)
    recipe["train"].update(
        scheduler="one_cycle", mixup_alpha=0.0
    )  # OneCycleLR fails when stepped past its end
    run_experiment(load_experiment(base=recipe), tmp_path)
    run = next(tmp_path.glob("runs/*/seed0"))
    items = {epoch["train_items"] for epoch in json.loads((run / "history.json").read_text())}
    assert len(items) == 1
