"""Corpus checks (``serkit corpus check``): the traps of small emotion corpora that silently inflate results.

Each check returns :class:`Finding` records with a level: ``info`` (a fact worth knowing), ``warning`` (results
will likely be inflated or hard to interpret) or ``error`` (results cannot be trusted as they stand). The exit code
of the command is 0 (clean), 1 (warnings) or 2 (errors), see :attr:`CorpusCheck.exit_code`.

The metadata checks (:func:`check_metadata`) need no audio: speaker x emotion confounding, label imbalance
overall and per speaker, constant or capped durations, byte-identical files (by ``content_hash``), sample-rate and
channel mixtures when file headers are known, and transcripts that predict the emotion. They also run at the start
of ``serkit train`` and ``serkit corpus folds`` (:func:`precheck`), logging warnings, or refusing with
``strict: true``. The audio checks (:mod:`serkit.data.check_audio`, read every file once) add clipping, silent or
near-empty files and near-duplicates (the same recording re-encoded, resampled, made louder or trimmed).

Example:
    >>> from serkit.data.utterance import Utterance
    >>> utts = [Utterance(id=f"u{i}", path=f"{i}.wav", speaker=f"s{i % 4}", emotion=("sad", "happy")[i % 2],
    ...                   duration=1.0 + i / 10) for i in range(16)]
    >>> result = check_corpus(utts, audio=False)
    >>> result.exit_code, [(f.id, f.level) for f in result.problems()]
    (2, [('speaker_confounding', 'error'), ('speaker_label_imbalance', 'warning')])
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from serkit.core.errors import SerkitError
from serkit.data.check_audio import (
    LEVELS,
    MAX_EXAMPLES,
    AudioStats,
    CorpusCheck,
    Finding,
    audio_findings,
    format_findings,
    link_groups,
    near_duplicates,
    read_headers,
    scan_audio,
)
from serkit.data.corpora import fill_content_hashes
from serkit.data.stats import natural_key
from serkit.data.utterance import CANONICAL_EMOTIONS, Utterance

__all__ = ["LEVELS", "CorpusCheck", "Finding", "check_corpus", "check_metadata", "precheck"]

logger = logging.getLogger(__name__)

_ONE_EMOTION_ERROR = 0.5  # share of one-emotion speakers from which no speaker-independent result means much
_ONE_EMOTION_WARNING = 0.2
_CRAMER_WARNING = 0.3  # Cramér's V of speaker x emotion
_ABOVE_CHANCE = 0.15  # a speaker-only or text-only classifier this far above the majority rate warns
_IMBALANCE_RATIO = 3.0  # largest / smallest emotion
_SPEAKER_SKEW = 0.3  # total variation distance of a speaker's emotions from the corpus's
_SKEWED_SPEAKERS = 0.25  # share of skewed speakers that warns
_CONSTANT_SHARE = 0.5  # share of files with the most common duration (10 ms) that warns
_CAPPED_SHARE = 0.1  # share of files exactly at the longest duration that warns
_TEXT_SAMPLE = 20000  # at most this many transcripts train the text-only classifier


def _crosstab(pairs: Sequence[tuple[str, str]]) -> tuple[list[str], list[str], np.ndarray]:
    """(row keys, emotions, counts (rows, emotions)) of (key, emotion) pairs; emotions in canonical order."""
    keys = sorted({k for k, _ in pairs}, key=natural_key)
    emotions = [e for e in CANONICAL_EMOTIONS if e in {e for _, e in pairs}]
    counts = np.zeros((len(keys), len(emotions)), dtype=np.int64)
    row, col = {k: i for i, k in enumerate(keys)}, {e: i for i, e in enumerate(emotions)}
    for key, emotion in pairs:
        counts[row[key], col[emotion]] += 1
    return keys, emotions, counts


def _table(utterances: Sequence[Utterance]) -> tuple[list[str], list[str], np.ndarray]:
    """(speakers, emotions, counts (speakers, emotions)) of the labelled utterances with a speaker."""
    return _crosstab([(u.speaker, u.emotion) for u in utterances if u.speaker and u.emotion])


def _loo_accuracy(counts: np.ndarray) -> float:
    """Leave-one-out accuracy of predicting an utterance's class as the commonest class of its group (the other
    utterances of its speaker, or of its sentence); a group with no other utterance predicts the corpus majority.

    Args:
        counts: (groups, classes) utterance counts.
    """
    totals = counts.sum(axis=0)
    tie_break = totals / (totals.sum() * 10.0 + 1.0)  # equal counts go to the commoner class
    correct = 0
    for g, c in zip(*np.nonzero(counts)):
        others = counts[g].astype(float)
        others[c] -= 1
        guess = int(np.argmax(others + tie_break)) if others.sum() > 0 else int(np.argmax(totals))
        correct += counts[g, c] * (guess == c)
    return float(correct / max(counts.sum(), 1))


def _confounding(speakers: list[str], emotions: list[str], counts: np.ndarray) -> Finding:
    if len(emotions) < 2:  # one class (or none, e.g. dimension ratings only): nothing to be confounded with
        said = f"{len(emotions)} emotion(s) labelled ({', '.join(emotions) or 'none'}): confounding not measured."
        return Finding("speaker_confounding", "info", said, "", {"emotions": len(emotions)})
    one = [s for s, row in zip(speakers, counts) if np.count_nonzero(row) == 1]
    share = len(one) / len(speakers)
    majority = float(counts.sum(axis=0).max() / counts.sum())
    accuracy = _loo_accuracy(counts)
    cramer = 0.0
    if len(speakers) > 1 and len(emotions) > 1:
        from scipy.stats.contingency import association

        cramer = float(association(counts, method="cramer"))
    numbers = {
        "speakers": len(speakers),
        "one_emotion_speakers": len(one),
        "one_emotion_share": round(share, 3),
        "speaker_only_accuracy": round(accuracy, 3),
        "majority_rate": round(majority, 3),
        "cramers_v": round(cramer, 3),
    }
    said = (
        f"{len(one)} of {len(speakers)} speakers have one emotion only; predicting the emotion from the speaker "
        f"alone (leave-one-out) scores {accuracy:.0%} against a majority-class rate of {majority:.0%}; Cramér's V "
        f"of speaker x emotion = {cramer:.2f}."
    )
    if share >= _ONE_EMOTION_ERROR:
        several = len(speakers) - len(one)
        return Finding(
            "speaker_confounding",
            "error",
            f"Speaker and emotion are confounded: {said} A model can learn who speaks instead of how: on a "
            "speaker-dependent split it scores by recognising voices, and on a speaker-independent split no "
            "result is meaningful - with per-speaker normalisation every speaker's mean IS their emotion, so it "
            "collapses to chance, and without it the scores mix voice with emotion.",
            "Do not report speaker-independent (or random-split) results on this corpus as they stand. "
            + (
                f"Keep only the {several} speaker(s) recorded in several emotions and use protocol speaker_kfold "
                "/ leave_one_speaker_out on them, or evaluate"
                if several
                else "No speaker has several emotions, so no split of this corpus alone helps: evaluate"
            )
            + " cross-corpus: train here and test on a corpus in which every speaker has every emotion. Never use "
            "input.normalize: speaker here.",
            numbers,
            tuple(one[:MAX_EXAMPLES]),
        )
    if share >= _ONE_EMOTION_WARNING or cramer >= _CRAMER_WARNING or accuracy >= majority + _ABOVE_CHANCE:
        return Finding(
            "speaker_confounding",
            "warning",
            f"Speaker partly predicts emotion: {said} Speaker-dependent or random splits will overstate accuracy.",
            "Use a speaker-independent protocol (protocol.name: auto, speaker_kfold or leave_one_speaker_out), "
            "report per-speaker results, and be careful with input.normalize: speaker for the skewed speakers.",
            numbers,
            tuple(one[:MAX_EXAMPLES]),
        )
    return Finding(
        "speaker_confounding", "info", f"Speaker and emotion are not confounded: {said}", "", numbers
    )


def _imbalance(speakers: list[str], emotions: list[str], counts: np.ndarray) -> list[Finding]:
    totals = counts.sum(axis=0)
    ratio = float(totals.max() / max(totals.min(), 1))
    numbers = {"counts": dict(zip(emotions, totals.tolist())), "max_min_ratio": round(ratio, 2)}
    listing = ", ".join(f"{e} {n}" for e, n in zip(emotions, totals.tolist()))
    findings = [
        Finding(
            "label_imbalance",
            "warning",
            f"Emotions are imbalanced ({listing}; largest/smallest = {ratio:.1f}): accuracy rewards the "
            "majority class.",
            "Report unweighted accuracy (UA, the default summary metric) and macro F1, and consider "
            "train.class_weights or merging/leaving out rare emotions (--labels).",
            numbers,
        )
        if ratio > _IMBALANCE_RATIO
        else Finding(
            "label_imbalance", "info", f"Emotion counts: {listing} (ratio {ratio:.1f}).", "", numbers
        )
    ]
    if len(speakers) > 1 and len(emotions) > 1:
        corpus = totals / totals.sum()
        per = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        distance = 0.5 * np.abs(per - corpus).sum(axis=1)
        skewed = [s for s, d in zip(speakers, distance) if d > _SPEAKER_SKEW]
        numbers = {
            "skewed_speakers": len(skewed),
            "max_distance": round(float(distance.max()), 3),
            "distance": {s: round(float(d), 3) for s, d in zip(speakers, distance)},
        }
        share = len(skewed) / len(speakers)
        message = (
            f"{len(skewed)} of {len(speakers)} speakers have an emotion mix far from the corpus's (total variation "
            f"distance > {_SPEAKER_SKEW}; largest {distance.max():.2f})."
        )
        findings.append(
            Finding(
                "speaker_label_imbalance",
                "warning" if share >= _SKEWED_SPEAKERS else "info",
                message,
                "Per-fold class counts will swing; use more folds or repeated seeds, and report UA per fold."
                if share >= _SKEWED_SPEAKERS
                else "",
                numbers,
                tuple(skewed[:MAX_EXAMPLES]),
            )
        )
    return findings


def _durations(utterances: Sequence[Utterance]) -> list[Finding]:
    known = [(u.id, u.duration) for u in utterances if u.duration is not None]
    if len(known) < 5:
        return [Finding("durations", "info", f"only {len(known)} utterance(s) have a known duration.")]
    values = np.array([d for _, d in known])
    rounded = Counter(np.round(values, 2).tolist())
    mode, mode_count = rounded.most_common(1)[0]
    at_max = [i for i, d in known if d >= values.max() - 1e-3]
    numbers = {
        "files": len(known),
        "min_s": round(float(values.min()), 3),
        "median_s": round(float(np.median(values)), 3),
        "max_s": round(float(values.max()), 3),
        "most_common_s": mode,
        "most_common_share": round(mode_count / len(known), 3),
        "at_max_share": round(len(at_max) / len(known), 3),
    }
    if mode_count / len(known) >= _CONSTANT_SHARE:
        return [
            Finding(
                "duration_constant",
                "warning",
                f"{mode_count} of {len(known)} files last exactly {mode:.2f} s: the corpus was cut or padded to a "
                "fixed length, so utterances are truncated (the end of longer ones is missing) or padded.",
                "Get the original recordings; if only this copy exists, do not compare its scores with published "
                "ones, and do not read emotion from duration or the padding.",
                numbers,
                tuple(i for i, d in known if round(d, 2) == mode)[:MAX_EXAMPLES],
            )
        ]
    if len(at_max) >= 5 and len(at_max) / len(known) >= _CAPPED_SHARE:
        return [
            Finding(
                "duration_capped",
                "warning",
                f"{len(at_max)} of {len(known)} files last exactly the longest duration ({values.max():.2f} s): "
                "they were probably truncated at that length.",
                "Use the uncut recordings, or set input.max_duration below the cap so all files are treated alike.",
                numbers,
                tuple(at_max[:MAX_EXAMPLES]),
            )
        ]
    return [Finding("durations", "info", f"Durations {values.min():.2f}-{values.max():.2f} s.", "", numbers)]


def _duplicates(groups: list[list[str]], by_id: Mapping[str, Utterance], kind: str) -> list[Finding]:
    """Findings for groups of identical (``kind=duplicate``) or near-identical (``near_duplicate``) files."""
    what = (
        "byte-identical"
        if kind == "duplicate"
        else "near-identical (same audio re-encoded, resampled, louder or trimmed)"
    )
    scopes: dict[str, list[list[str]]] = defaultdict(list)
    for group in groups:
        if len({by_id[i].emotion for i in group}) > 1:
            scopes["across_labels"].append(group)
        elif len({by_id[i].speaker for i in group}) > 1:
            scopes["across_speakers"].append(group)
        else:
            scopes["same_speaker"].append(group)
    held = (
        "protocols keep byte-identical files on one side of a split"
        if kind == "duplicate"
        else ("a speaker-independent protocol keeps them on one side; a random split does not")
    )
    texts = {
        "across_labels": (
            "error",
            "with DIFFERENT emotion labels: at least one label is wrong, and a model is trained and tested on "
            "contradicting copies.",
            "Listen to each group, keep one file with the right label and drop the others from the manifest.",
        ),
        "across_speakers": (
            "warning",
            "filed under different speakers: speaker-independent splits can put copies on both sides.",
            "Find which speaker each recording belongs to and keep one copy.",
        ),
        "same_speaker": ("info", f"of one speaker and one emotion ({held}).", ""),
    }
    findings = []
    for scope, found in scopes.items():
        level, said, fix = texts[scope]
        examples = tuple(" = ".join(group) for group in found[:MAX_EXAMPLES])
        if kind == "near_duplicate" and scope == "same_speaker":
            level, fix = "warning", "Keep one copy of each (a random or speaker-dependent split leaks them)."
        findings.append(
            Finding(
                f"{kind}_{scope}",
                level,
                f"{len(found)} group(s) of {what} files {said}",
                fix,
                {"groups": len(found), "files": sum(map(len, found))},
                examples,
            )
        )
    return findings


def _text_accuracy(texts: list[str], labels: list[str]) -> float:
    """Cross-validated accuracy of a bag-of-words classifier (word 1-2 grams, linear SVM) on the text; a linear
    SVM because it fits MELD's 13,708 transcripts in a second where a logistic regression took 35 s."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    smallest = min(Counter(labels).values())
    if smallest < 2 or len(set(labels)) < 2:
        return 0.0
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC(C=1.0))
    folds = StratifiedKFold(n_splits=min(5, smallest), shuffle=True, random_state=0)
    predicted = cross_val_predict(model, texts, labels, cv=folds)
    return float(np.mean(predicted == np.asarray(labels)))


def _transcripts(utterances: Sequence[Utterance]) -> list[Finding]:
    labelled = [u for u in utterances if u.emotion and u.text.strip()]
    if len(labelled) < 10:
        return []
    if len(labelled) > _TEXT_SAMPLE:
        chosen = np.random.default_rng(0).choice(len(labelled), _TEXT_SAMPLE, replace=False)
        labelled = [labelled[i] for i in sorted(chosen)]
    texts = [" ".join(u.text.lower().split()) for u in labelled]
    labels = [u.emotion for u in labelled]
    sentences, _, counts = _crosstab(list(zip(texts, labels)))
    repeated = counts.sum(axis=1) > 1
    one_emotion = repeated & (np.count_nonzero(counts, axis=1) == 1)
    majority = max(Counter(labels).values()) / len(labels)
    accuracy = max(_loo_accuracy(counts), _text_accuracy(texts, labels))
    numbers = {
        "utterances_with_text": len(labelled),
        "distinct_texts": len(sentences),
        "repeated_texts": int(repeated.sum()),
        "repeated_texts_one_emotion": int(one_emotion.sum()),
        "text_only_accuracy": round(accuracy, 3),
        "majority_rate": round(majority, 3),
    }
    said = (
        f"{len(sentences)} distinct transcript(s) over {len(labelled)} utterances; a text-only classifier "
        f"(cross-validated) scores {accuracy:.0%} against a majority-class rate of {majority:.0%}"
    )
    if accuracy >= majority + _ABOVE_CHANCE:
        examples = tuple(s for s, flag in zip(sentences, one_emotion) if flag)[:MAX_EXAMPLES]
        return [
            Finding(
                "text_predicts_emotion",
                "warning",
                f"The transcripts predict the emotion: {said}; {int(one_emotion.sum())} repeated sentence(s) are "
                "only ever said in one emotion. A text or fusion model can learn the script instead of the "
                "emotion, and acoustic models can learn the sentence's sound.",
                "Compare against a text-only baseline, split so that no sentence is in train and test (group by "
                "text), or use a corpus whose sentences are read in every emotion.",
                numbers,
                examples,
            )
        ]
    shared = int((repeated & (np.count_nonzero(counts, axis=1) > 1)).sum())
    return [
        Finding(
            "text_barely_predicts_emotion",
            "info",
            f"Transcripts predict the emotion little or no better than chance: {said}; {shared} sentence(s) are "
            "said in several emotions (a corpus that reads the same sentences in every emotion is fine).",
            "",
            numbers,
        )
    ]


def check_metadata(
    utterances: Sequence[Utterance], *, headers: Mapping[str, tuple[int, int]] | None = None
) -> list[Finding]:
    """The checks that need no audio samples (see the module docstring).

    Args:
        headers: {utterance id: (sample rate, channels)} where known (file headers); without it the format
            mixture checks are skipped.
    """
    findings: list[Finding] = []
    speakers, emotions, counts = _table(utterances)
    labelled = sum(1 for u in utterances if u.emotion)
    if not labelled:
        findings.append(Finding("no_labels", "info", "No emotion labels: label checks skipped."))
    elif not speakers:
        findings.append(
            Finding(
                "no_speakers",
                "warning",
                "No utterance has a speaker: no split can keep voices apart, so results are speaker-dependent.",
                "Fill the manifest's speaker column.",
            )
        )
    else:
        findings.append(_confounding(speakers, emotions, counts))
        findings += _imbalance(speakers, emotions, counts)
    findings += _durations(utterances)
    by_hash: dict[str, list[str]] = defaultdict(list)
    for utt in utterances:
        if utt.content_hash:
            by_hash[utt.content_hash].append(utt.id)
    by_id = {u.id: u for u in utterances}
    groups = sorted(sorted(ids) for ids in by_hash.values() if len(ids) > 1)
    findings += _duplicates(groups, by_id, "duplicate")
    if not by_hash and utterances:
        findings.append(Finding("no_content_hash", "info", "No content hashes: duplicates not checked."))
    if headers:
        findings += format_findings(headers)
    findings += _transcripts(utterances)
    return findings


def check_corpus(
    utterances: Sequence[Utterance], *, audio: bool = True, progress: bool = True
) -> CorpusCheck:
    """Every check on ``utterances``: metadata, content hashes (computed where missing) and, with ``audio``, the
    audio pass (each file read once). Without ``audio`` only the file headers are read, where files exist."""
    utterances = fill_content_hashes(list(utterances))
    unreadable: dict[str, str] = {}
    stats: dict[str, AudioStats] = {}
    if audio:
        stats, unreadable = scan_audio(utterances, progress=progress)
        headers = {i: (s.sample_rate, s.channels) for i, s in stats.items()}
        durations = {i: s.duration for i, s in stats.items()}
    else:
        header_info = read_headers(u for u in utterances if Path(u.path).is_file())
        headers = {i: (rate, channels) for i, (rate, channels, _) in header_info.items()}
        durations = {i: seconds for i, (_, _, seconds) in header_info.items()}
    utterances = [
        u.with_(duration=durations[u.id]) if u.duration is None and u.id in durations else u
        for u in utterances
    ]
    findings = check_metadata(utterances, headers=headers)
    if audio:
        findings += audio_findings(stats, unreadable)
        hashes = {u.id: u.content_hash for u in utterances}
        pairs = [(a, b) for a, b, _ in near_duplicates(stats) if not hashes[a] or hashes[a] != hashes[b]]
        by_id = {u.id: u for u in utterances}
        found = _duplicates(link_groups(pairs), by_id, "near_duplicate")
        findings += found or [Finding("near_duplicate", "info", "No near-duplicate recordings found.")]
    speakers, emotions, counts = _table(utterances)
    facts = {
        "utterances": len(utterances),
        "speakers": speakers,
        "emotions": emotions,
        "speaker_emotion": counts.tolist(),
        "durations": [u.duration for u in utterances if u.duration is not None],
        "audio_read": audio,
        "files_read": len(stats),
    }
    return CorpusCheck(findings, facts)


def precheck(utterances: Sequence[Utterance], *, strict: bool = False, where: str = "") -> list[Finding]:
    """The metadata checks run before training and fold making: warnings and errors are logged, or, with
    ``strict``, refused.

    Raises:
        SerkitError: with ``strict``, when any check warns or fails; the message names each finding and how to
            proceed.
    """
    findings = check_metadata(utterances)
    problems = [f for f in findings if f.level != "info"]
    prefix = f"{where}: " if where else ""
    if problems and strict:
        listing = "\n".join(f"  [{f.level}] {f.id}: {f.message}\n    fix: {f.fix}" for f in problems)
        raise SerkitError(
            f"{prefix}the corpus check found {len(problems)} problem(s) and strict: true refuses to go on:\n"
            f"{listing}\nFix the corpus as each finding says (`serkit corpus check` writes the full report), or "
            "set strict: false to go on with these findings logged as warnings."
        )
    for finding in problems:
        logger.warning("%scorpus check [%s] %s: %s", prefix, finding.level, finding.id, finding.message)
    return findings
