"""MAT / MNT end to end on all of MELD's real transcripts with GENERATED audio: loader, training, serkit ensemble.

MELD's audio is not available here, so every one of the 13,708 utterances of ``../shared/data/meld_text`` gets a
generated clip (a harmonic tone with noise; pitch, loudness and length drawn from a hash of the utterance id,
**not** from its label), written into a MELD.Raw-like folder next to links to the real CSV files. The MELD recipe
(``recipes/mat/meld_<model>.yaml``: official split, selection on dev, the original's class weights) then runs
through ``serkit train`` with a smaller model and few epochs, and ``serkit ensemble`` averages the seeds' logits
with the size chosen on dev. Since the audio carries no emotion, the numbers measure the text path plus
whatever the model makes of uninformative audio; they are a pipeline check, not an audio result.

Not part of the test suite; run by hand:

    nice -n 10 python benchmarks/meld_mat_generated_audio.py --out /tmp/meld_mat_e2e
"""

from __future__ import annotations

import argparse
import csv
import io
import time
import zlib
from pathlib import Path

import numpy as np

from serkit.audio import io as audio_io
from serkit.cli import main as serkit
from serkit.data.corpora.meld import RELEASE_FOLDERS, decode_csv

REPO = Path(__file__).resolve().parents[1]
MELD = REPO.parent / "shared" / "data" / "meld_text" / "MELD"
SAMPLE_RATE = 16000


def clip_for(key: str) -> np.ndarray:
    """A 0.4-0.8 s harmonic tone with noise, all drawn from a hash of ``key`` (never from the label)."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    seconds = rng.uniform(0.4, 0.8)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = rng.uniform(90, 260) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 6) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 6)) * rng.uniform(0.05, 0.3)
    return (voice + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


def build_tree(root: Path) -> int:
    """Links to the real CSVs and one generated wav per row, in MELD.Raw's folders; returns the number written."""
    root.mkdir(parents=True, exist_ok=True)
    written = 0
    for split, folder in RELEASE_FOLDERS.items():
        source = MELD / f"{split}_sent_emo.csv"
        link = root / source.name
        if not link.exists():
            link.symlink_to(source)
        reader = csv.DictReader(io.StringIO(decode_csv(source.read_bytes())))
        for row in reader:
            path = root / folder / f"dia{row['Dialogue_ID'].strip()}_utt{row['Utterance_ID'].strip()}.wav"
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                audio_io.save(path, clip_for(f"{split}/{path.stem}"), SAMPLE_RATE)
                written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/meld_mat_e2e"))
    parser.add_argument("--model", choices=("mat", "mnt"), default="mat")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--hidden-dim", type=int, default=64)
    args = parser.parse_args()
    if not MELD.is_dir():
        raise SystemExit(f"{MELD} not found: this run needs the MELD transcripts of ../shared/data.")
    start = time.perf_counter()
    written = build_tree(args.out / "MELD.Raw")
    print(f"generated {written} clips in {time.perf_counter() - start:.0f} s under {args.out / 'MELD.Raw'}")
    run = args.out / f"run_{args.model}"
    overrides = [
        f"corpus.root={args.out / 'MELD.Raw'}",
        f"seeds={args.seeds}",
        f"train.epochs={args.epochs}",
        f"model.args.hidden_dim={args.hidden_dim}",
        f"model.args.ff_dim={2 * args.hidden_dim}",
        "model.args.word_dim=100",
        "train.batch_size=64",
        "train.lr=0.0005",
        "train.threads=1",
        "train.progress=false",
        "input.max_seconds=1.0",
        f"cache_dir={args.out / 'feature_cache'}",
    ]
    start = time.perf_counter()
    code = serkit(
        [
            "train",
            str(REPO / "recipes" / "mat" / f"meld_{args.model}.yaml"),
            "--out",
            str(run),
            *[item for o in overrides for item in ("--set", o)],
        ]
    )
    print(f"serkit train: exit {code}, {time.perf_counter() - start:.0f} s")
    if code == 0:
        print(f"serkit ensemble: exit {serkit(['ensemble', str(run)])}")


if __name__ == "__main__":
    main()
