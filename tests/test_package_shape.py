"""The package's shape is checked like its behaviour: the layer contract (pyproject.toml, [tool.importlinter]),
ruff's lint and format rules, and the 500-line limit per source file (CONTRIBUTING.md explains all three)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "src" / "serkit"
MAX_LINES = 500


def test_no_import_points_up_a_layer():
    pytest.importorskip("importlinter", reason="import-linter is in the [test] extra")
    # in a subprocess: import-linter in-process switches off the loggers other tests capture
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        "an import points up a layer; move the code down (CONTRIBUTING.md):\n" + result.stdout[-3000:]
    )


def _ruff(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists():
        pytest.skip("ruff is in the [test] extra")
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache", "src", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def test_ruff_check_is_clean():
    result = _ruff("check")
    assert result.returncode == 0, result.stdout[-3000:]


def test_ruff_format_is_applied():
    result = _ruff("format", "--check")
    assert result.returncode == 0, "run `ruff format`:\n" + result.stdout[-3000:]


def test_no_source_file_over_the_line_limit():
    long = {
        str(p.relative_to(SOURCE)): n
        for p in SOURCE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these files (limit {MAX_LINES} lines): {long}"
