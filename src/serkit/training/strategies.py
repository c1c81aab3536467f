"""How a model is trained, beside the engine: gradient descent, MAT's plateau-reload, or one closed-form fit.

A strategy trains one (fold, seed): the selected weights end up in ``run_dir/best.pt`` (with the checkpoint
metadata) and it returns the history. It is chosen once per stage by :func:`choose_strategy`, from what the model
class declares (:attr:`~serkit.models.base.SERModel.fits_in_closed_form`) and the training config
(``train.scheduler: plateau_reload``), so neither the runner nor the loop branches on either:

================== ============================================================================================
``GradientDescent`` the engine loop (:func:`~serkit.training.engine.train_one`); an epoch without improvement
                    counts towards ``train.early_stopping``
``PlateauReload``   the same loop; an epoch without improvement first reloads the best weights and optimizer
                    state and multiplies the rate by ``train.gamma`` (at most ``train.plateau_decays`` times),
                    then counts towards early stopping (MAT). The rate is constant between reloads.
``ClosedForm``      :meth:`~serkit.models.base.SERModel.fit_chunks` once (e.g. eGeMAPS + linear SVM, fitted by
                    scikit-learn), choosing its own hyperparameters on the selection part; writes ``fit.json``;
                    its one history record has the fit's wall time as ``train_seconds`` (the selection inside
                    the fit included; ``eval_seconds`` is 0)
================== ============================================================================================
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import torch

from serkit.config import TrainConfig
from serkit.core.fileio import atomic_write_json
from serkit.models.base import SERModel
from serkit.training.checkpoint import load_checkpoint, save_checkpoint
from serkit.training.data import ChunkSet
from serkit.training.engine import TrainOutcome, timing_record, train_one

__all__ = [
    "ClosedForm",
    "FoldSets",
    "GradientDescent",
    "PlateauReload",
    "Strategy",
    "Trained",
    "choose_strategy",
]


@dataclass(frozen=True)
class FoldSets:
    """The chunks of one fold: ``train``, ``val`` (may have no utterance) and ``test``."""

    train: ChunkSet
    val: ChunkSet
    test: ChunkSet


@dataclass
class Trained:
    """What a strategy returns: the history and whether a validation part chose the weights."""

    outcome: TrainOutcome
    used_validation: bool


class Strategy:
    """Trains a model on one fold; subclasses implement :meth:`train`."""

    #: Short name, for logs and tests.
    name: ClassVar[str] = ""

    def train(
        self,
        model: SERModel,
        sets: FoldSets,
        *,
        config: TrainConfig,
        seed: int,
        run_dir: Path,
        label_names: list[str],
        checkpoint_meta: dict[str, Any],
    ) -> Trained:
        """Train ``model`` and write ``run_dir/best.pt`` (``checkpoint_meta`` + ``epoch`` + ``state_dict``)."""
        raise NotImplementedError


class GradientDescent(Strategy):
    """The engine loop; a plateau epoch counts towards early stopping."""

    name = "gradient_descent"
    #: best.pt without the optimizer state (nothing reloads it).
    keeps_optimizer: ClassVar[bool] = False

    def after_plateau(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, best_path: Path, decays: int
    ) -> int | None:
        """The engine's :class:`~serkit.training.engine.PlateauRule`: count the epoch towards early stopping."""
        return None

    def engine_config(self, config: TrainConfig) -> TrainConfig:
        """The training config as the loop runs it."""
        return config

    def train(
        self,
        model: SERModel,
        sets: FoldSets,
        *,
        config: TrainConfig,
        seed: int,
        run_dir: Path,
        label_names: list[str],
        checkpoint_meta: dict[str, Any],
    ) -> Trained:
        outcome = train_one(
            model,
            sets.train,
            sets.val if sets.val.num_utterances else None,
            config=self.engine_config(config),
            seed=seed,
            run_dir=run_dir,
            label_names=label_names,
            checkpoint_meta=checkpoint_meta,
            test_set=sets.test if config.select_on == "test" else None,
            plateau=self,
        )
        return Trained(outcome, used_validation=True)


class PlateauReload(GradientDescent):
    """MAT's policy: on a plateau reload the best weights and optimizer state, then decay the rate.

    Args:
        lr: the initial rate; after the k-th reload the rate is ``lr * gamma ** k``.
        gamma: decay factor per reload.
        max_decays: reloads at most; later plateau epochs count towards early stopping.
    """

    name = "plateau_reload"
    keeps_optimizer = True  # best.pt holds the optimizer state that a reload restores

    def __init__(self, *, lr: float, gamma: float, max_decays: int) -> None:
        self.lr, self.gamma, self.max_decays = lr, gamma, max_decays

    def after_plateau(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, best_path: Path, decays: int
    ) -> int | None:
        if decays >= self.max_decays:
            return None
        decays += 1
        best = load_checkpoint(best_path)
        model.load_state_dict(best["state_dict"])
        optimizer.load_state_dict(best["optimizer"])
        for group in optimizer.param_groups:
            group["lr"] = self.lr * self.gamma**decays
        return decays

    def engine_config(self, config: TrainConfig) -> TrainConfig:
        return replace(config, scheduler="none")  # the rate changes only at reloads


class ClosedForm(Strategy):
    """One :meth:`~serkit.models.base.SERModel.fit_chunks` call; the model picks its hyperparameters (an SVM's C)
    on the selection part (validation, or test under ``select_on: test``), or uses fixed ones without it."""

    name = "closed_form"

    def train(
        self,
        model: SERModel,
        sets: FoldSets,
        *,
        config: TrainConfig,
        seed: int,
        run_dir: Path,
        label_names: list[str],
        checkpoint_meta: dict[str, Any],
    ) -> Trained:
        self._check_task(model, sets.train.task.kind)
        selection_set = {
            "validation": sets.val if sets.val.num_utterances else None,
            "test": sets.test,
            "last": None,
        }[config.select_on]
        started = time.monotonic()
        fit_info = model.fit_chunks(sets.train, selection_set, seed=seed)
        seconds = time.monotonic() - started
        save_checkpoint(  # model_args as after the fit, which may size buffers (an RBF SVM's support vectors)
            run_dir / "best.pt",
            {**checkpoint_meta, "model_args": model.model_args, "epoch": 1, "state_dict": model.state_dict()},
        )
        atomic_write_json(run_dir / "fit.json", fit_info)
        record = {"epoch": 1, **{k: v for k, v in fit_info.items() if isinstance(v, (int, float))}}
        outcome = TrainOutcome([{**record, **timing_record(seconds, 0.0, len(sets.train))}], best_epoch=1)
        return Trained(outcome, used_validation=selection_set is not None)

    @staticmethod
    def _check_task(model: SERModel, kind: str) -> None:
        """Refuse a task the closed-form model does not fit: classes for classifiers, dimensions for regressors."""
        from serkit.models import list_models, model_class  # the registry imports every family

        closed_form = [name for name in list_models() if model_class(name).fits_in_closed_form]
        regressors = ", ".join(name for name in closed_form if model_class(name).predicts_dimensions)
        classifiers = ", ".join(name for name in closed_form if not model_class(name).predicts_dimensions)
        name = model.model_name or type(model).__name__
        if kind == "multitask":
            raise ValueError(
                f"task=multitask: the closed-form (scikit-learn) model {name} fits either classes ({classifiers}) or "
                f"dimensions ({regressors}), not both; train multitask with a network (e.g. model glam) or use "
                "task: classification or task: regression."
            )
        if kind == "regression" and not model.predicts_dimensions:
            raise ValueError(
                f"task=regression: the closed-form (scikit-learn) model {name} classifies; for emotion dimensions "
                f"use a closed-form regressor ({regressors}) on the same features, or a network (e.g. model "
                "cnn_small, glam)."
            )
        if kind == "classification" and model.predicts_dimensions:
            raise ValueError(
                f"task=classification: the closed-form (scikit-learn) model {name} regresses emotion dimensions; "
                f"set task: regression with targets (e.g. [arousal, valence, dominance]), or classify with "
                f"{classifiers}."
            )


def choose_strategy(model_class: type[SERModel], config: TrainConfig) -> Strategy:
    """The strategy for a model class (:func:`serkit.models.model_class`) and a training config."""
    if model_class.fits_in_closed_form:
        return ClosedForm()
    if config.scheduler == "plateau_reload":
        return PlateauReload(lr=config.lr, gamma=config.gamma, max_decays=config.plateau_decays)
    return GradientDescent()
