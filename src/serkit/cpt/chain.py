"""Stage ``chain``: CPT-HuBERT's phases for every fold, fine-tuning through the normal runner (SEEDS.md 5.3-5.5).

For each fold of the fine-tuning recipe's protocol (``serkit.data.protocols.make_folds``, IEMOCAP
leave-one-session-out), in ``<out>/folds/<fold>/``:

1. ``lists/``: the pre-training pool. By default the fold's **training** utterances are pre-trained and clustered
   on, and its validation utterances are the pre-training validation list; no test-session audio is in either.
   ``pretrain_on_val: true`` adds the validation utterances to the pool (a seeded ``valid_fraction`` of the pool
   is then held out for pre-training validation); ``transductive: true`` pools every utterance of the corpus, test
   sessions included, with a 10 % hold-out, as the original did (``create_tsv``), and the report says so.
2. ``tapt/``: k-means (``tapt.kmeans.clusters``, 500) on layer-``tapt.layer`` features of the start model for the
   pool (or the centroids of a trusted pickled k-means), labels, pre-training from the start model, export.
3. ``finetune_tapt/``: the runner on this fold only, with ``model.args.pretrained`` = the TAPT encoder.
4. ``cpt/``: layer-``cpt.layer`` features of that fine-tuned encoder for the pool, k-means (50 emotional
   states) on the pool, labels, pre-training from the start model (``cpt.init: start``, the README) or from the TAPT
   encoder (``tapt``), export.
5. ``finetune_cpt/``: the runner again, with the CPT encoder.

Then ``report.md`` / ``report.json`` give test WA/UA per fold and mean ± std over folds, for both fine-tunings
(selection on validation only, never averaged with validation scores). Start-model features are extracted once for
all folds (``<out>/features/start_L<k>``); every stage skips work already done, so rerunning the command resumes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from serkit.config import ExperimentConfig, from_dict
from serkit.core.errors import SerkitError
from serkit.core.fileio import atomic_write_json, atomic_write_text
from serkit.core.torch_settings import configure_torch
from serkit.core.values import read_yaml, to_dict, write_yaml
from serkit.cpt.pretrain_config import PretrainConfig
from serkit.data.protocols import Fold, make_folds
from serkit.data.utterance import Utterance, write_manifest
from serkit.recipe import load_experiment

__all__ = [
    "TRANSDUCTIVE_NOTE",
    "ChainConfig",
    "KMeansSettings",
    "PhaseConfig",
    "format_report",
    "load_chain",
    "mark_transductive",
    "pretraining_lists",
    "run_chain",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KMeansSettings:
    """MiniBatchKMeans settings (the original's defaults; see :func:`serkit.cpt.kmeans.fit_kmeans`)."""

    clusters: int = 500
    n_init: int = 20
    batch_size: int = 10000
    max_iter: int = 100
    max_no_improvement: int = 100
    seed: int = 1337
    fraction: float = 1.0


@dataclass(frozen=True)
class PhaseConfig:
    """One pre-training phase. ``init``: the model pre-training starts from, ``start`` or (CPT only) ``tapt``.
    ``pretrained_kmeans`` (TAPT only): a pickled scikit-learn k-means to use instead of fitting one; read only
    with ``trust_pickle: true``. ``export``: which weights become the encoder (``best_valid``, ``best_train``,
    ``last``)."""

    layer: int = 9
    kmeans: KMeansSettings = field(default_factory=KMeansSettings)
    pretrained_kmeans: str = ""
    trust_pickle: bool = False
    init: str = "start"
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    export: str = "best_valid"

    def __post_init__(self) -> None:
        if self.init not in ("start", "tapt"):
            raise ValueError(f"init={self.init!r}: use start or tapt.")


@dataclass(frozen=True)
class ChainConfig:
    """The whole chain. ``finetune_recipe`` is a runner recipe (relative to the chain file) and
    ``finetune_set`` its ``--set`` overrides; ``folds`` limits the chain to some fold indices; ``device`` of
    feature extraction ("" = cuda when present)."""

    name: str = "cpt_hubert"
    finetune_recipe: str = ""
    finetune_set: tuple[str, ...] = ()
    start_model: str = "facebook/hubert-base-ls960"
    transductive: bool = False
    pretrain_on_val: bool = False
    valid_fraction: float = 0.1
    folds: tuple[int, ...] = ()
    num_shards: int = 1
    device: str = ""
    tapt: PhaseConfig = field(default_factory=PhaseConfig)
    cpt: PhaseConfig = field(default_factory=lambda: PhaseConfig(kmeans=KMeansSettings(clusters=50)))


def load_chain(path: str | Path, overrides: list[str] | None = None) -> tuple[ChainConfig, Path]:
    """The chain config and the resolved fine-tuning recipe path (relative paths are relative to the chain file)."""
    from serkit.core.values import apply_overrides

    path = Path(path)
    config = from_dict(ChainConfig, apply_overrides(read_yaml(path), overrides))
    if not config.finetune_recipe:
        raise SerkitError(f"{path}: set finetune_recipe (a runner recipe, e.g. iemocap_loso_hubert.yaml).")
    recipe = Path(config.finetune_recipe)
    recipe = recipe if recipe.is_absolute() else (path.parent / recipe)
    kmeans = Path(config.tapt.pretrained_kmeans)
    if (
        config.tapt.pretrained_kmeans and not kmeans.is_absolute()
    ):  # relative to the chain file, like the recipe
        config = replace(
            config, tapt=replace(config.tapt, pretrained_kmeans=str((path.parent / kmeans).resolve()))
        )
    return config, recipe.resolve()


def pretraining_lists(
    fold: Fold,
    all_ids: list[str],
    *,
    transductive: bool,
    pretrain_on_val: bool,
    valid_fraction: float,
    seed: int,
) -> tuple[list[str], list[str]]:
    """(pre-training/clustering ids, pre-training validation ids) of one fold.

    Default: (fold.train, fold.val). ``pretrain_on_val``: the pool is train + val. ``transductive``: the pool is
    every id (test included). A pool that is not train alone gets a seeded ``valid_fraction`` hold-out.
    """
    if not transductive and not pretrain_on_val:
        return sorted(fold.train), sorted(fold.val)
    pool = sorted(all_ids) if transductive else sorted({*fold.train, *fold.val})
    rng = np.random.default_rng(seed)
    held = rng.random(len(pool)) < valid_fraction
    return [i for i, h in zip(pool, held) if not h], [i for i, h in zip(pool, held) if h]


#: Chain keys that choose which folds run and where, not what a fold computes: a folder can be continued with
#: more folds, on another device or with other shards.
_EXECUTION_KEYS = ("folds", "num_shards", "device")


def _identity(saved: dict[str, Any]) -> dict[str, Any]:
    chain = {k: v for k, v in saved.get("chain", {}).items() if k not in _EXECUTION_KEYS}
    return {**saved, "chain": chain}


def _device(config: ChainConfig) -> str:
    import torch

    return config.device or ("cuda" if torch.cuda.is_available() else "cpu")


def _fine_tune(
    recipe: Path, config: ChainConfig, fold_index: int, fold_name: str, encoder: Path, out: Path, cache: Path
) -> dict[str, Any]:
    from serkit.training.runner import run_experiment

    experiment = load_experiment(
        recipe,
        [
            *config.finetune_set,
            f"model.args.pretrained={encoder}",
            f"protocol.folds=[{fold_index}]",
            f"cache_dir={cache}",
        ],
    )
    summary = run_experiment(experiment, out)
    folds = {run["fold"] for run in summary["runs"]}
    if folds != {fold_name}:  # the runner must have made the same split as the chain
        raise SerkitError(
            f"{out}: the runner ran fold(s) {sorted(folds)} where the chain expected {fold_name!r}; "
            "the recipe's protocol must give the same folds for the chain and the runner."
        )
    if config.transductive:
        mark_transductive(out)
    return summary


def _phase(
    phase: PhaseConfig,
    *,
    name: str,
    features: Path,
    fold_dir: Path,
    train_ids: list[str],
    valid_ids: list[str],
    init: str,
) -> Path:
    """k-means -> labels -> pre-training -> export of one phase; returns the exported encoder folder."""
    from serkit.cpt.export import export_pretrained
    from serkit.cpt.features import FeatureStore
    from serkit.cpt.kmeans import fit_kmeans, import_kmeans, load_centroids
    from serkit.cpt.labels import assign_labels
    from serkit.cpt.pretrain import pretrain

    root = fold_dir / name
    kmeans_dir = root / "kmeans"
    if phase.pretrained_kmeans and not (kmeans_dir / "kmeans.json").is_file():  # refused early without trust
        import_kmeans(phase.pretrained_kmeans, kmeans_dir, trust_pickle=phase.trust_pickle)
    store = FeatureStore(features)
    if phase.pretrained_kmeans:
        clusters = len(load_centroids(kmeans_dir))
    else:
        k = phase.kmeans
        fit_kmeans(
            store,
            kmeans_dir,
            clusters=k.clusters,
            ids=train_ids,
            n_init=k.n_init,
            batch_size=k.batch_size,
            max_iter=k.max_iter,
            max_no_improvement=k.max_no_improvement,
            seed=k.seed,
            fraction=k.fraction,
        )
        clusters = k.clusters
    train_labels = assign_labels(store, kmeans_dir, root / "labels_train.tsv", ids=train_ids)
    valid_labels = (
        assign_labels(store, kmeans_dir, root / "labels_valid.tsv", ids=valid_ids) if valid_ids else None
    )
    settings = replace(phase.pretrain, num_classes=clusters)
    # the chain is the entry point of its phases: each sets the threads its settings ask for
    configure_torch(settings.threads, flush_denormal=False)
    pretrain(
        settings, init=init, train_labels=train_labels, valid_labels=valid_labels, out_dir=root / "pretrain"
    )
    export = root / "export"
    if not (export / "serkit_export.json").is_file():
        export_pretrained(root / "pretrain", export, which=phase.export)
    return export


TRANSDUCTIVE_NOTE = (
    "**TRANSDUCTIVE (the original protocol): the encoder was pre-trained and clustered on every "
    "utterance of the corpus, the test sessions included.**"
)


def mark_transductive(run_dir: Path) -> None:
    """Say in a fine-tuning run's summary.md / summary.json that its encoder saw the test audio (idempotent)."""
    markdown, data = run_dir / "summary.md", run_dir / "summary.json"
    if markdown.is_file():
        lines = markdown.read_text(encoding="utf-8").splitlines()
        if TRANSDUCTIVE_NOTE not in lines:
            atomic_write_text(markdown, "\n".join([*lines[:1], "", TRANSDUCTIVE_NOTE, *lines[1:]]) + "\n")
    if data.is_file():
        summary = json.loads(data.read_text(encoding="utf-8"))
        if not summary.get("transductive_pretraining"):
            summary["transductive_pretraining"] = True
            summary.setdefault("notes", []).append(TRANSDUCTIVE_NOTE.strip("*"))
            atomic_write_json(data, summary)


def _test_scores(summary: dict[str, Any]) -> dict[str, float]:
    """Mean test WA/UA over the seeds of a one-fold summary (runs hold test metrics only)."""
    runs = summary["runs"]
    return {key: float(np.mean([r["metrics"][key] for r in runs])) for key in ("wa", "ua")}


def _mean_std(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def run_chain(config: ChainConfig, recipe: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Run (or resume) every phase for every selected fold and write the report; returns the report dict."""
    from serkit.cpt.export import export_finetuned
    from serkit.cpt.features import extract_features
    from serkit.training.runner import load_utterances

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = Path(recipe)
    experiment: ExperimentConfig = load_experiment(recipe, list(config.finetune_set))
    if experiment.protocol.split_seed is None:
        raise SerkitError(
            f"{recipe}: protocol.split_seed is null (a new split per seed); the chain pre-trains once "
            "per fold and needs one fixed split: set protocol.split_seed."
        )
    saved = out_dir / "chain.yaml"
    resolved = {"chain": to_dict(config), "finetune_recipe": str(recipe)}
    if saved.is_file() and _identity(read_yaml(saved)) != _identity(json.loads(json.dumps(resolved))):
        raise SerkitError(
            f"{out_dir} holds another chain (see {saved}); use a new --out folder or delete it."
        )
    write_yaml(saved, resolved)
    utterances, _, _ = load_utterances(experiment)
    by_id: dict[str, Utterance] = {u.id: u for u in utterances}
    folds = make_folds(
        utterances,
        experiment.protocol.name,
        seed=experiment.protocol.split_seed,
        options=experiment.protocol.options,
    )
    chosen = list(config.folds or experiment.protocol.folds or range(len(folds)))
    bad = [i for i in chosen if not 0 <= i < len(folds)]
    if bad:
        raise SerkitError(f"folds={chosen}: indices {bad} out of range 0..{len(folds) - 1}.")
    device, cache = _device(config), out_dir / "feature_cache"

    lists: dict[int, tuple[list[str], list[str]]] = {}
    for index in chosen:
        fold = folds[index]
        train_ids, valid_ids = pretraining_lists(
            fold,
            list(by_id),
            transductive=config.transductive,
            pretrain_on_val=config.pretrain_on_val,
            valid_fraction=config.valid_fraction,
            seed=index,
        )
        lists[index] = (train_ids, valid_ids)
        folder = out_dir / "folds" / fold.name / "lists"
        write_manifest([by_id[i] for i in train_ids], folder / "pretrain_train.csv", relative=False)
        write_manifest([by_id[i] for i in valid_ids], folder / "pretrain_valid.csv", relative=False)
        test = set(fold.test)
        atomic_write_json(
            folder / "lists.json",
            {
                "fold": fold.name,
                "held_out": list(fold.held_out),
                "transductive": config.transductive,
                "pretrain_on_val": config.pretrain_on_val,
                "pretrain_train": train_ids,
                "pretrain_valid": valid_ids,
                "test_utterances_in_pretraining": sum(i in test for i in [*train_ids, *valid_ids]),
            },
        )

    # start-model features once, for the union of every chosen fold's pool
    pool = sorted({i for t, v in lists.values() for i in (*t, *v)})
    start_features = out_dir / "features" / f"start_L{config.tapt.layer}"
    extract_features(
        [by_id[i] for i in pool],
        start_features,
        model=config.start_model,
        layer=config.tapt.layer,
        num_shards=config.num_shards,
        device=device,
        progress=experiment.train.progress,
    )

    rows = []
    for index in chosen:
        fold = folds[index]
        fold_dir = out_dir / "folds" / fold.name
        train_ids, valid_ids = lists[index]
        common = {"fold_dir": fold_dir, "train_ids": train_ids, "valid_ids": valid_ids}
        tapt = _phase(config.tapt, name="tapt", features=start_features, init=config.start_model, **common)
        tapt_summary = _fine_tune(recipe, config, index, fold.name, tapt, fold_dir / "finetune_tapt", cache)
        first = tapt_summary["runs"][0]
        encoder = fold_dir / "finetune_tapt" / "encoder"
        if not (encoder / "serkit_export.json").is_file():
            export_finetuned(
                fold_dir / "finetune_tapt" / "runs" / first["fold"] / f"seed{first['seed']}" / "best.pt",
                encoder,
            )
        cpt_features = fold_dir / "cpt" / "features"
        extract_features(
            [by_id[i] for i in (*train_ids, *valid_ids)],
            cpt_features,
            model=str(encoder),
            layer=config.cpt.layer,
            num_shards=config.num_shards,
            device=device,
            progress=experiment.train.progress,
        )
        cpt_init = config.start_model if config.cpt.init == "start" else str(tapt)
        cpt = _phase(config.cpt, name="cpt", features=cpt_features, init=cpt_init, **common)
        cpt_summary = _fine_tune(recipe, config, index, fold.name, cpt, fold_dir / "finetune_cpt", cache)
        rows.append(
            {
                "fold": fold.name,
                "held_out": list(fold.held_out),
                "num_test": len(fold.test),
                "tapt": _test_scores(tapt_summary),
                "cpt": _test_scores(cpt_summary),
            }
        )

    report = _report(config, experiment, rows)
    atomic_write_json(out_dir / "report.json", report)
    atomic_write_text(out_dir / "report.md", format_report(report))
    return report


def _report(config: ChainConfig, experiment: ExperimentConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary = {}
    for model in ("tapt", "cpt"):
        summary[model] = {}
        for key in ("wa", "ua"):
            mean, std = _mean_std([row[model][key] for row in rows])
            summary[model][key] = {"mean": mean, "std": std, "n": len(rows)}
    return {
        "name": config.name,
        "protocol": experiment.protocol.name,
        "transductive": config.transductive,
        "pretrain_on_val": config.pretrain_on_val,
        "selection": experiment.train.select_on,
        "start_model": config.start_model,
        "folds": rows,
        "summary": summary,
    }


def format_report(report: dict[str, Any]) -> str:
    """Markdown: the protocol statement, test WA/UA per fold, mean ± std over folds."""
    if report["transductive"]:
        data = TRANSDUCTIVE_NOTE
    elif report["pretrain_on_val"]:
        data = (
            "Pre-training and clustering used each fold's training and validation utterances; no test audio."
        )
    else:
        data = "Pre-training and clustering used each fold's training utterances only; no test audio."
    protocol = (
        f"Protocol: {report['protocol']}; checkpoints selected on {report['selection']}; scores are test "
        "scores only (never averaged with validation scores)."
    )
    lines = [
        f"# {report['name']}",
        "",
        protocol,
        "",
        data,
        "",
        "| fold | held out | test utterances | TAPT WA | TAPT UA | CPT WA | CPT UA |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["folds"]:
        lines.append(
            f"| {row['fold']} | {', '.join(row['held_out'])} | {row['num_test']} | "
            f"{row['tapt']['wa']:.4f} | {row['tapt']['ua']:.4f} | {row['cpt']['wa']:.4f} | "
            f"{row['cpt']['ua']:.4f} |"
        )
    s = report["summary"]
    lines.append(
        f"| mean ± std | | | {s['tapt']['wa']['mean']:.4f} ± {s['tapt']['wa']['std']:.4f} | "
        f"{s['tapt']['ua']['mean']:.4f} ± {s['tapt']['ua']['std']:.4f} | "
        f"{s['cpt']['wa']['mean']:.4f} ± {s['cpt']['wa']['std']:.4f} | "
        f"{s['cpt']['ua']['mean']:.4f} ± {s['cpt']['ua']['std']:.4f} |"
    )
    lines += ["", "Std: sample standard deviation over folds (ddof=1; 0 for one fold)."]
    return "\n".join(lines) + "\n"
