"""``serkit serve``: a trained model behind an HTTP API and a one-page web interface.

:func:`~serkit.serve.app.create_app` wraps a loaded recogniser (torch :class:`serkit.inference.Recognizer` or the
torch-free :class:`serkit.runtime.OnnxRecognizer`) in a FastAPI app; :mod:`~serkit.serve.page` is its page.
Install what it needs with ``pip install "serkit[serve]"`` (fastapi, uvicorn, python-multipart, imported only when
an app is created). Nothing here imports torch (a contract in ``pyproject.toml``).
"""

from serkit.serve.app import create_app, predict_file

__all__ = ["create_app", "predict_file"]
