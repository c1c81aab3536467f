"""Process-wide torch settings, set once by the entry point that owns the process, never by library code.

``serkit train`` / :func:`serkit.run_experiment`, ``serkit predict``, ``serkit hubert pretrain`` and ``serkit hubert
chain`` call :func:`configure_torch` before any work; a user's own script that builds a
:class:`serkit.inference.Recognizer` may call it too (predictions are the same, only faster).
"""

from __future__ import annotations

__all__ = ["configure_torch"]


def configure_torch(threads: int = 0, *, flush_denormal: bool = True) -> None:
    """Set torch's CPU threads and denormal flushing for this process.

    Args:
        threads: intra-op CPU threads; 0 keeps torch's default (all cores). Tests and CI pin 1.
        flush_denormal: flush denormal floats to zero. Attention softmaxes without temperature produce denormals,
            which make CPU matrix products several times slower; flushing changes only values below ~1e-38.
    """
    import torch  # here, so that importing core stays free of torch

    if threads > 0:
        torch.set_num_threads(threads)
    if flush_denormal:
        torch.set_flush_denormal(True)
