"""Model registry: every model is a registered factory, built only through :func:`create_model`.

A model family lives in one file of this package (``baselines.py``, ``glam.py``, ...) whose factories are
decorated with ``@register_model``; the function name is the registry key. Family files are imported automatically
(all but ``base.py``, the model protocol, ``layers.py``, shared blocks, and ``losses.py``, the training losses).

Contract (STYLE.md rule 3): acoustic models take ``features (batch, frames, num_features)`` and integer
``lengths (batch,)`` and return logits ``(batch, num_classes)``; they expose ``num_classes``,
``forward_features`` (-> pooled embedding ``(batch, hidden_dim)``) and ``forward_head``. Every model is a
:class:`~serkit.models.base.SERModel`, whose declared attributes say what else it can be asked (input spec, text
input, closed-form fitting, stage initialisation, ...); :func:`model_class` gives a registered model's class
without building it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable
from typing import Any

from torch import nn

from serkit.core.options import call_with_options
from serkit.core.registry import Registry
from serkit.models.base import InputSpec, SERModel

__all__ = [
    "MODELS",
    "InputSpec",
    "SERModel",
    "count_parameters",
    "create_model",
    "list_models",
    "model_arguments",
    "model_class",
    "register_model",
]

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
register_model = MODELS.register


def list_models() -> list[str]:
    return MODELS.names()


def model_arguments(name: str) -> dict[str, Any]:
    """The keyword arguments of model ``name`` with their defaults (``inspect.Parameter.empty`` if required)."""
    factory = MODELS.get(name)
    return {
        p.name: p.default for p in inspect.signature(factory).parameters.values() if p.kind is p.KEYWORD_ONLY
    }


def model_class(name: str) -> type[SERModel]:
    """The :class:`SERModel` subclass that registered model ``name`` builds (its factory's return annotation),
    for reading declared attributes (``fits_in_closed_form``, ``initial_weight_args``, ...) before building it.

    Raises:
        KeyError: unknown model. TypeError: a factory whose return annotation is not a SERModel subclass.
    """
    factory = MODELS.get(name)
    cls = typing.get_type_hints(factory).get("return")
    if not (isinstance(cls, type) and issubclass(cls, SERModel)):
        raise TypeError(
            f"model {name!r}: its factory {factory.__qualname__} must be annotated to return a "
            f"SERModel subclass (serkit.models.base), got {cls!r}."
        )
    return cls


def create_model(name: str, *, num_classes: int, **overrides: Any) -> nn.Module:
    """Build registered model ``name`` with ``num_classes`` outputs.

    Raises:
        KeyError: unknown model (with close names). ValueError: an argument the model does not take.
    """
    factory = MODELS.get(name)
    model = call_with_options(
        factory, options=overrides, fixed={"num_classes": num_classes}, what=f"argument of model {name!r}"
    )
    if not isinstance(model, SERModel):
        raise TypeError(
            f"model {name!r} built a {type(model).__name__}; registered models are SERModel subclasses "
            "(serkit.models.base)."
        )
    model.model_name = name
    model.model_args = {"num_classes": num_classes, **overrides}
    return model


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _import_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name not in ("base", "layers", "losses"):
            importlib.import_module(f"{__name__}.{module.name}")


_import_all()
