"""Start-up pays only for what it uses: building the ``serkit`` parser (``serkit --help``) imports no torch, and
predicting with a CNN checkpoint imports no scikit-learn, matplotlib, transformers or ruamel.yaml (the torch-free
runtime installs none of them).

Each check runs in a fresh interpreter and reads ``sys.modules``; times are benchmarks' business, not tests'.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import soundfile as sf
from test_batching import SETUPS, _checkpoint, _speechlike  # tests/inference/ is on sys.path (rootdir mode)

HEAVY = (
    "torch",
    "sklearn",
    "matplotlib",
    "transformers",
    "huggingface_hub",
    "scipy",
    "pandas",
    "accelerate",
    "ruamel",
)


def _imported(code: str) -> set[str]:
    """Which of :data:`HEAVY` a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_building_the_parser_imports_no_heavy_library():
    assert _imported("import serkit.cli\nserkit.cli.build_parser()") == set()
    for command in (["--help"], ["predict", "--help"], ["serve", "--help"], ["export", "--help"]):
        code = f"from serkit.cli import main\ntry:\n    main({command!r})\nexcept SystemExit:\n    pass"
        assert _imported(code) == set(), command
    assert _imported("import serkit\nserkit.__version__") == set()


def test_the_public_api_still_imports_by_name():
    code = "from serkit import Recognizer, load_corpus, create_model, run_experiment, __all__\nprint(len(__all__))"
    assert "torch" in _imported(code)  # lazily, when a name that needs it is asked for


def test_predicting_with_a_cnn_checkpoint_imports_only_what_it_uses(tmp_path: Path):
    audio = [tmp_path / f"a{i}.wav" for i in range(4)]
    for i, path in enumerate(audio):
        sf.write(path, _speechlike(1.5, i), 16000)
    model, args, inputs = SETUPS["cnn_segments"]
    checkpoint = _checkpoint(tmp_path, audio, model, args, inputs)
    code = (
        "from serkit.inference import Recognizer\n"
        "from serkit.inference.export import prediction_rows\n"
        f"rows = list(prediction_rows(Recognizer.from_checkpoint({str(checkpoint)!r}), {str(tmp_path)!r}))\n"
        "assert len(rows) == 4"
    )
    assert _imported(code) == {"torch"}
    cli = f"from serkit.cli import main\nmain(['predict', {str(checkpoint)!r}, {str(audio[0])!r}])"
    assert _imported(cli) == {"torch"}
