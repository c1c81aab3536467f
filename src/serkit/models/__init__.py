"""Model registry: every model is a registered factory, built only through :func:`create_model`.

A model family lives in one file of this package (``baselines.py``, later ``glam.py``, ...) whose factories are
decorated with ``@register_model``; the function name is the registry key. Files here are imported automatically.

Contract (STYLE.md rule 3): acoustic models take ``features (batch, frames, num_features)`` and integer
``lengths (batch,)`` and return logits ``(batch, num_classes)``; they expose ``num_classes``,
``forward_features`` (-> pooled embedding ``(batch, hidden_dim)``) and ``forward_head``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

from torch import nn

from serkit.core.options import call_with_options
from serkit.core.registry import Registry

__all__ = ["MODELS", "count_parameters", "create_model", "list_models", "model_arguments", "register_model"]

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
register_model = MODELS.register


def list_models() -> list[str]:
    return MODELS.names()


def model_arguments(name: str) -> dict[str, Any]:
    """The keyword arguments of model ``name`` with their defaults (``inspect.Parameter.empty`` if required)."""
    factory = MODELS.get(name)
    return {p.name: p.default for p in inspect.signature(factory).parameters.values() if p.kind is p.KEYWORD_ONLY}


def create_model(name: str, *, num_classes: int, **overrides: Any) -> nn.Module:
    """Build registered model ``name`` with ``num_classes`` outputs.

    Raises:
        KeyError: unknown model (with close names). ValueError: an argument the model does not take.
    """
    factory = MODELS.get(name)
    model = call_with_options(factory, options=overrides, fixed={"num_classes": num_classes},
                              what=f"argument of model {name!r}")
    model.model_name = name
    model.model_args = {"num_classes": num_classes, **overrides}
    return model


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _import_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name != "layers":
            importlib.import_module(f"{__name__}.{module.name}")


_import_all()
