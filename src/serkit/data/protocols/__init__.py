"""Split protocols: turn a list of utterances into train / validation / test folds.

A protocol is a registered function ``def <name>(utterances, *, seed, <options>) -> list[Fold]``. Callers go
through :func:`make_folds`, which looks the protocol up, converts ``--opt key=value`` strings by the option
annotations and then checks every fold with :func:`check_folds`:

* no utterance id in two parts;
* no speaker on two parts (and, for session protocols, no session on two parts) unless the protocol is registered
  as speaker-dependent;
* byte-identical audio (utterances sharing a non-empty ``content_hash``) never on two parts;
* validation never equal to test unless the protocol is registered as one that may select on test;
* train and test never empty (validation may be empty: then nothing is selected on held-out data).

Grouping. Before splitting, utterances are joined into groups with a small union-find: two utterances are in one
group when they share the protocol's unit (speaker or session) *or* their content hash. So the two byte-identical
RAVDESS files stay together even in the random split, and a file copied under two speakers merges those speakers
into one group that is held out as a whole.

Protocols (``serkit corpus folds --protocol NAME --opt key=value``):

=========================================== ======================================================================
``leave_one_speaker_out``                   one fold per speaker as test; ``val_speakers`` other speakers as val
``leave_one_session_out``                   one fold per session as test (IEMOCAP LOSO); ``val_sessions`` as val
``speaker_kfold``                           k folds stratified by emotion, grouped by speaker (StratifiedGroupKFold)
``speaker_groups``                          fixed consecutive speaker groups as test (DCNN RAVDESS cv4..cv24, JTES)
``official``                                the corpus's own split from ``extra["split"]`` (MELD, MOSEI)
``predefined``                              id lists from files, or a folds JSON written by :func:`write_folds`
``case_session_split``                      CASE's label-balanced 32/8 session split of KEMDy20
``paper_random_split_speaker_dependent``    GLAM's random utterance split; by default selects on the test part
=========================================== ======================================================================

Example:
    >>> from serkit.data.utterance import Utterance
    >>> utts = [Utterance(id=f"s{s}_{i}", path="x.wav", speaker=f"s{s}", emotion="sad") for s in range(4)
    ...         for i in range(2)]
    >>> [f.held_out for f in make_folds(utts, "leave_one_speaker_out", seed=0)]
    [('s0',), ('s1',), ('s2',), ('s3',)]

Modules: ``base`` (Fold, the registry, make_folds, check_folds), ``grouping`` (the union-find and the folds built
from groups), ``speaker``, ``session`` and ``paper`` (the protocols, each registered by its decorator), ``files``
(folds JSON and the summary table). A new protocol is a ``@register_protocol`` function in one of the protocol
modules (or a new one imported below).
"""

from __future__ import annotations

from serkit.data.protocols.base import (
    PROTOCOLS,
    Fold,
    ProtocolInfo,
    check_folds,
    list_protocols,
    make_folds,
    protocol_info,
    register_protocol,
)
from serkit.data.protocols.files import describe_folds, read_folds, write_folds

# The protocol modules fill PROTOCOLS with their @register_protocol functions when imported: import them all.
from serkit.data.protocols.paper import official, paper_random_split_speaker_dependent, predefined
from serkit.data.protocols.session import case_session_split, leave_one_session_out
from serkit.data.protocols.speaker import (
    AUTO_PROTOCOL,
    FEW_SPEAKERS,
    KFOLD_FROM_SPEAKERS,
    choose_protocol,
    leave_one_speaker_out,
    speaker_groups,
    speaker_kfold,
)

__all__ = [
    "AUTO_PROTOCOL",
    "FEW_SPEAKERS",
    "KFOLD_FROM_SPEAKERS",
    "PROTOCOLS",
    "Fold",
    "ProtocolInfo",
    "case_session_split",
    "check_folds",
    "choose_protocol",
    "describe_folds",
    "leave_one_session_out",
    "leave_one_speaker_out",
    "list_protocols",
    "make_folds",
    "official",
    "paper_random_split_speaker_dependent",
    "predefined",
    "protocol_info",
    "read_folds",
    "register_protocol",
    "speaker_groups",
    "speaker_kfold",
    "write_folds",
]
