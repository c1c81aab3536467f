"""Split protocols: independence guarantees, determinism, duplicates, the central check, files and the CLI."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from serkit.cli import main
from serkit.core.errors import ManifestError, ProtocolError
from serkit.data.protocols import (
    Fold,
    check_folds,
    describe_folds,
    list_protocols,
    make_folds,
    protocol_info,
    read_folds,
    write_folds,
)
from serkit.data.utterance import Utterance, read_manifest, write_manifest

RAVDESS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ravdess"
needs_ravdess = pytest.mark.skipif(
    not (RAVDESS / "manifest.csv").is_file(), reason=f"real RAVDESS manifest not found at {RAVDESS}"
)
RAVDESS_TWINS = ("03-01-03-01-02-01-07", "03-01-03-01-02-02-07")  # byte-identical files in the distribution

EMOTIONS = ("neutral", "happy", "sad", "angry")
CASE_EMOTIONS = ("neutral", "fearful", "disgust", "angry", "sad", "surprised", "happy")


# --------------------------------------------------------------------------------------------------------------------
# Synthetic corpora
# --------------------------------------------------------------------------------------------------------------------


def make_corpus(num_speakers: int = 12, per_emotion: int = 3) -> list[Utterance]:
    """IEMOCAP-like: two speakers (one woman, one man) per session, four emotions, a few duplicated files.

    Duplicates: spk01 and spk07 share one file (so those two speakers must move together), and two files of
    spk03 are identical (they must stay together in the random split).
    """
    utterances = []
    for number in range(1, num_speakers + 1):
        speaker = f"spk{number:02d}"
        for emotion in EMOTIONS:
            for take in range(per_emotion):
                utterances.append(
                    Utterance(
                        id=f"{speaker}_{emotion}_{take}",
                        path=f"/nowhere/{speaker}_{emotion}_{take}.wav",
                        speaker=speaker,
                        session=f"Ses{(number + 1) // 2:02d}",
                        gender="female" if number % 2 else "male",
                        emotion=emotion,
                        duration=1.0 + take,
                        content_hash=f"h_{speaker}_{emotion}_{take}",
                    )
                )
    duplicated = {
        "spk01_sad_0": "shared_across_speakers",
        "spk07_sad_0": "shared_across_speakers",
        "spk03_happy_0": "shared_within_speaker",
        "spk03_happy_1": "shared_within_speaker",
    }
    return [u.with_(content_hash=duplicated.get(u.id, u.content_hash)) for u in utterances]


def make_case_corpus(num_sessions: int = 40, seed: int = 7) -> list[Utterance]:
    """KEMDy20-like: 40 sessions of two speakers with uneven label counts (neutral dominant)."""
    rng = random.Random(seed)
    utterances = []
    for session in range(1, num_sessions + 1):
        for side in ("F", "M"):
            speaker = f"Sess{session:02d}_{side}"
            counts = {emotion: rng.randint(0, 6) for emotion in CASE_EMOTIONS}
            counts["neutral"] += 20
            for emotion, count in counts.items():
                for take in range(count):
                    utterances.append(
                        Utterance(
                            id=f"{speaker}_{emotion}_{take}",
                            path="/nowhere.wav",
                            speaker=speaker,
                            session=f"Sess{session:02d}",
                            emotion=emotion,
                            gender="female" if side == "F" else "male",
                        )
                    )
    return utterances


def official_corpus() -> list[Utterance]:
    names = {"train": "train", "dev": "dev", "test": "test"}
    return [
        Utterance(
            id=f"{split}_{i}", path="/x.wav", speaker=f"char{i % 3}", emotion="neutral", extra={"split": name}
        )
        for split, name in names.items()
        for i in range(4)
    ]


#: (protocol, options, corpus factory) for every protocol; each must pass the generic checks below.
CASES = {
    "leave_one_speaker_out": ({}, make_corpus),
    "leave_one_session_out": ({}, make_corpus),
    "speaker_kfold": ({"k": "4"}, make_corpus),
    "speaker_groups": ({"group_size": "2"}, make_corpus),
    "case_session_split": ({}, make_case_corpus),
    "paper_random_split_speaker_dependent": ({}, make_corpus),
    "paper_random_split_speaker_dependent(8:1:1)": ({"ratios": "0.8,0.1,0.1"}, make_corpus),
    "official": ({}, official_corpus),
}
RANDOM_PROTOCOLS = [name for name in CASES if not name.startswith("official")]


def _protocol(case: str) -> str:
    return case.split("(")[0]


@pytest.fixture(scope="module")
def corpus() -> list[Utterance]:
    return make_corpus()


def test_every_registered_protocol_is_exercised() -> None:
    covered = {_protocol(case) for case in CASES} | {"predefined"}  # predefined has its own tests below
    assert covered == set(list_protocols())


# --------------------------------------------------------------------------------------------------------------------
# Generic guarantees, checked here independently of check_folds
# --------------------------------------------------------------------------------------------------------------------


def _assert_guarantees(folds: list[Fold], utterances: list[Utterance], protocol: str) -> None:
    info = protocol_info(protocol)
    by_id = {u.id: u for u in utterances}
    for fold in folds:
        parts = {"train": set(fold.train), "val": set(fold.val), "test": set(fold.test)}
        assert fold.train and fold.test
        assert list(fold.train) == sorted(fold.train) and list(fold.test) == sorted(fold.test)
        val_is_test = parts["val"] == parts["test"]
        if val_is_test:
            assert info.selects_on_test, f"{protocol}: validation equals test"
        pairs = [("train", "val"), ("train", "test")] + ([] if val_is_test else [("val", "test")])
        for first, second in pairs:
            a, b = parts[first], parts[second]
            assert not a & b, f"{protocol}/{fold.name}: ids on {first} and {second}"
            for field in ("content_hash", "speaker", "session"):
                if (
                    field == "speaker"
                    and not info.speaker_independent
                    or field == "session"
                    and not info.session_independent
                ):
                    continue
                shared = {getattr(by_id[i], field) for i in a} & {getattr(by_id[i], field) for i in b} - {""}
                assert not shared, f"{protocol}/{fold.name}: {field} {shared} on {first} and {second}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_protocol_guarantees_and_determinism(case: str) -> None:
    options, factory = CASES[case]
    utterances = factory()
    folds = make_folds(utterances, _protocol(case), seed=0, options=options)
    _assert_guarantees(folds, utterances, _protocol(case))
    # Same seed, same folds, whatever the input order.
    assert make_folds(list(reversed(utterances)), _protocol(case), seed=0, options=options) == folds


@pytest.mark.parametrize("case", sorted(RANDOM_PROTOCOLS))
def test_different_seeds_give_different_folds(case: str) -> None:
    options, factory = CASES[case]
    utterances = factory()
    folds = {seed: make_folds(utterances, _protocol(case), seed=seed, options=options) for seed in (0, 1, 2)}
    assert folds[0] != folds[1] or folds[0] != folds[2]


@pytest.mark.parametrize("case", sorted(c for c in CASES if CASES[c][1] is make_corpus))
@pytest.mark.parametrize("seed", [0, 1, 5])
def test_identical_audio_stays_on_one_side(case: str, seed: int) -> None:
    options, factory = CASES[case]
    utterances = factory()
    for fold in make_folds(utterances, _protocol(case), seed=seed, options=options):
        for pair in (("spk01_sad_0", "spk07_sad_0"), ("spk03_happy_0", "spk03_happy_1")):
            sides = {part for part in ("train", "val", "test") for i in pair if i in getattr(fold, part)}
            if fold.selection == "test":
                sides -= {"val"}
            assert len(sides) == 1, f"{case}/{fold.name}: {pair} split over {sides}"


@pytest.mark.parametrize(
    "case", ["leave_one_speaker_out", "leave_one_session_out", "speaker_kfold", "speaker_groups"]
)
def test_cross_validation_tests_every_utterance_once(case: str, corpus: list[Utterance]) -> None:
    options, _ = CASES[case]
    folds = make_folds(corpus, _protocol(case), seed=3, options=options)
    tested = Counter(i for fold in folds for i in fold.test)
    assert set(tested) == {u.id for u in corpus}
    assert set(tested.values()) == {1}


# --------------------------------------------------------------------------------------------------------------------
# Protocol specifics
# --------------------------------------------------------------------------------------------------------------------


def test_leave_one_speaker_out_merges_speakers_sharing_a_file(corpus: list[Utterance]) -> None:
    folds = make_folds(corpus, "leave_one_speaker_out", seed=0, options={"val_speakers": "2"})
    assert len(folds) == 11  # 12 speakers, spk01 and spk07 joined by their identical file
    assert ("spk01", "spk07") in [f.held_out for f in folds]
    by_id = {u.id: u for u in corpus}
    for fold in folds:
        val_speakers = {by_id[i].speaker for i in fold.val}
        assert len(val_speakers) >= 2
        if val_speakers != {"spk01", "spk07"}:  # two separate speakers are one woman and one man
            assert len(val_speakers) == 2
            assert {by_id[i].gender for i in fold.val} == {"female", "male"}


def test_leave_one_session_out_holds_out_sessions(corpus: list[Utterance]) -> None:
    folds = make_folds(corpus, "leave_one_session_out", seed=0)
    # Ses01 (spk01, spk02) and Ses04 (spk07, spk08) are linked by the file shared by spk01 and spk07.
    assert [f.held_out for f in folds] == [("Ses01", "Ses04"), ("Ses02",), ("Ses03",), ("Ses05",), ("Ses06",)]
    by_id = {u.id: u for u in corpus}
    assert all(len({by_id[i].session for i in f.val}) == 1 for f in folds)
    no_val = make_folds(corpus, "leave_one_session_out", seed=0, options={"val_sessions": "0"})
    assert all(f.val == () and f.selection == "none" for f in no_val)


def test_speaker_kfold_is_stratified(corpus: list[Utterance]) -> None:
    folds = make_folds(corpus, "speaker_kfold", seed=0, options={"k": "3", "val_speakers": "0"})
    assert [f.name for f in folds] == ["fold1", "fold2", "fold3"]
    by_id = {u.id: u for u in corpus}
    for fold in folds:
        counts = Counter(by_id[i].emotion for i in fold.test)
        assert set(counts) == set(EMOTIONS)


def test_speaker_groups_follow_natural_speaker_order() -> None:
    utterances = [
        Utterance(
            id=f"a{n}_{e}",
            path="/x.wav",
            speaker=f"Actor_{n}",
            emotion=e,
            gender="male" if n % 2 else "female",
        )
        for n in range(1, 13)
        for e in EMOTIONS
    ]
    folds = make_folds(utterances, "speaker_groups", seed=0, options={"group_size": "4"})
    assert [f.held_out for f in folds] == [
        ("Actor_1", "Actor_2", "Actor_3", "Actor_4"),
        ("Actor_5", "Actor_6", "Actor_7", "Actor_8"),
        ("Actor_9", "Actor_10", "Actor_11", "Actor_12"),
    ]
    assert all(len(f.val) == 4 * len(EMOTIONS) for f in folds)  # default: group_size validation speakers


def test_speaker_groups_balance_gender_like_jtes() -> None:
    speakers = [f"f{n:02d}" for n in range(1, 9)] + [f"m{n:02d}" for n in range(1, 9)]
    utterances = [
        Utterance(
            id=f"{s}_{e}", path="/x.wav", speaker=s, emotion=e, gender="female" if s[0] == "f" else "male"
        )
        for s in speakers
        for e in EMOTIONS
    ]
    folds = make_folds(
        utterances, "speaker_groups", seed=0, options={"group_size": "4", "balance_gender": "true"}
    )
    assert folds[0].held_out == ("f01", "f02", "m01", "m02")
    assert folds[3].held_out == ("f07", "f08", "m07", "m08")
    with pytest.raises(ProtocolError, match="balance_gender"):
        make_folds(utterances[:-4], "speaker_groups", seed=0, options={"balance_gender": "true"})


def _original_case_split(utterances: list[Utterance], seed: int) -> set[str]:
    """CASE's src/split.py loop, transcribed (pandas counts replaced by per-session counts): its train sessions."""
    rng = random.Random(seed)
    labels = ("fearful", "disgust", "angry", "sad", "surprised", "happy")
    per_session = Counter((u.session, u.emotion) for u in utterances)
    totals = Counter(u.emotion for u in utterances)
    upper_ratio, lower_ratio, idx = 0.801, 0.799, 0
    sessions = sorted({u.session for u in utterances})
    while True:
        session_list = list(sessions)
        rng.shuffle(session_list)
        train_session = session_list[:32]
        ratios = [sum(per_session[s, label] for s in train_session) / totals[label] for label in labels]
        if all(upper_ratio >= r >= lower_ratio for r in ratios):
            return set(train_session)
        idx += 1
        if idx % 100 == 0:
            upper_ratio += 0.001
            lower_ratio -= 0.001


def test_case_session_split_reproduces_the_original_balance() -> None:
    utterances = make_case_corpus()
    by_id = {u.id: u for u in utterances}
    (fold,) = make_folds(utterances, "case_session_split", seed=0, options={"val_sessions": "0"})
    train_sessions = {by_id[i].session for i in fold.train}
    assert len(train_sessions) == 32 and len(fold.held_out) == 8
    assert train_sessions == _original_case_split(utterances, seed=0)
    assert fold.val == () and fold.selection == "none"
    assert "no validation" in describe_folds([fold])
    totals = Counter(u.emotion for u in utterances)
    in_train = Counter(by_id[i].emotion for i in fold.train)
    for label in ("fearful", "disgust", "angry", "sad", "surprised", "happy"):
        assert abs(in_train[label] / totals[label] - 0.8) <= 0.02
    # A plain shuffle is far less balanced on this corpus: the search is doing the work.
    order = sorted({u.session for u in utterances})
    random.Random(0).shuffle(order)
    naive = Counter(u.emotion for u in utterances if u.session in set(order[:32]))
    assert max(abs(naive[label] / totals[label] - 0.8) for label in ("fearful", "sad", "happy")) > 0.02


def test_case_session_split_validation_comes_from_the_train_sessions() -> None:
    utterances = make_case_corpus()
    by_id = {u.id: u for u in utterances}
    (original,) = make_folds(utterances, "case_session_split", seed=0, options={"val_sessions": "0"})
    (fold,) = make_folds(utterances, "case_session_split", seed=0)
    assert fold.test == original.test
    assert set(fold.train) | set(fold.val) == set(original.train)
    assert len({by_id[i].session for i in fold.val}) == 4
    with pytest.raises(ProtocolError, match="'fear'"):
        make_folds(utterances, "case_session_split", seed=0, options={"balanced_labels": "fear,sad"})


def test_random_split_selects_on_test_only_without_a_validation_ratio(corpus: list[Utterance]) -> None:
    info = protocol_info("paper_random_split_speaker_dependent")
    assert info.selects_on_test and not info.speaker_independent
    (fold,) = make_folds(corpus, "paper_random_split_speaker_dependent", seed=0)
    assert fold.val == fold.test and fold.selection == "test"
    assert len(fold.test) == pytest.approx(0.2 * len(corpus), abs=2)
    assert "selected on the test data" in describe_folds([fold])
    (fold,) = make_folds(
        corpus, "paper_random_split_speaker_dependent", seed=0, options={"ratios": "0.8,0.1,0.1"}
    )
    assert fold.selection == "validation" and not set(fold.val) & set(fold.test)
    assert len(fold.val) == pytest.approx(0.1 * len(corpus), abs=2)
    with pytest.raises(ValueError, match="ratios"):
        make_folds(corpus, "paper_random_split_speaker_dependent", seed=0, options={"ratios": "0.8,0.3"})


def test_official_split_maps_split_names() -> None:
    (fold,) = make_folds(official_corpus(), "official", seed=0)
    assert fold.train == tuple(f"train_{i}" for i in range(4))
    assert fold.val == tuple(f"dev_{i}" for i in range(4))
    assert fold.test == tuple(f"test_{i}" for i in range(4))
    missing = [*official_corpus(), Utterance(id="lost", path="/x.wav", speaker="c")]
    with pytest.raises(ProtocolError, match="'lost'"):
        make_folds(missing, "official", seed=0)
    odd = [*official_corpus(), Utterance(id="odd", path="/x.wav", extra={"split": "holdout"})]
    with pytest.raises(ProtocolError, match="holdout"):
        make_folds(odd, "official", seed=0)


def _write_list(path: Path, ids: list[str]) -> str:
    path.write_text("# utterance ids\n" + "\n".join(ids) + "\n", encoding="utf-8")
    return str(path)


def test_predefined_lists(tmp_path: Path, corpus: list[Utterance]) -> None:
    def ids(*speakers: str) -> list[str]:
        return [u.id for u in corpus if u.speaker in speakers]

    options = {
        "train": _write_list(tmp_path / "train.txt", ids("spk02", "spk03", "spk04")),
        "val": _write_list(tmp_path / "val.txt", ids("spk05")),
        "test": _write_list(tmp_path / "test.txt", ids("spk06")),
    }
    (fold,) = make_folds(corpus, "predefined", seed=0, options=options)
    assert fold.val == tuple(sorted(ids("spk05"))) and len(fold.train) == 3 * 12

    _write_list(tmp_path / "test.txt", ids("spk06") + ["ghost_1", "ghost_2"])
    with pytest.raises(ProtocolError, match=r"test\.txt.*'ghost_1'"):
        make_folds(corpus, "predefined", seed=0, options=options)

    options["train"] = _write_list(tmp_path / "train.txt", ids("spk02", "spk03") + ids("spk04")[:6])
    _write_list(tmp_path / "test.txt", ids("spk04")[6:])  # spk04 on both sides: speaker-dependent
    with pytest.raises(ProtocolError, match="speaker"):
        make_folds(corpus, "predefined", seed=0, options=options)


def test_predefined_reads_a_folds_file(tmp_path: Path, corpus: list[Utterance]) -> None:
    folds = make_folds(corpus, "speaker_kfold", seed=4, options={"k": "3"})
    path = write_folds(folds, tmp_path / "folds.json", protocol="speaker_kfold", seed=4)
    assert make_folds(corpus, "predefined", seed=0, options={"folds_file": str(path)}) == folds
    with pytest.raises(ProtocolError, match="not in the manifest"):
        make_folds(corpus[12:], "predefined", seed=0, options={"folds_file": str(path)})


# --------------------------------------------------------------------------------------------------------------------
# The central check, names and options
# --------------------------------------------------------------------------------------------------------------------


def _fold(train: list[str], val: list[str], test: list[str]) -> Fold:
    return Fold("bad", tuple(train), tuple(val), tuple(test))


@pytest.mark.parametrize(
    ("fold", "message"),
    [
        (_fold(["spk01_sad_1", "spk02_sad_0"], [], ["spk02_sad_1"]), "speaker"),
        (_fold(["spk02_sad_0"], [], ["spk02_sad_0", "spk04_sad_0"]), "utterance id"),
        (_fold(["spk03_happy_0"], [], ["spk03_happy_1"]), "identical audio"),
        (_fold(["spk02_sad_0"], ["spk04_sad_0"], ["spk04_sad_0"]), "validation equals test"),
        (_fold(["spk02_sad_0"], ["spk04_sad_0"], []), "test part is empty"),
        (_fold(["spk02_sad_0"], [], ["no_such_id"]), "not in the manifest"),
    ],
)
def test_check_folds_catches_bad_folds(fold: Fold, message: str, corpus: list[Utterance]) -> None:
    with pytest.raises(ProtocolError, match=message):
        check_folds([fold], corpus, speaker_independent=True)


def test_check_folds_session_and_permissions(corpus: list[Utterance]) -> None:
    same_session = _fold(["spk01_sad_1"], [], ["spk02_sad_1"])  # spk01 and spk02 are both Ses01
    check_folds([same_session], corpus, speaker_independent=True)
    with pytest.raises(ProtocolError, match="session"):
        check_folds([same_session], corpus, session_independent=True)
    shared_speaker = _fold(["spk02_sad_0"], [], ["spk02_sad_1"])
    check_folds([shared_speaker], corpus, speaker_independent=False)
    select_on_test = _fold(["spk02_sad_0"], ["spk04_sad_0"], ["spk04_sad_0"])
    check_folds([select_on_test], corpus, selects_on_test=True)
    partial = _fold(["spk02_sad_0"], ["spk04_sad_0"], ["spk04_sad_0", "spk04_sad_1"])
    with pytest.raises(ProtocolError, match="utterance id"):
        check_folds([partial], corpus, selects_on_test=True)


def test_make_folds_runs_the_check(monkeypatch: pytest.MonkeyPatch, corpus: list[Utterance]) -> None:
    """A protocol that returns a leaky fold is stopped by make_folds."""
    from serkit.data import protocols

    def leaky(utterances: list[Utterance], *, seed: int) -> list[Fold]:
        return [_fold(["spk01_sad_1"], [], ["spk01_sad_2"])]

    monkeypatch.setitem(protocols.PROTOCOLS._entries, "speaker_kfold", leaky)
    with pytest.raises(ProtocolError, match="speaker"):
        make_folds(corpus, "speaker_kfold", seed=0)


def test_unknown_names_and_options(corpus: list[Utterance]) -> None:
    with pytest.raises(KeyError, match="speaker_kfold"):
        make_folds(corpus, "speaker_kfol", seed=0)
    with pytest.raises(KeyError, match="leave_one_speaker_out"):
        protocol_info("leave_one_speaker")
    with pytest.raises(ValueError, match="val_speakers"):
        make_folds(corpus, "speaker_kfold", seed=0, options={"val_speaker": "1"})
    with pytest.raises(ValueError, match="--seed"):
        make_folds(corpus, "speaker_kfold", seed=0, options={"seed": "1"})
    with pytest.raises(ValueError, match="seed"):
        make_folds(corpus, "speaker_kfold", seed=None)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="no speaker"):
        make_folds([*corpus, Utterance(id="anon", path="/x.wav")], "speaker_kfold", seed=0)
    with pytest.raises(ProtocolError, match="k=20"):
        make_folds(corpus, "speaker_kfold", seed=0, options={"k": "20"})
    with pytest.raises(ProtocolError, match="val_speakers=11"):
        make_folds(corpus, "leave_one_speaker_out", seed=0, options={"val_speakers": "11"})


# --------------------------------------------------------------------------------------------------------------------
# Files, descriptions, CLI
# --------------------------------------------------------------------------------------------------------------------


def test_fold_dict_round_trip() -> None:
    fold = Fold("f", ("a", "b"), ("c",), ("d",), ("spk",))
    assert Fold.from_dict(fold.to_dict()) == fold
    with pytest.raises(ValueError, match="test"):
        Fold.from_dict({"name": "f", "train": ["a"]})
    with pytest.raises(ValueError, match="'val'"):
        Fold.from_dict({"name": "f", "train": ["a"], "test": ["b"], "val": "c"})


def test_write_and_read_folds(tmp_path: Path, corpus: list[Utterance]) -> None:
    manifest = write_manifest(corpus, tmp_path / "manifest.csv")
    folds = make_folds(corpus, "paper_random_split_speaker_dependent", seed=2)
    path = write_folds(
        folds,
        tmp_path / "out" / "folds.json",
        protocol="paper_random_split_speaker_dependent",
        seed=2,
        manifest=manifest,
        options={"ratios": (0.8, 0.0, 0.2)},
    )
    document = json.loads(path.read_text())
    assert document["seed"] == 2 and document["protocol"] == "paper_random_split_speaker_dependent"
    assert document["info"]["selects_on_test"] is True and document["info"]["speaker_independent"] is False
    assert document["options"] == {"ratios": [0.8, 0.0, 0.2]} and len(document["manifest_sha1"]) == 40
    assert document["folds"][0]["selection"] == "test"
    assert document["folds"][0]["counts"]["test"] == len(folds[0].test)
    assert read_folds(path) == folds


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"folds": []}', "non-empty 'folds'"),
        ('{"folds": [{"name": "x", "train": ["a"]}]}', "fold 1"),
        ('{"folds": ["x"]}', "JSON object"),
    ],
)
def test_read_folds_rejects_malformed_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "folds.json"
    path.write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_folds(path)
    with pytest.raises(ManifestError, match="not found"):
        read_folds(tmp_path / "missing.json")


def test_describe_folds_lists_counts(corpus: list[Utterance]) -> None:
    folds = make_folds(corpus, "speaker_groups", seed=0, options={"group_size": "3"})
    text = describe_folds(folds, corpus)
    assert text.splitlines()[0].split("|")[1].strip() == "fold"
    assert len(text.splitlines()) == 2 + len(folds)
    assert "(3 spk)" in text or "(4 spk)" in text


def test_cli_writes_a_readable_folds_file(
    tmp_path: Path, corpus: list[Utterance], capsys: pytest.CaptureFixture
) -> None:
    manifest = write_manifest(corpus, tmp_path / "manifest.csv")
    output = tmp_path / "folds.json"
    code = main(
        [
            "corpus",
            "folds",
            str(manifest),
            "--protocol",
            "speaker_groups",
            "--opt",
            "group_size=3",
            "-o",
            str(output),
        ]
    )
    assert code == 0
    # Four groups of three speakers; group1 (spk01) and group3 (spk07) share a file, so they are one fold.
    assert [f.name for f in read_folds(output)] == ["group1+group3", "group2", "group4"]
    assert "group1+group3" in capsys.readouterr().out
    code = main(["corpus", "folds", str(manifest), "--protocol", "speaker_group", "-o", str(output)])
    assert code == 2 and "speaker_groups" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------------
# Real RAVDESS (read in place, never copied)
# --------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ravdess() -> list[Utterance]:
    if not (RAVDESS / "manifest.csv").is_file():
        pytest.skip(f"real RAVDESS manifest not found at {RAVDESS}")
    from serkit.data.corpora import fill_content_hashes

    return fill_content_hashes(read_manifest(RAVDESS / "manifest.csv"))


@pytest.mark.realdata
@needs_ravdess
def test_ravdess_twins_share_a_hash(ravdess: list[Utterance]) -> None:
    by_id = {u.id: u for u in ravdess}
    assert by_id[RAVDESS_TWINS[0]].content_hash == by_id[RAVDESS_TWINS[1]].content_hash
    assert len({u.content_hash for u in ravdess}) == len(ravdess) - 1


@pytest.mark.realdata
@needs_ravdess
@pytest.mark.parametrize("ratios", ["0.8,0,0.2", "0.8,0.1,0.1"])
def test_ravdess_random_split_keeps_twins_together(ravdess: list[Utterance], ratios: str) -> None:
    sides = Counter()
    for seed in range(30):
        (fold,) = make_folds(
            ravdess, "paper_random_split_speaker_dependent", seed=seed, options={"ratios": ratios}
        )
        where = [
            next(p for p in ("train", "val", "test") if twin in getattr(fold, p)) for twin in RAVDESS_TWINS
        ]
        assert where[0] == where[1] or {*where} == {"val", "test"} and fold.selection == "test", (seed, where)
        assert all(twin in fold.test for twin in RAVDESS_TWINS) or all(
            twin not in fold.test for twin in RAVDESS_TWINS
        )
        sides["test" if RAVDESS_TWINS[0] in fold.test else "other"] += 1
    assert sides["test"] > 0  # the pair did land in the held-out part for some seeds


@pytest.mark.realdata
@needs_ravdess
def test_ravdess_speaker_protocols(ravdess: list[Utterance]) -> None:
    groups = make_folds(ravdess, "speaker_groups", seed=0)
    assert groups[0].held_out == ("Actor_01", "Actor_02", "Actor_03", "Actor_04")
    assert len(groups) == 6 and all(len(f.test) == 240 and len(f.val) == 240 for f in groups)
    _assert_guarantees(groups, ravdess, "speaker_groups")
    loso = make_folds(ravdess, "leave_one_speaker_out", seed=0)
    assert len(loso) == 24
    _assert_guarantees(loso, ravdess, "leave_one_speaker_out")
    kfold = make_folds(ravdess, "speaker_kfold", seed=0)
    _assert_guarantees(kfold, ravdess, "speaker_kfold")


@pytest.mark.realdata
@needs_ravdess
def test_cli_folds_on_the_real_manifest(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "folds.json"
    assert (
        main(
            [
                "corpus",
                "folds",
                str(RAVDESS / "manifest.csv"),
                "--protocol",
                "speaker_groups",
                "-o",
                str(output),
            ]
        )
        == 0
    )
    folds = read_folds(output)
    assert [f.name for f in folds] == [f"group{i}" for i in range(1, 7)]
    document = json.loads(output.read_text())
    assert document["protocol"] == "speaker_groups" and document["info"]["speaker_independent"] is True
    assert "Actor_01" in capsys.readouterr().out
