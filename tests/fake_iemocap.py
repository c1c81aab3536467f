"""A small fake IEMOCAP release for end-to-end recipe tests: the real layout, generated audio, optional transcripts.

Each session has one improvised dialog with both speakers (``Ses0<k>F_impro01_<F|M><turn>``), its
``dialog/EmoEvaluation`` file and, with ``sentences``, its ``dialog/transcriptions`` file. The emotion codes cycle
through ``codes`` (shifted by one for the male speaker) so every session holds every code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

#: write(path, session, gender, turn, code): writes one utterance's audio file at ``path``.
AudioWriter = Callable[[Path, int, str, int, str], None]


def fake_iemocap(
    root: Path,
    *,
    sessions: int,
    per_speaker: int,
    codes: Sequence[str],
    write: AudioWriter,
    sentences: Sequence[str] = (),
    ratings: Callable[[int, str, int, str], tuple[float, float, float]] | None = None,
) -> Path:
    """``ratings(session, gender, turn, code)`` -> the (valence, activation, dominance) means written for an
    utterance (default: 2.5, 3.0, 3.5 for all)."""
    for session in range(1, sessions + 1):
        dialog = f"Ses0{session}F_impro01"
        evaluation, transcript = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""], []
        for gender in "FM":
            for turn in range(per_speaker):
                utt = f"{dialog}_{gender}{turn:03d}"
                code = codes[(turn + (gender == "M")) % len(codes)]
                vad = ratings(session, gender, turn, code) if ratings else (2.5, 3.0, 3.5)
                vad_text = ", ".join(f"{value:.4f}" for value in vad)
                evaluation += [f"[{turn:.4f} - {turn + 2:.4f}]\t{utt}\t{code}\t[{vad_text}]", ""]
                if sentences:
                    transcript.append(
                        f"{utt} [{turn:.4f}-{turn + 2:.4f}]: {sentences[(turn + session) % len(sentences)]}"
                    )
                write(
                    root / f"Session{session}/sentences/wav/{dialog}/{utt}.wav", session, gender, turn, code
                )
        for folder, lines in (("EmoEvaluation", evaluation), ("transcriptions", transcript)):
            if lines:
                path = root / f"Session{session}/dialog/{folder}/{dialog}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join(lines) + "\n")
    return root
