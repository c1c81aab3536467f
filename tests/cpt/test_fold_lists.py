"""No test-session utterance in any fold's pre-training or clustering list unless the chain is transductive."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from serkit.cpt.chain import load_chain, pretraining_lists
from serkit.data.protocols import make_folds
from serkit.recipe import load_experiment
from serkit.training.runner import load_utterances

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "cpt_hubert"


def _folds(iemocap5: Path):
    config, recipe = load_chain(RECIPES / "iemocap_loso_cpt.chain.yaml")
    experiment = load_experiment(recipe, [f"corpus.root={iemocap5}"])
    utterances, _, _ = load_utterances(experiment)
    folds = make_folds(
        utterances,
        experiment.protocol.name,
        seed=experiment.protocol.split_seed,
        options=experiment.protocol.options,
    )
    return config, {u.id: u for u in utterances}, folds


def test_default_lists_are_the_folds_training_and_validation_parts(iemocap5: Path):
    config, by_id, folds = _folds(iemocap5)
    assert not config.transductive and len(folds) == 5
    for index, fold in enumerate(folds):
        test_sessions = {by_id[i].session for i in fold.test}
        for pretrain_on_val in (False, True):
            train, valid = pretraining_lists(
                fold,
                list(by_id),
                transductive=False,
                pretrain_on_val=pretrain_on_val,
                valid_fraction=0.1,
                seed=index,
            )
            used = [*train, *valid]
            assert used and not set(used) & set(fold.test)
            assert not {by_id[i].session for i in used} & test_sessions
            if not pretrain_on_val:
                assert (train, valid) == (sorted(fold.train), sorted(fold.val))
            else:
                assert sorted(used) == sorted({*fold.train, *fold.val})


def test_transductive_lists_hold_the_test_session_as_the_original_did(iemocap5: Path):
    _, by_id, folds = _folds(iemocap5)
    train, valid = pretraining_lists(
        folds[0], list(by_id), transductive=True, pretrain_on_val=False, valid_fraction=0.1, seed=0
    )
    assert sorted([*train, *valid]) == sorted(by_id) and set(train) & set(folds[0].test)


def test_transductive_reports_say_so(tmp_path: Path):
    from serkit.core.fileio import atomic_write_json
    from serkit.cpt.chain import TRANSDUCTIVE_NOTE, format_report, mark_transductive

    scores = {"wa": {"mean": 0.5, "std": 0.1, "n": 2}, "ua": {"mean": 0.4, "std": 0.1, "n": 2}}
    report = {
        "name": "x",
        "protocol": "leave_one_session_out",
        "selection": "validation",
        "transductive": True,
        "pretrain_on_val": False,
        "summary": {"tapt": scores, "cpt": scores},
        "folds": [
            {
                "fold": "Ses01",
                "held_out": ["Ses01"],
                "num_test": 3,
                "tapt": {"wa": 0.5, "ua": 0.4},
                "cpt": {"wa": 0.5, "ua": 0.4},
            }
        ],
    }
    assert "TRANSDUCTIVE" in format_report(report)
    assert "TRANSDUCTIVE" not in format_report({**report, "transductive": False})
    (tmp_path / "summary.md").write_text("# run\n\nresults\n")
    atomic_write_json(tmp_path / "summary.json", {"notes": []})
    for _ in range(2):  # idempotent: the chain marks again after every (resumed) runner call
        mark_transductive(tmp_path)
    assert (tmp_path / "summary.md").read_text().count(TRANSDUCTIVE_NOTE) == 1
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["transductive_pretraining"] is True and len(data["notes"]) == 1


def test_a_pickled_kmeans_in_the_chain_needs_trust(tmp_path: Path):
    import pytest

    from serkit.core.errors import SerkitError
    from serkit.cpt.chain import _phase

    config, _ = load_chain(RECIPES / "iemocap_loso_cpt.chain.yaml", ["tapt.pretrained_kmeans=km500.bin"])
    assert config.tapt.pretrained_kmeans == str(
        (RECIPES / "km500.bin").resolve()
    )  # relative to the chain file
    (tmp_path / "km500.bin").write_bytes(b"not to be unpickled")
    phase = replace(config.tapt, pretrained_kmeans=str(tmp_path / "km500.bin"))
    with pytest.raises(SerkitError, match="--trust-pickle"):
        _phase(
            phase,
            name="tapt",
            features=tmp_path / "features",
            fold_dir=tmp_path,
            train_ids=["a"],
            valid_ids=[],
            init="unused",
        )
    assert not (tmp_path / "tapt" / "kmeans").exists()
