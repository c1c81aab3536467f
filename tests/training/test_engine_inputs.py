"""The engine's general inputs: frames mode, waveform and no-audio features, text extras, balanced sampling,
the contrastive term, multi-stage recipes (resume mid-chain) and the logits kept for ensembles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_runs import tiny_corpus, tiny_recipe

from serkit.config import ConfigError, InputConfig, TrainConfig
from serkit.features.pipeline import InputPipeline
from serkit.models.losses import supervised_contrastive
from serkit.recipe import load_experiment
from serkit.training import engine
from serkit.training.data import ChunkSet, collate_chunks, make_loader, utterance_logits
from serkit.training.runner import run_experiment


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return tiny_corpus(tmp_path_factory.mktemp("synthetic"))


def _recipe(corpus: Path, *, train: dict | None = None, **sections) -> dict:
    """Two epochs, one seed, no mixup: these tests check plumbing, not learning."""
    return tiny_recipe(
        corpus, train={"epochs": 2, "mixup_alpha": 0.0, **(train or {})}, seeds=[0], **sections
    )


def test_frames_mode_makes_each_feature_frame_a_chunk_and_shares_the_utterance_cache(tmp_path: Path, tone):
    path = tone("a.wav", seconds=0.5)
    feature = {"name": "log_mel", "n_mels": 8}
    utterance = InputPipeline(feature, InputConfig(mode="utterance"), cache_dir=tmp_path / "cache")
    frames = InputPipeline(feature, InputConfig(mode="frames"), cache_dir=tmp_path / "cache")
    whole = utterance.chunks(path)  # (1, frames, 8)
    split = frames.chunks(path)  # (frames, 1, 8)
    assert whole.shape[0] == 1 and split.shape == (whole.shape[1], 1, 8)
    np.testing.assert_array_equal(split[:, 0], whole[0])
    assert frames.cache.hits == 1 and frames.cache.misses == 0  # served from the utterance-level entry
    np.testing.assert_array_equal(frames.chunks_from_waveform(np.zeros(8000, np.float32)).shape, (51, 1, 8))


def test_waveform_and_none_features(tmp_path: Path, tone):
    path = tone("b.wav", seconds=0.25)
    waveform = InputPipeline({"name": "waveform"}, InputConfig(mode="utterance", normalize="none"))
    chunks = waveform.chunks(path)
    assert chunks.shape == (1, 4000)
    none = InputPipeline({"name": "none"}, InputConfig(mode="utterance", normalize="none"))
    assert none.chunks(tmp_path / "missing.wav").shape == (1, 1, 1)  # no file is read
    batch = collate_chunks([(chunks[0], 0, 0, {}), (chunks[0][:1000], 1, 1, {})])
    assert batch["features"].shape == (2, 4000) and batch["lengths"].tolist() == [4000, 1000]
    assert float(batch["features"][1, 1000:].abs().sum()) == 0.0


class _TextModel(torch.nn.Module):
    """Mean of the valid text embeddings -> linear; audio ignored. Records the keyword inputs it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.head = torch.nn.Linear(4, 2)
        self.hidden_dim = 4

    def forward_features(self, features, lengths, *, text, text_lengths):
        valid = torch.arange(text.shape[1])[None, :] < text_lengths[:, None]
        return (self.embed(text) * valid[..., None]).sum(1) / text_lengths[:, None]

    def forward_head(self, embedding):
        return self.head(embedding)

    def forward(self, features, lengths, *, text, text_lengths):
        return self.forward_head(
            self.forward_features(features, lengths, text=text, text_lengths=text_lengths)
        )


def test_text_extras_are_padded_and_reach_the_model():
    chunks = [np.zeros((3, 2), np.float32)] * 3
    extras = [{"text": np.array([1, 2, 3])}, {"text": np.array([4])}]
    dataset = ChunkSet(chunks, np.array([0, 0, 1]), np.array([0, 1]), ("a", "b"), extras)
    batch = collate_chunks([dataset[0], dataset[2]])
    assert batch["text"].tolist() == [[1, 2, 3], [4, 0, 0]] and batch["text_lengths"].tolist() == [3, 1]
    model = _TextModel().eval()
    logits, _ = utterance_logits(model, dataset, batch_size=2)
    alone = model(
        torch.zeros(1, 3, 2), torch.tensor([3]), text=torch.tensor([[4]]), text_lengths=torch.tensor([1])
    )
    torch.testing.assert_close(logits[1:2], alone)  # padding of the text never changes the output


def test_balanced_sampler_draws_classes_evenly():
    targets = np.array([0] * 90 + [1] * 10)
    dataset = ChunkSet(
        [np.zeros((1, 1), np.float32)] * 100, np.arange(100), targets, [str(i) for i in range(100)]
    )
    drawn = np.concatenate(
        [
            batch["targets"].numpy()
            for epoch in range(5)
            for batch in make_loader(dataset, batch_size=50, shuffle=True, epoch=epoch, balanced=True)
        ]
    )
    assert len(drawn) == 500 and 0.4 < drawn.mean() < 0.6  # about half are the 10 % minority class
    again = np.concatenate(
        [
            b["targets"].numpy()
            for b in make_loader(dataset, batch_size=50, shuffle=True, epoch=0, balanced=True)
        ]
    )
    np.testing.assert_array_equal(again, drawn[:100])  # the draw depends only on (seed, epoch)


def test_supervised_contrastive_pulls_same_class_together_and_has_gradients():
    targets = torch.tensor([0, 0, 1, 1])
    close = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]], requires_grad=True)
    far = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    loss = supervised_contrastive(close, targets, temperature=0.5)
    assert loss < supervised_contrastive(far, targets, temperature=0.5)
    loss.backward()
    assert close.grad.abs().sum() > 0
    assert (
        float(supervised_contrastive(close.detach(), torch.tensor([0, 1, 2, 3]))) == 0.0
    )  # no positives at all


def test_contrastive_and_balanced_training_run(corpus: Path, tmp_path: Path):
    recipe = _recipe(
        corpus, train={"epochs": 1, "batch_size": 8, "contrastive_weight": 0.5, "sampler": "balanced"}
    )
    summary = run_experiment(load_experiment(base=recipe), tmp_path)
    assert summary["n_runs"] == 2
    with pytest.raises(ValueError, match="sampler"):
        TrainConfig(sampler="uniform")


def test_outputs_npz_holds_validation_and_test_logits(corpus: Path, tmp_path: Path):
    summary = run_experiment(load_experiment(base=_recipe(corpus)), tmp_path)
    run = tmp_path / "runs" / summary["folds"][0] / "seed0"
    with np.load(run / "outputs.npz", allow_pickle=False) as data:
        assert data["val_logits"].shape == (len(data["val_ids"]), 4) and len(data["val_ids"]) > 0
        assert data["test_logits"].shape == (len(data["test_ids"]), 4)
        predicted = data["test_logits"].argmax(1)
        assert list(data["label_names"]) == ["neutral", "happy", "sad", "angry"]
    rows = (run / "predictions.csv").read_text().splitlines()[1:]
    assert [row.split(",")[3] for row in rows] == [["neutral", "happy", "sad", "angry"][i] for i in predicted]
    # the always-neutral reference is scored on the same test utterances and summarised beside the model
    record = json.loads((run / "metrics.json").read_text())
    true = [row.split(",")[2] for row in rows]
    assert record["reference"]["always_neutral"]["wa"] == pytest.approx(true.count("neutral") / len(true))
    assert "micro_f1_non_neutral" in summary["metrics"] and "always_neutral" in summary["references"]
    assert "Reference, always neutral" in (tmp_path / "summary.md").read_text()


STAGES = [
    {"name": "first", "set": ["train.lr=0.02"]},
    {"name": "second", "set": ["train.lr=0.001"], "init_from": "first"},
]
SMALL = {"name": "cnn_small", "args": {"channels": [8], "kernel_size": 3}}


def test_stages_run_in_order_from_the_previous_stage_weights(corpus: Path, tmp_path: Path):
    # with a 1e-30 learning rate (0 is refused) the second stage cannot move: its weights are exactly the ones it started from
    frozen = [STAGES[0], {**STAGES[1], "set": ["train.lr=1e-30"]}]
    summary = run_experiment(load_experiment(base=_recipe(corpus, stages=frozen, model=SMALL)), tmp_path)
    run = tmp_path / "runs" / summary["folds"][0] / "seed0"
    first = torch.load(run / "first" / "best.pt", weights_only=True)["state_dict"]
    second = torch.load(run / "best.pt", weights_only=True)["state_dict"]
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    fresh = run_experiment(
        load_experiment(base=_recipe(corpus, model=SMALL, train={"lr": 1e-30})), tmp_path / "scratch"
    )
    scratch_best = tmp_path / "scratch" / "runs" / fresh["folds"][0] / "seed0" / "best.pt"
    scratch = torch.load(scratch_best, weights_only=True)["state_dict"]
    assert not all(torch.equal(first[k], scratch[k]) for k in first)  # the first stage did train
    record = json.loads((run / "metrics.json").read_text())
    assert set(record["stages"]) == {"first", "final"} and record["stages"]["final"] == record["metrics"]
    for name in ("metrics.json", "best.pt", "predictions.csv", "config.yaml"):
        assert (run / "first" / name).is_file() and (run / name).is_file()


def test_stages_resume_after_a_kill_in_the_second_stage(corpus: Path, tmp_path: Path, monkeypatch):
    config = load_experiment(base=_recipe(corpus, stages=STAGES, model=SMALL))
    reference = run_experiment(config, tmp_path / "reference")
    real_save = engine.save_checkpoint
    calls = {"n": 0}

    def killing_save(path, payload):
        real_save(path, payload)
        if Path(path).name == "last.pt" and Path(path).parent.name == "seed0":  # the second (last) stage
            calls["n"] += 1
            if calls["n"] == 1:
                raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", killing_save)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "resumed")
    monkeypatch.setattr(engine, "save_checkpoint", real_save)
    resumed = run_experiment(config, tmp_path / "resumed")
    for a, b in zip(reference["runs"], resumed["runs"]):
        assert a["metrics"]["ua"] == pytest.approx(b["metrics"]["ua"])
        assert a["metrics"]["wa"] == pytest.approx(b["metrics"]["wa"])


@pytest.mark.parametrize(
    "stages, message",
    [
        ([{"name": "a", "set": ["train.lrr=1"]}], "stages.a"),
        ([{"name": "a"}, {"name": "a"}], "unique"),
        ([{"name": "a", "init_from": "b"}], "earlier stage"),
        ([{"name": "a", "set": ["model.name=cnn_huge"]}], "cnn_small"),
    ],
)
def test_bad_stages_fail_when_the_recipe_is_read(corpus: Path, stages, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(base=_recipe(corpus, stages=stages))


def test_sentiment_targets_bin_scores_as_mat_does():
    from serkit.data.labels import LabelSet, apply_label_set
    from serkit.data.utterance import Utterance

    scores = [-2.6, -2.0, -0.4, 0.0, 0.2, 1.0, 1.4, 2.8]
    utts = [Utterance(id=f"u{i}", path="x.wav", extra={"sentiment": str(v)}) for i, v in enumerate(scores)]
    binary = LabelSet(("negative", "positive"), target="sentiment_binary")
    kept, left_out = apply_label_set(utts, binary)
    assert [binary.class_of(u) for u in kept] == ["negative"] * 3 + ["positive"] * 4
    assert sum(left_out.values()) == 1  # the zero score
    bins = LabelSet(("-3", "-2", "-1", "0", "+1", "+2", "+3"), target="sentiment_7_bins")
    assert [bins.class_of(u) for u in utts] == ["-3", "-2", "-1", "0", "+1", "+1", "+2", "+3"]
    rounded = LabelSet(("-3", "-2", "-1", "0", "+1", "+2", "+3"), target="sentiment_7_round")
    assert [rounded.class_of(u) for u in utts] == ["-3", "-2", "0", "0", "0", "+1", "+1", "+3"]
    with pytest.raises(ValueError, match="class of target"):
        LabelSet(("negative", "happy"), target="sentiment_binary")


def test_unknown_target_fails_when_the_recipe_is_read(corpus: Path):
    with pytest.raises(ConfigError, match="sentiment_binary"):
        load_experiment(
            base=_recipe(corpus, labels={"labels": ["negative", "positive"], "target": "sentiment_binnary"})
        )


def _fake_mosei(root: Path) -> Path:
    """A MOSEI-layout tree: 30 clips of 10 videos with sentiment and six emotion scores tied to the tone pitch."""
    import soundfile as sf

    rows = ["video_id,clip_id,text,label,annotation,mode,happy,sad,anger,surprise,disgust,fear"]
    rng = np.random.default_rng(0)
    for index in range(30):
        video, clip = f"vid{index % 10}", str(index // 10)
        happy = index % 2  # high pitch = happy, positive; low pitch = sad, negative
        t = np.arange(8000) / 16000
        wave = 0.3 * np.sin(2 * np.pi * (440 if happy else 150) * t) + 0.01 * rng.standard_normal(8000)
        (root / "Raw" / video).mkdir(parents=True, exist_ok=True)
        sf.write(root / "Raw" / video / f"{clip}.wav", wave.astype(np.float32), 16000)
        split = ("train", "train", "valid", "test", "train")[index % 5]
        score = 1.5 if happy else -1.5
        rows.append(f"{video},{clip},some words,{score},x,{split},{happy * 2},{(1 - happy) * 1.5},0,0,0,0")
    (root / "label.csv").write_text("\n".join(rows) + "\n")
    return root


def _mosei_recipe(root: Path, target: str, **train) -> dict:
    return {
        "name": f"mosei_{target}",
        "corpus": {"name": "mosei", "root": str(root)},
        "labels": {"target": target},
        "protocol": {"name": "official"},
        "input": {"mode": "utterance"},
        "features": {"name": "mfcc", "n_mfcc": 13},
        "model": {"name": "cnn_tiny"},
        "train": {"epochs": 3, "batch_size": 8, "lr": 0.01, "progress": False, **train},
        "seeds": [0],
    }


def test_multi_label_mosei_emotions_end_to_end(tmp_path: Path):
    root = _fake_mosei(tmp_path / "mosei")
    recipe = _mosei_recipe(root, "mosei_emotions", loss="bce", select_metric="macro_f1")
    summary = run_experiment(load_experiment(base=recipe), tmp_path / "run")
    assert summary["multi_label"] and summary["confusion"] is None
    assert summary["label_names"] == ["happy", "sad", "angry", "surprised", "disgust", "fearful"]
    assert 0.0 <= summary["metrics"]["label_accuracy"]["mean"] <= 1.0
    run = tmp_path / "run" / "runs" / "official" / "seed0"
    with np.load(run / "outputs.npz", allow_pickle=False) as data:
        assert data["test_targets"].shape == (6, 6) and data["test_logits"].shape == (6, 6)
        assert data["test_targets"][:, 2:].sum() == 0  # angry .. fearful never present
    rows = (run / "predictions.csv").read_text().splitlines()
    assert rows[0].startswith("utt_id,speaker,true,predicted,p_happy") and rows[1].split(",")[2] in (
        "happy",
        "sad",
    )
    assert "Per label" in (tmp_path / "run" / "summary.md").read_text()
    with pytest.raises(ValueError, match="loss=bce"):
        run_experiment(load_experiment(base=_mosei_recipe(root, "mosei_emotions")), tmp_path / "ce")


def test_binary_sentiment_end_to_end(tmp_path: Path):
    root = _fake_mosei(tmp_path / "mosei")
    summary = run_experiment(load_experiment(base=_mosei_recipe(root, "sentiment_binary")), tmp_path / "run")
    assert summary["label_names"] == ["negative", "positive"] and not summary["multi_label"]
    assert summary["runs"][0]["num_utterances"] == 6


def test_eval_max_seconds_truncates_only_evaluation_inputs(tmp_path: Path, tone):
    path = tone("c.wav", seconds=1.0)
    inputs = InputConfig(mode="utterance", normalize="none", max_seconds=0.25, eval_max_seconds=0.5)
    pipeline = InputPipeline({"name": "waveform"}, inputs, cache_dir=tmp_path / "cache")
    assert pipeline.chunks(path, train=True).shape == (1, 4000)
    assert pipeline.chunks(path, train=False).shape == (1, 8000)
    assert pipeline.cache_key(True) != pipeline.cache_key(False)


def test_per_stage_overrides_on_the_command_line(corpus: Path):
    config = load_experiment(
        base=_recipe(corpus, stages=STAGES), overrides=["stages.first.train.epochs=1", "train.batch_size=4"]
    )
    from serkit.recipe import stage_config

    first, second = (stage_config(config, stage) for stage in config.stages)
    assert first.train.epochs == 1 and second.train.epochs == 2 and first.train.batch_size == 4
    assert first.train.lr == 0.02  # the stage's own values stay
    with pytest.raises(ConfigError, match="no stage 'thrid'"):
        load_experiment(base=_recipe(corpus, stages=STAGES), overrides=["stages.thrid.train.epochs=1"])


def test_frames_and_utterance_stages_share_one_copy_of_the_features():
    from serkit.training.stages import Prepared as _Prepared
    from serkit.training.stages import views_of as _views_of

    utterance = _Prepared({"a": np.arange(24, dtype=np.float32).reshape(1, 4, 2, 3)}, {}, [])
    frames = _views_of(utterance, "frames")
    assert frames.train_chunks["a"].shape == (4, 1, 2, 3)
    assert np.shares_memory(frames.train_chunks["a"], utterance.train_chunks["a"])
    back = _views_of(frames, "utterance")
    np.testing.assert_array_equal(back.train_chunks["a"], utterance.train_chunks["a"])


def test_text_only_recipes_need_no_audio_files(tmp_path: Path):
    root = _fake_mosei(tmp_path / "mosei")
    for wav in (root / "Raw").rglob("*.wav"):
        wav.unlink()  # transcripts and labels only, like MELD's CSVs without the videos
    recipe = _mosei_recipe(root, "sentiment_binary")
    recipe["corpus"]["options"] = {"missing_audio": "keep"}
    recipe["features"] = {"name": "none"}
    recipe["input"] = {"mode": "utterance", "normalize": "none"}
    summary = run_experiment(load_experiment(base=recipe), tmp_path / "run")
    assert (
        summary["runs"][0]["num_utterances"] == 6 and not summary["notes"][1:]
    )  # nothing skipped as unreadable
