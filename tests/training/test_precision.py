"""train.precision: ``auto`` resolved in one place, evaluation in the training precision, cached eval batches."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from serkit.config import ConfigError, ExperimentConfig, TrainConfig, from_dict
from serkit.models import create_model
from serkit.training import accelerator as acc
from serkit.training import data as training_data
from serkit.training import engine
from serkit.training.checkpoint import load_checkpoint
from serkit.training.data import ChunkSet, eval_batches, utterance_logits
from serkit.training.engine import train_one

LABELS = ["neutral", "happy", "sad", "angry"]
META = {"model_name": "cnn_tiny", "model_args": {"num_classes": 4, "num_features": 5}, "label_names": LABELS}
CONFIG = TrainConfig(epochs=3, batch_size=8, eval_batch_size=16, lr=1e-2, progress=False, threads=1)


def _chunk_set(num_utterances: int, seed: int) -> ChunkSet:
    rng = np.random.default_rng(seed)
    targets = np.arange(num_utterances) % 4
    chunks, owner = [], []
    for utt, target in enumerate(targets):
        for _ in range(2):
            chunks.append((rng.normal(size=(int(rng.integers(6, 12)), 5)) + target).astype(np.float32))
            owner.append(utt)
    return ChunkSet(chunks, np.array(owner), targets, [f"u{i}" for i in range(num_utterances)])


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("cnn_tiny", num_classes=4, num_features=5)


def _record_dtypes(model: torch.nn.Module, seen: list[tuple[bool, torch.dtype]]) -> None:
    """Record (training mode, output dtype) of the model's first linear or convolution layer at every call."""
    layer = next(
        m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d))
    )
    layer.register_forward_hook(lambda module, inputs, output: seen.append((module.training, output.dtype)))


@pytest.mark.parametrize("value", ["auto", "no", "bf16", "fp16"])
def test_config_accepts_the_precisions(value):
    assert from_dict(ExperimentConfig, {"train": {"precision": value}}).train.precision == value


def test_config_default_is_auto_and_other_values_are_refused():
    assert TrainConfig().precision == "auto"
    with pytest.raises(ConfigError, match=r"train\.precision='fp32'.*auto, no, bf16 or fp16"):
        from_dict(ExperimentConfig, {"train": {"precision": "fp32"}})


def test_auto_is_bf16_on_a_cpu_with_native_bf16_and_fp32_otherwise(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(acc, "cpu_supports_bf16", lambda: True)
    assert acc.resolve_precision("auto") == "bf16"
    assert acc.describe_precision("auto") == "bf16 (auto)"
    monkeypatch.setattr(acc, "cpu_supports_bf16", lambda: False)
    assert acc.resolve_precision("auto") == "no"
    assert acc.describe_precision("auto") == "fp32 (auto)"
    for explicit in ("no", "bf16", "fp16"):  # an explicit choice is kept
        assert acc.resolve_precision(explicit) == explicit
    assert acc.describe_precision("no") == "fp32" and acc.describe_precision("bf16") == "bf16"


def test_auto_on_a_gpu_follows_its_bf16_support(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(acc, "cpu_supports_bf16", lambda: True)  # the CPU does not matter on a GPU
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert acc.resolve_precision("auto") == "no"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert acc.resolve_precision("auto") == "bf16"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("fpu sse avx512f avx512_bf16 avx512bw", True), ("fpu amx_tile amx_bf16", True), ("fpu avx512f", False)],
)
def test_cpu_bf16_detection_reads_the_kernel_flags(tmp_path: Path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: some cpu\nflags\t\t: {flags}\n\n", encoding="utf-8")
    assert acc.cpu_supports_bf16(cpuinfo) is expected
    assert acc.cpu_supports_bf16(tmp_path / "missing") is False  # not Linux: fp32


def test_one_process_can_change_precision_between_runs():
    assert acc.make_accelerator(precision="no").mixed_precision == "no"
    assert acc.make_accelerator(precision="bf16").mixed_precision == "bf16"
    assert acc.make_accelerator(precision="no").mixed_precision == "no"


@pytest.mark.parametrize(("precision", "dtype"), [("no", torch.float32), ("bf16", torch.bfloat16)])
def test_utterance_logits_run_under_the_given_autocast(precision, dtype):
    model, dataset, seen = _model(), _chunk_set(6, 0), []
    _record_dtypes(model, seen)
    logits, _ = utterance_logits(model, dataset, batch_size=4, precision=precision)
    assert seen and {d for _, d in seen} == {dtype}
    assert logits.dtype == torch.float32 and logits.shape == (6, 4)


@pytest.mark.parametrize(("precision", "dtype"), [("no", torch.float32), ("bf16", torch.bfloat16)])
def test_training_and_validation_run_in_the_training_precision(tmp_path: Path, precision, dtype):
    model, seen = _model(), []
    _record_dtypes(model, seen)
    outcome = train_one(
        model,
        _chunk_set(16, 0),
        _chunk_set(8, 1),
        config=replace(CONFIG, epochs=1, precision=precision),
        seed=0,
        run_dir=tmp_path,
        label_names=LABELS,
        checkpoint_meta=META,
    )
    assert {d for training, d in seen if training} == {dtype}  # training steps
    assert {d for training, d in seen if not training} == {dtype}  # the epoch's validation
    assert outcome.history[0]["precision"] == {"no": "fp32", "bf16": "bf16"}[precision]


def test_validation_batches_are_padded_once_per_run(tmp_path: Path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        engine, "eval_batches", lambda dataset, size: calls.append(size) or eval_batches(dataset, size)
    )
    train_one(
        _model(),
        _chunk_set(16, 0),
        _chunk_set(8, 1),
        config=replace(CONFIG, epochs=3, precision="no"),
        seed=0,
        run_dir=tmp_path,
        label_names=LABELS,
        checkpoint_meta=META,
    )
    assert calls == [CONFIG.eval_batch_size]  # one set, three epochs


def test_cached_batches_give_the_same_logits_and_large_sets_are_not_cached(monkeypatch):
    model, dataset = _model(), _chunk_set(10, 2)
    batches = eval_batches(dataset, 4)
    assert batches is not None and len(batches) == 5  # 20 chunks
    cached, _ = utterance_logits(model, dataset, batch_size=4, batches=batches)
    again, _ = utterance_logits(model, dataset, batch_size=4, batches=batches)
    padded_here, _ = utterance_logits(model, dataset, batch_size=4)
    assert torch.equal(cached, padded_here) and torch.equal(again, padded_here)
    monkeypatch.setattr(training_data, "EVAL_CACHE_BYTES", 100)
    assert eval_batches(dataset, 4) is None


def test_auto_is_deterministic(tmp_path: Path):
    def run(folder: str) -> list[dict]:
        outcome = train_one(
            _model(),
            _chunk_set(24, 0),
            _chunk_set(8, 1),
            config=replace(CONFIG, precision="auto", mixup_alpha=0.5),
            seed=3,
            run_dir=tmp_path / folder,
            label_names=LABELS,
            checkpoint_meta=META,
        )
        return [{k: v for k, v in record.items() if not k.endswith("_seconds")} for record in outcome.history]

    first, second = run("a"), run("b")
    assert first == second
    assert first[0]["precision"] == acc.describe_precision("auto")
    weights = [load_checkpoint(tmp_path / f / "best.pt")["state_dict"] for f in ("a", "b")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_final_evaluation_and_checkpoint_use_the_training_precision(tmp_path: Path, monkeypatch, precision):
    from tiny_runs import tiny_corpus, tiny_recipe

    from serkit.recipe import load_experiment
    from serkit.training import stages
    from serkit.training.runner import run_experiment

    used = []
    original = stages.utterance_logits
    monkeypatch.setattr(
        stages,
        "utterance_logits",
        lambda *args, **kwargs: used.append(kwargs["precision"]) or original(*args, **kwargs),
    )
    recipe = tiny_recipe(
        tiny_corpus(tmp_path / "corpus"),
        train={"epochs": 1, "precision": precision},
        seeds=[0],
        protocol={"name": "speaker_kfold", "options": {"k": 2, "val_speakers": 1}, "folds": [0]},
        runner={"jobs": 1},
    )
    run_experiment(load_experiment(base=recipe), tmp_path / "run")
    assert used and set(used) == {precision}  # test and validation logits of the selected weights
    (best,) = (tmp_path / "run").glob("runs/*/seed0/best.pt")
    assert load_checkpoint(best)["precision"] == precision  # what serkit predict will use
