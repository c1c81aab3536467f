"""The stage commands one by one: features -> kmeans -> labels -> pretrain -> export, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from hubert_fakes import save_tiny_hubert, write_voiced

from serkit.backbones.hf import frame_lengths
from serkit.cli import main
from serkit.core.errors import SerkitError
from serkit.cpt.features import FeatureStore
from serkit.cpt.kmeans import load_centroids
from serkit.cpt.labels import read_label_list
from serkit.data.utterance import Utterance, write_manifest
from serkit.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Manifests of 6 training and 2 validation utterances (1.0-1.7 s)."""
    root = tmp_path_factory.mktemp("stages")
    utterances = [
        Utterance(
            id=f"u{i}",
            path=str(write_voiced(root / f"u{i}.wav", seconds=1.0 + 0.1 * i, f0=90 + 25 * i, seed=i)),
        )
        for i in range(8)
    ]
    return (
        write_manifest(utterances, root / "all.csv"),
        write_manifest(utterances[:6], root / "train.csv"),
        write_manifest(utterances[6:], root / "valid.csv"),
    )


@pytest.fixture(scope="module")
def masking_hubert(tmp_path_factory) -> Path:
    """A tiny HuBERT whose config asks for heavy time masking (0.8), as fine-tuned configs do (0.05-0.08)."""
    return save_tiny_hubert(tmp_path_factory.mktemp("masking_hubert"), mask_time_prob=0.8, mask_time_length=2)


def test_features_are_unmasked_sharded_and_resumable(masking_hubert, corpus, tmp_path):
    manifest = corpus[0]
    base = ["hubert", "features", str(manifest), "--model", str(masking_hubert), "--layer", "1", "-q"]
    assert main([*base, "-o", str(tmp_path / "one")]) == 0
    assert main([*base, "-o", str(tmp_path / "three"), "--num-shards", "3"]) == 0
    one, three = FeatureStore(tmp_path / "one"), FeatureStore(tmp_path / "three")
    assert len(list((tmp_path / "three").glob("shard*.npy"))) == 3
    encoder = transformers.AutoModel.from_pretrained(masking_hubert).eval()
    extractor = transformers.AutoFeatureExtractor.from_pretrained(masking_hubert)
    from serkit.audio.io import load

    for utt_id in one.ids:
        np.testing.assert_array_equal(one.frames(utt_id), three.frames(utt_id))
        waveform = load(one.entry(utt_id).path, 16000)
        inputs = extractor(waveform, sampling_rate=16000, return_tensors="pt").input_values
        with torch.no_grad():
            expected = encoder(inputs, output_hidden_states=True).hidden_states[1][0].numpy()
        np.testing.assert_allclose(one.frames(utt_id), expected, rtol=1e-5, atol=1e-6)  # no masking
        assert len(expected) == int(frame_lengths(encoder.config, len(waveform)))
    with torch.no_grad():  # training mode (masking and dropout) would give other frames
        encoder.train()
        masked = encoder(inputs, output_hidden_states=True).hidden_states[1][0].numpy()
    assert not np.allclose(masked, expected, atol=1e-3)

    # resume: a finished shard is kept, an unfinished one recomputed
    kept = (tmp_path / "three" / "shard000.npy").stat().st_mtime_ns
    (tmp_path / "three" / "shard002.json").unlink()
    with pytest.raises(SerkitError, match=r"shard\(s\) \[2\] are not finished"):
        FeatureStore(tmp_path / "three")
    assert main([*base, "-o", str(tmp_path / "three"), "--num-shards", "3", "--shard", "2"]) == 0
    assert (tmp_path / "three" / "shard000.npy").stat().st_mtime_ns == kept
    np.testing.assert_array_equal(FeatureStore(tmp_path / "three").frames("u7"), one.frames("u7"))
    assert main([*base, "-o", str(tmp_path / "three"), "--layer", "2"]) == 2  # another extraction: refused


def test_kmeans_uses_the_original_settings_and_pickles_need_trust(
    tiny_hubert, corpus, tmp_path, monkeypatch, capsys
):
    import sklearn.cluster

    seen = {}

    class Spy(sklearn.cluster.MiniBatchKMeans):
        def fit(self, X, y=None, sample_weight=None):
            seen.update(self.get_params(), num_frames=len(X))
            return super().fit(X)

    features = tmp_path / "features"
    assert (
        main(
            [
                "hubert",
                "features",
                str(corpus[0]),
                "-o",
                str(features),
                "--model",
                str(tiny_hubert),
                "-q",
                "--layer",
                "1",
            ]
        )
        == 0
    )
    monkeypatch.setattr(sklearn.cluster, "MiniBatchKMeans", Spy)
    assert (
        main(
            [
                "hubert",
                "kmeans",
                str(features),
                "-o",
                str(tmp_path / "km"),
                "--clusters",
                "5",
                "--ids",
                str(corpus[1]),
            ]
        )
        == 0
    )
    store = FeatureStore(features)
    expected_frames = sum(store.entry(f"u{i}").num_frames for i in range(6))
    assert seen == {
        **seen,
        "n_clusters": 5,
        "init": "k-means++",
        "max_iter": 100,
        "batch_size": 10000,
        "tol": 0.0,
        "n_init": 20,
        "max_no_improvement": 100,
        "reassignment_ratio": 0.0,
        "random_state": 1337,
        "num_frames": expected_frames,
    }
    info = json.loads((tmp_path / "km" / "kmeans.json").read_text())
    assert info["ids"] == [f"u{i}" for i in range(6)]  # only the listed utterances were clustered

    import joblib

    fitted = sklearn.cluster.KMeans(n_clusters=3, n_init=1, random_state=0).fit(store.frames("u0"))
    joblib.dump(fitted, tmp_path / "km3.bin")
    capsys.readouterr()
    assert (
        main(["hubert", "kmeans", "--import", str(tmp_path / "km3.bin"), "-o", str(tmp_path / "imported")])
        == 2
    )
    assert "--trust-pickle" in capsys.readouterr().err and not (tmp_path / "imported").exists()
    assert (
        main(
            [
                "hubert",
                "kmeans",
                "--import",
                str(tmp_path / "km3.bin"),
                "--trust-pickle",
                "-o",
                str(tmp_path / "imported"),
            ]
        )
        == 0
    )
    np.testing.assert_array_equal(
        load_centroids(tmp_path / "imported"), fitted.cluster_centers_.astype(np.float32)
    )

    # labels: the nearest centroid, as scikit-learn's predict, one per frame
    assert (
        main(
            [
                "hubert",
                "labels",
                str(features),
                "--kmeans",
                str(tmp_path / "imported"),
                "-o",
                str(tmp_path / "labels.tsv"),
            ]
        )
        == 0
    )
    rows = {row.id: row for row in read_label_list(tmp_path / "labels.tsv")}
    assert sorted(rows) == store.ids
    for utt_id, row in rows.items():
        np.testing.assert_array_equal(row.labels, fitted.predict(store.frames(utt_id)))
        assert row.num_samples == store.entry(utt_id).num_samples


def test_pretrain_and_export_commands(tiny_hubert, corpus, tmp_path):
    features, km = tmp_path / "features", tmp_path / "km"
    commands = [
        ["features", str(corpus[0]), "-o", str(features), "--model", str(tiny_hubert), "--layer", "1", "-q"],
        ["kmeans", str(features), "-o", str(km), "--clusters", "6", "--n-init", "1", "--ids", str(corpus[1])],
        [
            "labels",
            str(features),
            "--kmeans",
            str(km),
            "-o",
            str(tmp_path / "train.tsv"),
            "--ids",
            str(corpus[1]),
        ],
        [
            "labels",
            str(features),
            "--kmeans",
            str(km),
            "-o",
            str(tmp_path / "valid.tsv"),
            "--ids",
            str(corpus[2]),
        ],
        [
            "pretrain",
            "--init",
            str(tiny_hubert),
            "--train",
            str(tmp_path / "train.tsv"),
            "--valid",
            str(tmp_path / "valid.tsv"),
            "-o",
            str(tmp_path / "pretrain"),
            "--set",
            "num_classes=6",
            "--set",
            "max_updates=2",
            "--set",
            "warmup_updates=1",
            "--set",
            "seconds_per_batch=3.0",
            "--set",
            "progress=false",
        ],
        ["export", str(tmp_path / "pretrain"), "-o", str(tmp_path / "export")],
    ]
    for command in commands:
        assert main(["hubert", *command]) == 0, command
    exported = transformers.AutoModel.from_pretrained(tmp_path / "export")
    best = load_checkpoint(tmp_path / "pretrain" / "best_valid.pt")["state_dict"]
    for key, value in exported.state_dict().items():
        torch.testing.assert_close(value, best[f"encoder.{key}"], rtol=0, atol=0)
    assert transformers.AutoFeatureExtractor.from_pretrained(tmp_path / "export").do_normalize
    provenance = json.loads((tmp_path / "export" / "serkit_export.json").read_text())
    assert provenance["kind"] == "pretrained" and provenance["num_classes"] == 6
