"""DCNN-BLSTMwA: AlexNet's size and torchvision-compatible weights, the stage-2 model's pieces and options.

Shape, gradient and padding-invariance checks of all four models are in test_all_models.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import write_tone

from serkit.features import DCNNSegmentsConfig
from serkit.models import count_parameters, create_model
from serkit.models.dcnn_blstm import SegmentSelfAttention

#: torchvision.models.alexnet().state_dict().keys() (torchvision 0.15-0.20), written out: no torchvision here.
TORCHVISION_ALEXNET_KEYS = [
    "features.0.weight",
    "features.0.bias",
    "features.3.weight",
    "features.3.bias",
    "features.6.weight",
    "features.6.bias",
    "features.8.weight",
    "features.8.bias",
    "features.10.weight",
    "features.10.bias",
    "classifier.1.weight",
    "classifier.1.bias",
    "classifier.4.weight",
    "classifier.4.bias",
    "classifier.6.weight",
    "classifier.6.bias",
]
#: Their shapes with ImageNet's 1000 classes (torchvision's alexnet-owt-7be5be79.pth).
TORCHVISION_ALEXNET_SHAPES = [
    (64, 3, 11, 11),
    (64,),
    (192, 64, 5, 5),
    (192,),
    (384, 192, 3, 3),
    (384,),
    (256, 384, 3, 3),
    (256,),
    (256, 256, 3, 3),
    (256,),
    (4096, 9216),
    (4096,),
    (4096, 4096),
    (4096,),
    (1000, 4096),
    (1000,),
]
SMALL = {"widths": (8, 16, 24, 16, 16), "hidden_dim": 32}


def images(batch: int, frames: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_alexnet_size_and_torchvision_layout():
    model = create_model("alexnet", num_classes=4)
    assert count_parameters(model) == 57_020_228
    assert list(model.state_dict()) == TORCHVISION_ALEXNET_KEYS
    imagenet = create_model("alexnet", num_classes=1000)
    assert [tuple(v.shape) for v in imagenet.state_dict().values()] == TORCHVISION_ALEXNET_SHAPES
    assert model.init_note.startswith("random initialisation")


def test_saved_state_dict_reloads_to_identical_outputs(tmp_path):
    torch.manual_seed(0)  # narrow layers keep the file small; the layout is the full model's (test above)
    model = create_model("alexnet", num_classes=4, **SMALL).eval()
    path = tmp_path / "alexnet.pth"
    torch.save(model.state_dict(), path)
    torch.manual_seed(1)
    fresh = create_model("alexnet", num_classes=4, weights=str(path), **SMALL).eval()
    assert list(torch.load(path, weights_only=True)) == TORCHVISION_ALEXNET_KEYS
    x, lengths = images(2, 1, size=227), torch.ones(2, dtype=torch.long)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x, lengths), model(x, lengths), rtol=0, atol=0)
    assert fresh.init_note == f"weights from {path}"


def test_imagenet_checkpoint_replaces_the_class_layer(tmp_path):
    imagenet = create_model("alexnet", num_classes=1000, **SMALL)
    path = tmp_path / "imagenet.pth"
    torch.save(imagenet.state_dict(), path)
    model = create_model("alexnet", num_classes=4, weights=str(path), **SMALL)
    for key, value in model.state_dict().items():
        if not key.startswith("classifier.6"):
            torch.testing.assert_close(value, imagenet.state_dict()[key], rtol=0, atol=0)
    assert model.classifier[6].out_features == 4 and "classifier.6 initialised anew" in model.init_note
    blstm = create_model(
        "dcnn_blstm",
        num_classes=4,
        weights=str(path),
        widths=SMALL["widths"],
        extractor_hidden=SMALL["hidden_dim"],
        lstm_hidden=8,
    )
    torch.testing.assert_close(
        blstm.extractor.features[0].weight, imagenet.features[0].weight, rtol=0, atol=0
    )
    assert str(path) in blstm.init_note


def test_bad_weight_files_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        create_model("alexnet", num_classes=4, weights=str(tmp_path / "missing.pth"))
    path = tmp_path / "other.pth"
    torch.save(create_model("alexnet_small", num_classes=4).state_dict(), path)
    with pytest.raises(ValueError, match="different shapes"):
        create_model("alexnet", num_classes=4, weights=str(path), widths=(8, 16, 24, 16, 32), hidden_dim=64)
    torch.save({"not": "weights"}, path)
    with pytest.raises(ValueError, match="state dict"):
        create_model("alexnet_small", num_classes=4, resize_to=0).load_weights(path)


def test_alexnet_utterance_logits_are_the_mean_of_segment_logits():
    model = create_model("alexnet", num_classes=4, **SMALL).eval()
    x = images(1, 3)
    with torch.no_grad():
        whole = model(x, torch.tensor([3]))
        per_segment = torch.cat([model(x[:, i : i + 1], torch.tensor([1])) for i in range(3)])
    torch.testing.assert_close(whole[0], per_segment.mean(0), rtol=1e-5, atol=1e-6)


def test_extractor_is_stage_one_fc7_before_relu():
    stage1 = create_model("alexnet_small", num_classes=4).eval()
    stage2 = create_model("dcnn_blstm_small", num_classes=4).eval()
    stage2.init_from_stage(stage1.state_dict())
    assert "stage-1" in stage2.init_note
    seen = {}
    stage1.classifier[4].register_forward_hook(lambda module, args, out: seen.setdefault("fc7", out.clone()))
    x = images(2, 1)
    with torch.no_grad():
        stage1(x, torch.ones(2, dtype=torch.long))
        torch.testing.assert_close(
            stage2.segment_features(x, torch.ones(2, dtype=torch.long))[:, 0], seen["fc7"]
        )
    assert (seen["fc7"] < 0).any()  # before the ReLU
    with pytest.raises(ValueError, match="matching sizes"):
        create_model("dcnn_blstm", num_classes=4).init_from_stage(stage1.state_dict())
    again = create_model("dcnn_blstm_small", num_classes=4)
    again.init_from_stage(stage2.state_dict())  # a whole stage-2 model loads as it is
    torch.testing.assert_close(again.head[0].weight, stage2.head[0].weight, rtol=0, atol=0)


def test_self_attention_formula_and_pooling():
    torch.manual_seed(0)
    attention = SegmentSelfAttention(6, pooling="sum")
    values, lengths = torch.randn(2, 4, 6), torch.tensor([4, 2])
    pooled = attention(values, lengths)
    q, k, v = attention.query(values[1, :2]), attention.key(values[1, :2]), attention.value(values[1, :2])
    expected = (torch.softmax(q @ k.T / (math.sqrt(6) + 1e-10), dim=-1) @ v).sum(0)
    torch.testing.assert_close(pooled[1], expected)
    attention.pooling = "mean"
    torch.testing.assert_close(attention(values, lengths), pooled / lengths[:, None].float())
    with pytest.raises(ValueError, match="attention_pooling"):
        create_model("dcnn_blstm_small", num_classes=4, attention_pooling="max")


def test_stage_two_sizes_and_options():
    model = create_model("dcnn_blstm", num_classes=4)
    assert model.lstm.input_size == 4096 and model.lstm.hidden_size == 128 and model.lstm.bidirectional
    assert [m.out_features for m in model.head if isinstance(m, torch.nn.Linear)] == [512, 256, 4]
    assert model.head[2].p == 0.1 and model.extractor.classifier[0].p == 0.5
    assert "classifier.6.weight" not in model.extractor.state_dict()
    deep = create_model(
        "dcnn_blstm_small", num_classes=4, lstm_layers=11
    )  # the original: one layer per segment
    assert deep.lstm.num_layers == 11


def test_frozen_extractor_gets_no_gradient_and_no_dropout():
    model = create_model("dcnn_blstm_small", num_classes=4, freeze_extractor=True).train()
    assert not model.extractor.training and model.head.training
    x, lengths = images(2, 3), torch.tensor([3, 2])
    torch.testing.assert_close(model.segment_features(x, lengths), model.segment_features(x, lengths))
    model(x, lengths).sum().backward()
    assert all(p.grad is None for p in model.extractor.parameters())
    assert model.lstm.weight_ih_l0.grad is not None


def test_resize_in_model_equals_resized_features():
    """image_size 64 + model resize_to 227 (12.6x less cache) gives the network the same input as image_size 227."""
    wave = torch.randn(16000, generator=torch.Generator().manual_seed(0)) * 0.1
    small = DCNNSegmentsConfig(max_seconds=1.0, image_size=64).compute(wave)[None]  # (1, 2, 3, 64, 64)
    large = DCNNSegmentsConfig(max_seconds=1.0).compute(wave)[None]  # (1, 2, 3, 227, 227)
    torch.manual_seed(0)
    resizing = create_model("alexnet", num_classes=4, resize_to=227, **SMALL).eval()
    torch.manual_seed(0)
    plain = create_model("alexnet", num_classes=4, **SMALL).eval()
    lengths = torch.tensor([2])
    with torch.no_grad():
        torch.testing.assert_close(resizing(small, lengths), plain(large, lengths), rtol=1e-4, atol=1e-5)


def test_wrong_inputs_fail_clearly():
    model = create_model("alexnet_small", num_classes=4)
    with pytest.raises(ValueError, match=r"\(batch, frames, 3, height, width\)"):
        model(torch.randn(2, 10, 26), torch.tensor([10, 10]))
    with pytest.raises(ValueError, match="too small"):
        model(images(1, 1, size=32), torch.tensor([1]))
    with pytest.raises(ValueError, match="resize_to"):
        create_model("alexnet_small", num_classes=4, resize_to=32)


# -- the two-stage recipe end to end -------------------------------------------------------------------------

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "dcnn"
#: RAVDESS emotion codes of neutral, happy, sad, angry.
EMOTION_CODES = ("01", "03", "04", "05")


def _fake_ravdess(root: Path, actors: int = 8) -> Path:
    """Normal-intensity files of 8 actors, 4 emotions, one tone each (1 s), plus one strong-intensity file."""
    for actor in range(1, actors + 1):
        for number, code in enumerate(EMOTION_CODES):
            write_tone(
                root / f"Actor_{actor:02d}" / f"03-01-{code}-01-01-01-{actor:02d}.wav",
                seconds=1.0,
                frequency=140.0 + 90 * number + 3 * actor,
            )
    write_tone(root / "Actor_01" / "03-01-05-02-01-01-01.wav", seconds=1.0)  # strong: left out by the recipe
    return root


def _tiny_stages(config) -> list[dict]:
    """The recipe's own stages with the small models, 1-2 epochs and small batches; stage 2 with lr 1e-30 (frozen in float32), so that its
    extractor must end exactly at stage 1's selected weights."""
    tiny = {
        "model.name=alexnet": "model.name=alexnet_small",
        "model.name=dcnn_blstm": "model.name=dcnn_blstm_small",
        "train.epochs=30": "train.epochs=2",
        "train.batch_size=128": "train.batch_size=8",
        "train.batch_size=16": "train.batch_size=4",
        "train.lr=5.0e-6": "train.lr=1e-30",
    }
    return [
        {"name": s.name, "init_from": s.init_from, "set": [tiny.get(item, item) for item in s.set]}
        for s in config.stages
    ]


def test_two_stage_recipe_end_to_end(tmp_path: Path):
    import json

    import numpy as np

    from serkit import cli
    from serkit.recipe import load_experiment
    from serkit.training.checkpoint import load_checkpoint
    from serkit.training.runner import run_experiment

    corpus = _fake_ravdess(tmp_path / "ravdess")
    recipe = load_experiment(RECIPES / "ravdess_dcnn_blstm.yaml")
    overrides = [
        f"corpus.root={corpus}",
        "features.max_seconds=1.0",
        "features.image_size=64",
        "protocol.options.val_speakers=2",
        "protocol.folds=[0]",
        "train.progress=false",
        f"stages={json.dumps(_tiny_stages(recipe))}",
    ]
    config = load_experiment(RECIPES / "ravdess_dcnn_blstm.yaml", overrides)
    out = tmp_path / "run"
    summary = run_experiment(config, out)
    assert summary["n_runs"] == 1 and summary["label_names"] == ["neutral", "happy", "sad", "angry"]
    assert summary["speaker_independent"] and not summary["selected_on_test"]
    run = out / "runs" / "group1" / "seed0"
    record = json.loads((run / "metrics.json").read_text())
    assert (
        set(record["stages"]) == {"cnn", "final"} and record["num_test"] == 16
    )  # actors 1-4, normal intensity
    # every stage's initialisation is in the note the summary prints: random weights, then the stage-1 extractor
    assert (
        record["model_note"].startswith("stage cnn: random initialisation")
        and "stage blstm: extractor from" in record["model_note"]
        and record["model_note"] in summary["notes"]
    )
    stage1 = load_checkpoint(run / "cnn" / "best.pt")
    stage2 = load_checkpoint(run / "best.pt")
    assert stage1["model_name"] == "alexnet_small" and stage1["input"]["mode"] == "frames"
    assert stage2["model_name"] == "dcnn_blstm_small" and stage2["input"]["mode"] == "utterance"
    for key, value in stage1["state_dict"].items():
        if not key.startswith("classifier.6"):
            torch.testing.assert_close(stage2["state_dict"][f"extractor.{key}"], value, rtol=0, atol=0)
    # both checkpoints predict new files; posteriors exported as NPZ
    wav = corpus / "Actor_05" / "03-01-05-01-01-01-05.wav"
    for checkpoint in (run / "cnn" / "best.pt", run / "best.pt"):
        target = tmp_path / f"{checkpoint.parent.name}.npz"
        assert cli.main(["predict", str(checkpoint), str(wav), "--format", "npz", "-o", str(target)]) == 0
        with np.load(target, allow_pickle=False) as data:
            assert data["posteriors"].shape == (1, 4)
            np.testing.assert_allclose(data["posteriors"].sum(1), 1.0, rtol=1e-5)


def test_recipes_folds_are_the_original_groups_with_separate_validation(tmp_path: Path):
    from serkit.data.protocols import make_folds
    from serkit.recipe import load_experiment
    from serkit.training.runner import load_utterances

    esd = tmp_path / "esd"
    for speaker in range(1, 21):  # Mandarin 0001-0010 are left out by language: english
        for number, emotion in enumerate(("Neutral", "Happy", "Sad", "Angry", "Surprise")):
            write_tone(
                esd / f"{speaker:04d}" / emotion / f"{speaker:04d}_{350 * number + 1:06d}.wav",
                seconds=0.05,
                frequency=100.0 + 10 * speaker + number,
            )
        (esd / f"{speaker:04d}" / f"{speaker:04d}.txt").write_text("")
    jtes = tmp_path / "jtes"
    for gender in "fm":
        for number in range(1, 51):
            emotion = ("neu", "joy", "sad", "ang")[number % 4]  # one file per speaker, all tones different
            write_tone(
                jtes / "wav" / f"{gender}{number:02d}" / emotion / f"{gender}{number:02d}_{emotion}_01.wav",
                seconds=0.02,
                frequency=100.0 + 10 * (number + 50 * (gender == "m")),
            )
    expected = {
        "esd_dcnn_blstm": (esd, 10, 1),
        "jtes_dcnn_blstm": (jtes, 5, 20),
        "ravdess_dcnn_blstm": (_fake_ravdess(tmp_path / "ravdess", actors=24), 6, 4),
    }
    for name, (root, num_folds, held_out) in expected.items():
        config = load_experiment(RECIPES / f"{name}.yaml", [f"corpus.root={root}"])
        utterances, labels, _ = load_utterances(config)
        assert set(labels.labels) == {u.emotion for u in utterances} == {"neutral", "happy", "sad", "angry"}
        folds = make_folds(utterances, config.protocol.name, seed=0, options=config.protocol.options)
        speaker = {u.id: u.speaker for u in utterances}
        assert len(folds) == num_folds
        for fold in folds:
            test, val = {speaker[i] for i in fold.test}, {speaker[i] for i in fold.val}
            assert len(test) == held_out and len(val) == held_out and not test & val
            assert not {speaker[i] for i in fold.train} & (test | val)
        if name == "jtes_dcnn_blstm":  # cv10 = f01-f10 + m01-m10, cv20 = f11-f20 + m11-m20, ...
            assert folds[0].held_out == tuple(
                [f"f{i:02d}" for i in range(1, 11)] + [f"m{i:02d}" for i in range(1, 11)]
            )
            assert folds[1].held_out[0] == "f11"
        if name == "esd_dcnn_blstm":
            assert [f.held_out for f in folds] == [(f"{s:04d}",) for s in range(11, 21)]
    # the original's protocol, by name only: 20 training actors, the 4 test actors also select the checkpoints
    paper = load_experiment(
        RECIPES / "ravdess_dcnn_blstm_paper_select_on_test.yaml", [f"corpus.root={tmp_path / 'ravdess'}"]
    )
    assert (
        paper.train.select_on == "test"
        and paper.stages == load_experiment(RECIPES / "ravdess_dcnn_blstm.yaml").stages
    )
    utterances, _, _ = load_utterances(paper)
    folds = make_folds(utterances, paper.protocol.name, seed=0, options=paper.protocol.options)
    assert len(folds) == 6 and all(not f.val and len(f.train) == 20 * 4 for f in folds)
