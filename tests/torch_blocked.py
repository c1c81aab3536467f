"""Python code run in a fresh interpreter where importing torch fails: the torch-free paths (the ONNX runtime, the
VAD) must work where torch is not installed."""

from __future__ import annotations

import subprocess
import sys

#: Prefixed to the code: a meta-path finder that refuses torch and its submodules.
BLOCK_TORCH = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'torch' or name.startswith('torch.'):\n"
    "            raise ImportError('torch is blocked in this test')\n"
    "sys.meta_path.insert(0, Block())\n"
)


def run_without_torch(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` after :data:`BLOCK_TORCH` in a new interpreter; its output is captured as text."""
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], capture_output=True, text=True)
