"""Checkpoint ensembles chosen on validation: ``serkit ensemble RUN_DIR... [--top-k K]``.

MAT/MNT's ``ensembling.py`` averaged the logits of the best checkpoints of several training runs and reported
the best ensemble size **measured on the test set**. Here every member is a finished run's ``outputs.npz``
(validation and test logits written by the runner, no pickle), and for each fold:

1. members (one per seed) are ranked by their own validation score (``metric``, accuracy by default, the
   original's ranking); ties keep the order of the run folders;
2. for K = 1..N the logits of the top K are averaged on the validation set and scored;
3. K is the size with the best validation score (the smallest on ties), or the given ``top_k``;
4. the test logits of those K members are averaged and reported: the usual summary (mean ± std over folds when
   there are several) plus scikit-learn's ``classification_report``.

``select_on="test"`` reproduces the original's "Max ensemble accuracy" (K chosen on the test set; every report
warns). Multi-label members (MOSEI emotions) are averaged alike, positive where the mean logit is above 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serkit.core.errors import SerkitError
from serkit.core.fileio import atomic_write_json, atomic_write_text
from serkit.evaluation.metrics import classification_report_text, metrics_from_logits
from serkit.evaluation.report import TEST_SELECTION_WARNING, format_summary, summarize_runs
from serkit.training.calibration import calibrate_members

__all__ = [
    "ENSEMBLE_METRICS",
    "Member",
    "ensemble_fold",
    "find_members",
    "load_member",
    "run_ensemble",
    "score_logits",
]

OUTPUTS = "outputs.npz"
_KEYS = ("val_ids", "val_logits", "val_targets", "test_ids", "test_logits", "test_targets", "label_names")
#: Scores a member or an ensemble can be ranked by: single-label, multi-label.
ENSEMBLE_METRICS = {
    "single": ("wa", "ua", "macro_f1", "weighted_f1", "wa_ua_mean"),
    "multi": ("macro_f1", "micro_f1", "weighted_f1", "subset_accuracy", "label_accuracy"),
}
SELECT_ON = ("validation", "test")
#: How members are combined, and what the reports call it: mean of raw logits (runs of one recipe), or mean of
#: log-probabilities after temperature scaling on validation (other families, :mod:`serkit.training.calibration`).
COMBINED = {"logits": "logits", "calibrated": "temperature-calibrated log-probabilities"}
COMBINE = tuple(COMBINED)
#: The warning line of a report whose ensemble size was chosen on the test set.
SIZE_ON_TEST_WARNING = f"ENSEMBLE SIZE CHOSEN ON THE TEST SET (--select-on-test, the original's protocol). {TEST_SELECTION_WARNING}"


@dataclass
class Member:
    """One finished run: its logits and targets on the validation and test utterances.

    Attributes:
        path: the run folder. fold: its fold name (from ``metrics.json`` or the folder layout).
        val_logits, test_logits: (utterances, num_classes). val_targets, test_targets: (utterances,) class indices
        or (utterances, num_classes) 0/1 for multi-label runs.
    """

    path: Path
    fold: str
    label_names: list[str]
    val_ids: np.ndarray
    val_logits: np.ndarray
    val_targets: np.ndarray
    test_ids: np.ndarray
    test_logits: np.ndarray
    test_targets: np.ndarray
    val_score: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def multilabel(self) -> bool:
        return self.test_targets.ndim == 2


def load_member(run_dir: str | Path) -> Member:
    """Read ``run_dir/outputs.npz`` (numpy arrays only, ``allow_pickle=False``).

    Raises:
        SerkitError: no such file, missing arrays, or arrays that do not line up.
    """
    run_dir = Path(run_dir)
    path = run_dir / OUTPUTS
    if not path.is_file():
        raise SerkitError(
            f"{run_dir}: no {OUTPUTS}; pass finished run folders (runs/<fold>/seed<k>) or an "
            "experiment folder, trained with a serkit that writes validation and test logits."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in _KEYS if key not in data.files]
            if missing:
                raise SerkitError(f"{path} lacks {missing}; it is not a serkit run's outputs file.")
            if "dimensions" in data.files and data["dimensions"].size:  # task: regression / multitask
                raise SerkitError(f"{path}: runs with dimensions are not ensembled yet (only classes are).")
            arrays = {key: data[key] for key in _KEYS}
    except ValueError as exc:  # object arrays need pickle: refused
        raise SerkitError(f"{path}: {exc}; serkit never unpickles outputs files.") from None
    fold = run_dir.parent.name if run_dir.name.startswith("seed") else run_dir.name
    metrics_path = run_dir / "metrics.json"
    record = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    member = Member(
        path=run_dir,
        fold=str(record.get("fold", fold)),
        label_names=[str(n) for n in arrays["label_names"].tolist()],
        extra={"selection": record.get("selection", "")},
        **{key: arrays[key] for key in _KEYS if key != "label_names"},
    )
    for part in ("val", "test"):
        ids, logits, targets = (getattr(member, f"{part}_{key}") for key in ("ids", "logits", "targets"))
        columns_wrong = len(logits) > 0 and logits.shape[1] != len(member.label_names)
        if not len(ids) == len(logits) == len(targets) or columns_wrong:
            raise SerkitError(
                f"{path}: {part} ids {ids.shape}, logits {logits.shape} and targets {targets.shape} "
                f"do not line up with {len(member.label_names)} labels."
            )
    return member


def find_members(paths: Sequence[str | Path]) -> list[Path]:
    """Run folders from the arguments: a folder with ``outputs.npz`` is a run, an experiment folder gives its
    ``runs/<fold>/seed<k>`` (the last stage of multi-stage recipes, not the stage sub-folders)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if (path / OUTPUTS).is_file():
            found.append(path)
        elif (path / "runs").is_dir():
            runs = sorted(p.parent for p in (path / "runs").glob(f"*/seed*/{OUTPUTS}"))
            if not runs:
                raise SerkitError(f"{path}/runs holds no finished run with {OUTPUTS}; train it first.")
            found.extend(runs)
        else:
            raise SerkitError(
                f"{path}: neither a run folder (with {OUTPUTS}) nor an experiment folder (with runs/)."
            )
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if len(unique) < len(found):
        raise SerkitError("the same run folder is given twice; each checkpoint may be in the ensemble once.")
    return unique


def score_logits(
    logits: np.ndarray, targets: np.ndarray, label_names: Sequence[str], metric: str
) -> tuple[float, dict[str, Any]]:
    """``(score, metrics)`` of logits: arg-max for single-label targets, ``logit > 0`` for multi-hot targets."""
    metrics, _ = metrics_from_logits(targets, logits, label_names)
    if metric == "wa_ua_mean":
        return (metrics["wa"] + metrics["ua"]) / 2, metrics
    return float(metrics[metric]), metrics


def _check_metric(metric: str, multilabel: bool) -> None:
    valid = ENSEMBLE_METRICS["multi" if multilabel else "single"]
    if metric not in valid:
        kind = "multi-label" if multilabel else "single-label"
        raise ValueError(f"--metric {metric!r} is not a {kind} score; use one of {', '.join(valid)}.")


def _aligned(members: list[Member]) -> list[Member]:
    """Members reordered to the first one's utterance order, after checking they cover the same utterances."""
    first = members[0]
    for member in members[1:]:
        if member.label_names != first.label_names:
            raise SerkitError(
                f"{member.path} has labels {member.label_names} but {first.path} has "
                f"{first.label_names}; ensemble runs of one recipe."
            )
        for part in ("val", "test"):
            ids, reference = getattr(member, f"{part}_ids"), getattr(first, f"{part}_ids")
            if sorted(ids.tolist()) != sorted(reference.tolist()):
                raise SerkitError(
                    f"{member.path} and {first.path} ({member.fold}) were evaluated on different "
                    f"{part} utterances; an ensemble needs the same split (other seeds of one fold)."
                )
            order = {utt: i for i, utt in enumerate(ids.tolist())}
            index = np.array([order[utt] for utt in reference.tolist()], dtype=np.int64)
            for key in ("ids", "logits", "targets"):
                setattr(member, f"{part}_{key}", getattr(member, f"{part}_{key}")[index])
            if not np.array_equal(getattr(member, f"{part}_targets"), getattr(first, f"{part}_targets")):
                raise SerkitError(
                    f"{member.path} and {first.path} disagree on the {part} labels of the same "
                    "utterances; they come from different label sets or corpora."
                )
    return members


def ensemble_fold(
    members: list[Member],
    *,
    metric: str = "wa",
    top_k: int | None = None,
    select_on: str = "validation",
    combine: str = "logits",
) -> dict[str, Any]:
    """Rank, choose the size and score one fold's ensemble (see the module docstring).

    Returns:
        ``fold``, ``members`` (ranked: path, validation score), ``curve`` (per K: validation score, and the test
        score only when K is chosen on test), ``size``, ``size_chosen_on`` (``validation``, ``test`` or
        ``fixed``), ``val_metrics``, ``test_metrics``, ``report`` (classification_report text) and
        ``test_logits`` (the averaged test logits, for predictions).
    """
    if select_on not in SELECT_ON:
        raise ValueError(f"select_on={select_on!r}: use one of {', '.join(SELECT_ON)}.")
    members = _aligned(list(members))
    first = members[0]
    _check_metric(metric, first.multilabel)
    if select_on == "validation" and len(first.val_ids) == 0:
        raise SerkitError(
            f"fold {first.fold}: the runs have no validation utterances, so members cannot be ranked "
            "nor the size chosen honestly; retrain with a validation part, or pass --select-on-test "
            "(the original's protocol, reported as such)."
        )
    if top_k is not None and not 1 <= top_k <= len(members):
        raise ValueError(
            f"--top-k {top_k}: fold {first.fold} has {len(members)} runs; use 1..{len(members)}."
        )
    if combine not in COMBINE:
        raise ValueError(f"combine={combine!r}: use one of {', '.join(COMBINE)}.")
    # runs of other families score on other scales: calibrate each on its validation part first
    temperatures = calibrate_members(members) if combine == "calibrated" else [None] * len(members)
    for member, temperature in zip(members, temperatures):
        member.extra["temperature"] = temperature
    rank_part = "test" if select_on == "test" and len(first.val_ids) == 0 else "val"
    for member in members:
        member.val_score = score_logits(
            getattr(member, f"{rank_part}_logits"),
            getattr(member, f"{rank_part}_targets"),
            first.label_names,
            metric,
        )[0]
    ranked = sorted(members, key=lambda m: -m.val_score)  # stable: ties keep the folder order

    curve = []
    for k in range(1, len(ranked) + 1):
        point: dict[str, Any] = {"k": k}
        if len(first.val_ids):
            point["val"] = score_logits(
                np.mean([m.val_logits for m in ranked[:k]], axis=0),
                first.val_targets,
                first.label_names,
                metric,
            )[0]
        if select_on == "test":  # the original printed the test score of every size; only then is it shown
            point["test"] = score_logits(
                np.mean([m.test_logits for m in ranked[:k]], axis=0),
                first.test_targets,
                first.label_names,
                metric,
            )[0]
        curve.append(point)
    if top_k is not None:
        size, chosen_on = top_k, "fixed"
    else:
        key = "test" if select_on == "test" else "val"
        size, chosen_on = max(curve, key=lambda p: (p[key], -p["k"]))["k"], select_on
    chosen = ranked[:size]
    test_logits = np.mean([m.test_logits for m in chosen], axis=0)
    val_metrics = (
        score_logits(
            np.mean([m.val_logits for m in chosen], axis=0), first.val_targets, first.label_names, metric
        )[1]
        if len(first.val_ids)
        else None
    )
    _, test_metrics = score_logits(test_logits, first.test_targets, first.label_names, metric)
    if first.multilabel:
        report = _multilabel_report(test_metrics)
    else:
        report = classification_report_text(first.test_targets, test_logits.argmax(1), first.label_names)
    return {
        "fold": first.fold,
        "metric": metric,
        "multilabel": first.multilabel,
        "members": [
            {
                "path": str(m.path),
                "val_score": m.val_score,
                "in_ensemble": i < size,
                "temperature": m.extra["temperature"],
            }
            for i, m in enumerate(ranked)
        ],
        "ranked_on": "test" if rank_part == "test" else "validation",
        "curve": curve,
        "size": size,
        "size_chosen_on": chosen_on,
        "val_metrics": val_metrics,
        "test_metrics": test_metrics,
        "report": report,
        "test_ids": first.test_ids.tolist(),
        "test_logits": test_logits.tolist(),
        "label_names": first.label_names,
    }


def _multilabel_report(metrics: dict[str, Any]) -> str:
    lines = [f"{'label':>12} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}"]
    for name, row in metrics["per_label"].items():
        lines.append(
            f"{name:>12} {row['precision']:9.4f} {row['recall']:9.4f} {row['f1']:9.4f} {row['support']:9d}"
        )
    lines.append(
        f"macro-F1 {metrics['macro_f1']:.4f}  micro-F1 {metrics['micro_f1']:.4f}  weighted-F1 "
        f"{metrics['weighted_f1']:.4f}  subset accuracy {metrics['subset_accuracy']:.4f}"
    )
    return "\n".join(lines)


def _experiment_info(run_dir: Path) -> tuple[str, dict[str, Any], bool]:
    """(protocol name, protocol info, transductive) from the experiment folder above ``runs/<fold>/seed<k>``."""
    from serkit.core.values import read_yaml
    from serkit.data.protocols import protocol_info

    for parent in run_dir.parents:
        if (parent / "config.yaml").is_file() and (parent / "runs").is_dir():
            config = read_yaml(parent / "config.yaml")
            name = str(config.get("protocol", {}).get("name", ""))
            transductive = bool(config.get("input", {}).get("transductive", False))
            try:
                return name, protocol_info(name).to_dict(), transductive
            except KeyError:
                break
    description = "protocol not recorded (run folders outside an experiment folder)"
    return (
        "unknown",
        {"speaker_independent": False, "selects_on_test": False, "description": description},
        False,
    )


def run_ensemble(
    run_dirs: Sequence[str | Path],
    *,
    out_dir: str | Path | None = None,
    metric: str = "wa",
    top_k: int | None = None,
    select_on_test: bool = False,
    combine: str = "logits",
) -> dict[str, Any]:
    """Ensemble the given runs fold by fold and write ``ensemble.json`` and ``ensemble.md`` into ``out_dir``.

    Args:
        run_dirs: run folders and/or experiment folders (see :func:`find_members`).
        out_dir: output folder; default ``<experiment>/ensemble`` when all runs are in one experiment folder.
        metric: ranking and size-selection score (see :data:`ENSEMBLE_METRICS`).
        top_k: a fixed ensemble size instead of choosing it.
        select_on_test: choose the size on the test set (the original's protocol; the report says so).
        combine: one of :data:`COMBINE`; ``calibrated`` for runs of different recipes or model families.

    Returns:
        The ensemble record written to ``ensemble.json`` (``folds``: one :func:`ensemble_fold` result each, and
        ``summary``: the usual summary over folds).
    """
    paths = find_members(run_dirs)
    members = [load_member(p) for p in paths]
    folds: dict[str, list[Member]] = {}
    for member in members:
        folds.setdefault(member.fold, []).append(member)
    select_on = "test" if select_on_test else "validation"
    results = [
        ensemble_fold(group, metric=metric, top_k=top_k, select_on=select_on, combine=combine)
        for group in folds.values()
    ]

    if out_dir is None:
        roots = {p.parents[2] for p in paths if len(p.parents) > 2 and p.parents[1].name == "runs"}
        if len(roots) != 1:
            raise SerkitError(
                "the runs are not all in one experiment folder; give the output folder (--out)."
            )
        out_dir = roots.pop() / "ensemble"
    out_dir = Path(out_dir)
    warnings = [SIZE_ON_TEST_WARNING] if select_on_test else []
    if any(r["ranked_on"] == "test" for r in results):
        warnings.append("members were ranked on the TEST set: the runs have no validation utterances")
    epochs_on_test = any(m.extra.get("selection") == "test" for m in members)
    if epochs_on_test:
        warnings.append(
            "the members' own epochs were selected on the TEST set (their recipe's select_on / protocol)"
        )
    if any(
        sorted(r["test_ids"]) == sorted(m.val_ids.tolist()) for r in results for m in folds[r["fold"]][:1]
    ):
        warnings.append(
            "the validation utterances ARE the test utterances: validation selection is test selection"
        )
    record: dict[str, Any] = {
        "metric": metric,
        "select_on": select_on,
        "top_k": top_k,
        "combine": combine,
        "warnings": warnings,
        "num_members": len(members),
        "folds": results,
    }
    protocol, info, _ = _experiment_info(paths[0])
    transductive = any(_experiment_info(p)[2] for p in paths)  # one transductive member makes it so
    selected_on_test = bool(
        select_on_test or epochs_on_test or any(r["ranked_on"] == "test" for r in results)
    )
    runs = [{"fold": r["fold"], "seed": 0, "metrics": r["test_metrics"]} for r in results]
    record["summary"] = summarize_runs(
        runs,
        label_names=results[0]["label_names"],
        protocol=protocol,
        protocol_info=info,
        selection="test" if selected_on_test else "validation",
        title=f"Ensemble of {len(members)} runs ({len(results)} fold(s)), size chosen on {select_on}",
        transductive=transductive,
        notes=[
            (
                f"members ranked by {metric}; ensemble = mean of the top-K members' "
                f"{COMBINED[combine]}; one summary 'run' "
                "per fold (its seed column is not a training seed)"
            )
        ],
    )
    atomic_write_json(out_dir / "ensemble.json", _jsonable(record))
    atomic_write_text(out_dir / "ensemble.md", format_ensemble(record))
    record["out_dir"] = str(out_dir)
    return record


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def format_ensemble(record: dict[str, Any]) -> str:
    """The Markdown report of :func:`run_ensemble` (what the CLI prints)."""
    lines = ["# serkit ensemble", ""]
    lines += [f"> **WARNING: {warning}**" for warning in record["warnings"]]
    if record["warnings"]:
        lines.append("")
    chosen = {"validation": "the validation set", "test": "the TEST set"}[record["select_on"]]
    size = f"fixed --top-k {record['top_k']}" if record["top_k"] else f"chosen on {chosen}"
    members = f"- Members: {record['num_members']} runs in {len(record['folds'])} fold(s); ranked by "
    combined = COMBINED[record.get("combine", "logits")]
    lines += [
        f"{members}`{record['metric']}` on validation; ensemble size {size}; ensemble = mean of {combined}",
        "",
    ]
    for fold in record["folds"]:
        how = {"validation": "chosen on validation", "test": "CHOSEN ON TEST", "fixed": "fixed by --top-k"}
        lines += [
            (
                f"## Fold {fold['fold']}: K = {fold['size']} of {len(fold['members'])} "
                f"({how[fold['size_chosen_on']]})"
            ),
            "",
        ]
        header = ["K", f"validation {fold['metric']}"]
        header += [f"test {fold['metric']}"] if "test" in fold["curve"][0] else []
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for point in fold["curve"]:
            cells = [
                str(point["k"]) + (" *" if point["k"] == fold["size"] else ""),
                f"{100 * point['val']:.2f}" if "val" in point else "n/a",
            ]
            cells += [f"{100 * point['test']:.2f}"] if "test" in point else []
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"Members (best first, {fold['ranked_on']} {fold['metric']}):", ""]
        lines += [
            f"- {'[x]' if m['in_ensemble'] else '[ ]'} {m['path']}: {100 * m['val_score']:.2f}"
            for m in fold["members"]
        ]
        lines += [
            "",
            "Test set, scikit-learn classification report of the chosen ensemble:",
            "",
            "```",
            fold["report"].rstrip(),
            "```",
            "",
        ]
    if "summary" in record:
        lines += [format_summary(record["summary"]).replace("# ", "## ", 1)]
    return "\n".join(lines).rstrip() + "\n"
