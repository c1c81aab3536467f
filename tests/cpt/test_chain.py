"""The whole CPT-HuBERT chain through the CLI on a tiny random HuBERT and a fake 5-session IEMOCAP (CPU)."""

from __future__ import annotations

import json
from pathlib import Path

from serkit.cli import main

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "cpt_hubert"

FINETUNE = [
    "train.epochs=1",
    "train.batch_size=8",
    "train.eval_batch_size=8",
    'train.precision="no"',
    "train.progress=false",
    "seeds=[0]",
    "input.max_seconds=1.0",
]


def _pretrain(phase: str) -> list[str]:
    return [
        f"{phase}.pretrain.{key}"
        for key in (
            "max_updates=2",
            "warmup_updates=1",
            "seconds_per_batch=3.0",
            'precision="no"',
            "progress=false",
            "save_every=1",
        )
    ] + [f"{phase}.kmeans.n_init=1", f"{phase}.kmeans.batch_size=2048", f"{phase}.layer=1"]


def test_chain_end_to_end_through_the_cli(tiny_hubert: Path, iemocap5: Path, tmp_path: Path, capsys):
    finetune = [f"corpus.root={iemocap5}", *FINETUNE]
    out = tmp_path / "exp"
    args = [
        "hubert",
        "chain",
        str(RECIPES / "iemocap_loso_cpt.chain.yaml"),
        "--out",
        str(out),
        "--set",
        f"start_model={tiny_hubert}",
        "--set",
        f"finetune_set={json.dumps(finetune)}",
        "--set",
        "folds=[0, 1]",
        "--set",
        "tapt.kmeans.clusters=8",
        "--set",
        "cpt.kmeans.clusters=4",
        *[item for override in _pretrain("tapt") + _pretrain("cpt") for item in ("--set", override)],
    ]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert [row["fold"] for row in report["folds"]] == ["Ses01", "Ses02"]
    assert report["transductive"] is False and report["selection"] == "validation"
    for row in report["folds"]:
        for model in ("tapt", "cpt"):
            assert 0.0 <= row[model]["wa"] <= 1.0 and 0.0 <= row[model]["ua"] <= 1.0
    text = (out / "report.md").read_text()
    assert "no test audio" in text and "mean ± std" in text
    printed = capsys.readouterr().out
    assert "| Ses01 |" in printed
    for fold in ("Ses01", "Ses02"):
        folder = out / "folds" / fold
        lists = json.loads((folder / "lists" / "lists.json").read_text())
        assert lists["test_utterances_in_pretraining"] == 0
        for phase in ("tapt", "cpt"):
            kmeans = json.loads((folder / phase / "kmeans" / "kmeans.json").read_text())
            assert kmeans["ids"] == lists["pretrain_train"]
            assert all(f"Ses0{fold[-1]}" not in i for i in kmeans["ids"])
            assert (folder / phase / "export" / "config.json").is_file()
        assert (folder / "finetune_cpt" / "summary.json").is_file()
    # a second run finds everything done and gives the same report
    assert main(args) == 0
    assert json.loads((out / "report.json").read_text()) == report
