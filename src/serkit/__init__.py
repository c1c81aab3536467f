"""serkit: speech emotion recognition toolkit.

The public API is imported lazily so that ``import serkit`` (and the CLI) start fast.
"""

from __future__ import annotations

from serkit.core.lazy import lazy_names

__version__ = "0.1.0"

_API = {
    "Utterance": "serkit.data.utterance",
    "read_manifest": "serkit.data.utterance",
    "write_manifest": "serkit.data.utterance",
    "list_corpora": "serkit.data.corpora",
    "load_corpus": "serkit.data.corpora",
    "LabelSet": "serkit.data.labels",
    "get_label_set": "serkit.data.labels",
    "apply_label_set": "serkit.data.labels",
    "Fold": "serkit.data.protocols",
    "make_folds": "serkit.data.protocols",
    "list_protocols": "serkit.data.protocols",
    "create_model": "serkit.models",
    "list_models": "serkit.models",
    "run_experiment": "serkit.training.runner",
    "load_experiment": "serkit.recipe",
    "Recognizer": "serkit.inference.recognizer",
    "OnnxRecognizer": "serkit.runtime.recognizer",
}

__all__ = ["__version__", *_API]


__getattr__, __dir__ = lazy_names(__name__, _API, __all__)
