"""The model card (``README.md``) of a model folder written by ``serkit export --format folder``.

The card is a Hugging Face style README: YAML front matter (``library_name: serkit``, ``tags``, ``license`` and
``language`` of the training corpus when known, ``pipeline_tag: audio-classification`` for a model with classes),
then sections on the task, the labels (and, for a model of emotion dimensions, ``task: regression`` or
``multitask``, the dimensions and their scale), the training corpus and its licence (:data:`CORPORA`; an unknown corpus says to check its terms), the
evaluation protocol (speaker-independent or not, transductive normalisation or not, model selection on the test
set or not), the metrics (mean ± std over folds × seeds from the run folder's ``summary.json``, or the one run's
``metrics.json``; dimensions are reported by their CCC: ``ccc`` the mean over the dimensions, ``ccc_<dimension>``,
``pearson_<dimension>`` and ``mae_<dimension>``), how to use the folder, and intended use and limits.

Everything is read from the run folder's text files (``config.yaml``, ``folds.json``, ``summary.json``,
``metrics.json``); this module imports no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CORPORA", "Corpus", "RunFacts", "describe_run", "render_card"]

#: The scores of one run's metrics.json shown on a card: classes, then the means over the dimensions.
_RUN_METRICS = ("wa", "ua", "macro_f1", "weighted_f1", "ccc", "pearson", "mae")
#: The per-dimension scores shown for each dimension (``ccc_<dimension>`` ...).
_DIMENSION_METRICS = ("ccc", "pearson", "mae")


@dataclass(frozen=True)
class Corpus:
    """What a card says about a training corpus: its full name, licence (and its Hugging Face licence id),
    language(s) (ISO 639-1) and the kind of speech."""

    title: str
    licence: str
    hub_licence: str
    languages: tuple[str, ...]
    speech: str


#: Known corpus licences, by serkit corpus name (``corpus.name`` of the recipe).
CORPORA: dict[str, Corpus] = {
    "ravdess": Corpus(
        "RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song)",
        "CC BY-NC-SA 4.0 (non-commercial, share alike)",
        "cc-by-nc-sa-4.0",
        ("en",),
        "acted: 24 professional North American actors, two fixed sentences",
    ),
    "emodb": Corpus(
        "EmoDB (Berlin Database of Emotional Speech)",
        "research use; check the corpus terms",
        "other",
        ("de",),
        "acted: 10 German actors, ten fixed sentences",
    ),
    "iemocap": Corpus(
        "IEMOCAP (Interactive Emotional Dyadic Motion Capture)",
        "licence agreement with USC SAIL (research only, no redistribution)",
        "other",
        ("en",),
        "acted and improvised dyadic sessions of 10 actors",
    ),
    "meld": Corpus(
        "MELD (Multimodal EmotionLines Dataset)",
        "GPL-3.0",
        "gpl-3.0",
        ("en",),
        "TV series dialogue (Friends)",
    ),
    "crema_d": Corpus(
        "CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset)",
        "ODbL (Open Database License)",
        "odbl",
        ("en",),
        "acted: 91 actors, twelve fixed sentences",
    ),
}

UNKNOWN_LICENCE = "unknown: check the corpus terms"


@dataclass
class RunFacts:
    """What the card reports about the run a model comes from (all optional: a bare ``best.pt`` has none)."""

    corpus: str | None = None
    protocol: str | None = None
    protocol_description: str | None = None
    speaker_independent: bool | None = None
    transductive: bool | None = None
    selected_on_test: bool | None = None
    #: metric -> (mean, std, n): over folds × seeds from ``summary.json``, or (value, None, 1) of one run
    metrics: dict[str, tuple[float, float | None, int]] = field(default_factory=dict)
    metrics_source: str = ""
    warnings: list[str] = field(default_factory=list)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _run_root(checkpoint: Path) -> Path | None:
    """The ``serkit train --out`` folder above ``runs/<fold>/seed<k>/best.pt`` (the one holding folds.json)."""
    for folder in list(checkpoint.parents)[:4]:
        if (folder / "folds.json").is_file() or (folder / "summary.json").is_file():
            return folder
    return None


def describe_run(source: Path, checkpoint: Path, dimensions: list[str] | tuple[str, ...] = ()) -> RunFacts:
    """The facts of the run behind ``checkpoint``; ``source`` is what was exported (a run folder or the file);
    ``dimensions``: the model's dimension names, whose ``ccc_<dimension>`` (etc.) scores are shown too.

    A run folder gives mean ± std over its folds × seeds (``summary.json``); a single ``best.pt`` gives its own
    run's ``metrics.json``. Corpus, protocol and normalisation come from the run's ``config.yaml``,
    ``folds.json`` and ``summary.json``, whichever exist.
    """
    facts = RunFacts()
    root = _run_root(checkpoint)
    config = _read_yaml(checkpoint.parent / "config.yaml") or (
        _read_yaml(root / "config.yaml") if root else {}
    )
    facts.corpus = (config.get("corpus") or {}).get("name")
    facts.protocol = (config.get("protocol") or {}).get("name")
    transductive = (config.get("input") or {}).get("transductive")
    facts.transductive = None if transductive is None else bool(transductive)
    info = _read_json(root / "folds.json").get("info", {}) if root else {}
    summary = _read_json(root / "summary.json") if root else {}
    for source_info in (info, summary.get("protocol_info", {})):
        facts.protocol = source_info.get("name", facts.protocol)
        facts.protocol_description = source_info.get("description", facts.protocol_description)
        if "speaker_independent" in source_info:
            facts.speaker_independent = bool(source_info["speaker_independent"])
    if summary:
        facts.transductive = bool(summary.get("transductive", facts.transductive))
        facts.selected_on_test = bool(summary.get("selected_on_test"))
        facts.warnings = [str(w) for w in summary.get("warnings", [])]
    per_dimension = [f"{metric}_{name}" for name in dimensions for metric in _DIMENSION_METRICS]
    if source.is_dir() and summary.get("metrics"):
        headline = summary.get("headline_metrics", ["wa", "ua", "macro_f1"])
        for key in [*headline, *(k for k in ("ccc", *per_dimension) if k not in headline)]:
            stats = summary["metrics"].get(key)
            if stats:
                facts.metrics[key] = (float(stats["mean"]), float(stats["std"]), int(stats["n"]))
        facts.metrics_source = (
            f"mean ± std over {summary.get('n_runs')} runs (folds {', '.join(summary.get('folds', []))} × seeds "
            f"{', '.join(str(s) for s in summary.get('seeds', []))}), from the run folder's summary.json; the "
            "weights are those of one of these runs"
        )
    else:
        run = _read_json(checkpoint.parent / "metrics.json")
        for key in (*_RUN_METRICS, *per_dimension):
            if isinstance(run.get("metrics", {}).get(key), (int, float)):
                facts.metrics[key] = (float(run["metrics"][key]), None, 1)
        facts.metrics_source = (
            f"the test set of this one run (fold {run.get('fold')}, seed {run.get('seed')}; its metrics.json): no "
            "spread over folds or seeds; export the run folder for mean ± std"
        )
    return facts


def _yes_no(value: bool | None, yes: str, no: str) -> str:
    return "unknown (not recorded with the checkpoint)" if value is None else (yes if value else no)


def render_card(config: dict[str, Any], facts: RunFacts) -> str:
    """The README.md text of a model folder whose ``config.json`` is ``config``."""
    corpus = CORPORA.get((facts.corpus or "").lower())
    labels = list(config["label_names"])
    task, dimensions = config.get("task", "classification"), list(config.get("dimensions") or [])
    front = [
        "---",
        "library_name: serkit",
        *(["pipeline_tag: audio-classification"] if labels else []),
        "tags:",
        *(["- audio-classification"] if labels else []),
        "- speech-emotion-recognition",
        *(["- emotion-dimensions"] if dimensions else []),
        f"license: {corpus.hub_licence if corpus else 'other'}",
    ]
    if corpus:
        front += ["language:", *(f"- {code}" for code in corpus.languages)]
    front.append("---")
    name = config["model_name"]
    inputs = config["input"]
    lines = [
        *front,
        "",
        f"# Speech emotion recognition: {name} ({facts.corpus or 'unknown corpus'})",
        "",
        "## Task",
        "",
        _task_sentence(labels, dimensions, config.get("dimension_range"), task)
        + f"Model `{name}` on `{config['feature'].get('name')}` features at {inputs['sample_rate']} Hz, input mode "
        f"`{inputs['mode']}`; written by serkit {config.get('serkit_version')} from `{config.get('source')}`.",
        "",
        *_label_lines(labels, dimensions, config.get("dimension_range")),
        "## Training corpus and licence",
        "",
        f"- Corpus: {corpus.title if corpus else facts.corpus or 'unknown'}",
        f"- Licence: {corpus.licence if corpus else UNKNOWN_LICENCE}. The weights were trained on this corpus; "
        "its terms may restrict how the model is used and shared.",
        f"- Speech: {corpus.speech if corpus else 'unknown'}",
        "",
        "## Protocol",
        "",
        f"- Split: {facts.protocol or 'unknown'}"
        + (f": {facts.protocol_description}" if facts.protocol_description else ""),
        "- Speakers: "
        + _yes_no(
            facts.speaker_independent,
            "speaker-independent (no test speaker in training)",
            "speaker-dependent (test speakers were heard in training: scores are optimistic)",
        ),
        "- Normalisation: "
        + _yes_no(
            facts.transductive,
            "transductive (test inputs normalised with statistics of the test speakers' audio)",
            "inductive (training statistics only)",
        ),
    ]
    if facts.selected_on_test is not None:
        lines.append(
            "- Model selection: "
            + ("on the test set (optimistic)" if facts.selected_on_test else "on validation data")
        )
    lines += ["", "## Metrics", ""]
    if dimensions:
        lines += [
            "Dimensions are scored per dimension by the concordance correlation coefficient (CCC, `ccc_<dimension>`; "
            "`ccc` is their mean), Pearson's r (`pearson_<dimension>`) and the mean absolute error on the [0, 1] "
            "scale (`mae_<dimension>`), on the test set.",
            "",
        ]
    if facts.metrics:
        lines += [f"Scores: {facts.metrics_source}.", "", "| metric | value | runs |", "|---|---|---|"]
        for key, (mean, std, count) in facts.metrics.items():
            value = f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"
            lines.append(f"| {key} | {value} | {count} |")
        lines += [f"\n> {warning}" for warning in facts.warnings]
    else:
        lines.append("No metrics were found next to the checkpoint.")
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from serkit.inference import Recognizer",
        "",
        'recognizer = Recognizer.from_pretrained("THIS_FOLDER_OR_HUB_ID")',
        *(['recognizer.predict(["clip.wav"])'] if labels else []),
        *(
            ['recognizer.predict_dimensions(["clip.wav"], scale="corpus")  # or scale="unit": [0, 1]']
            if dimensions
            else []
        ),
        "```",
        "",
        "or `serkit predict THIS_FOLDER clip.wav` (`hf://owner/name` for a hub repository).",
        "",
        "## Intended use and limits",
        "",
        "- For research on speech emotion recognition and for demonstrations; "
        + (
            "not for commercial use (the corpus licence is non-commercial)."
            if corpus and "NC" in corpus.licence
            else "check the corpus licence before any commercial use."
        ),
        "- Trained on "
        + (corpus.speech if corpus else "the speech of one corpus")
        + "; expect lower accuracy on "
        "spontaneous speech, other languages"
        + (f" than {', '.join(corpus.languages)}" if corpus else "")
        + ", accents, recording conditions and microphones.",
        *(
            [
                f"- It only knows the classes {', '.join(labels)}: every input with speech is given one of them."
            ]
            if labels
            else []
        ),
        *(
            [f"- It rates only {', '.join(dimensions)}, as the corpus's annotators did."]
            if dimensions
            else []
        ),
        "- Emotion labels are actors' portrayals and annotators' judgements, not what a person feels. Do not use "
        "the model to make decisions about people (hiring, grading, health, policing, credit) or to monitor them.",
        "",
    ]
    return "\n".join(lines)


def _scale(dimension_range) -> str:
    low, high = dimension_range or (0, 1)
    return f"{low:g}-{high:g}"


def _bounds(dimension_range) -> str:
    low, high = dimension_range or (0, 1)
    return f"[{low:g}, {high:g}]"


def _task_sentence(labels: list[str], dimensions: list[str], dimension_range, task: str) -> str:
    """The first sentence of the card's Task section: what the model outputs."""
    rates = f"rates the emotion dimensions {', '.join(dimensions)} on the {_scale(dimension_range)} scale of its training corpus"
    if task == "regression":
        return f"From a speech recording the model {rates} (regression). "
    text = f"Classifies the emotion of a speech recording into one of {len(labels)} classes (audio classification)"
    return text + (f" and {rates}, from one head (multitask). " if dimensions else ". ")


def _label_lines(labels: list[str], dimensions: list[str], dimension_range) -> list[str]:
    """The card's Labels (classes) and Dimensions sections."""
    lines = []
    if labels:
        lines += [
            "## Labels",
            "",
            "In the order of the probabilities: "
            + ", ".join(f"`{label}`" for label in labels)
            + ". Inputs without "
            "speech (the energy gate) are labelled `no_speech`.",
            "",
        ]
    if dimensions:
        lines += [
            "## Dimensions",
            "",
            "In the order of the values: "
            + ", ".join(f"`{name}`" for name in dimensions)
            + ". The model outputs "
            f"each on [0, 1] (after the class logits, if any); on the corpus scale a value v is "
            f"`low + v * (high - low)` with [low, high] = {_bounds(dimension_range)} "
            '(`predict_dimensions(..., scale="corpus")`; `serkit predict` writes both, `<dimension>` and '
            "`<dimension>_01`). A file's value is the mean over its segments; silence is not gated out.",
            "",
        ]
    return lines
