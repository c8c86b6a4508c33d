"""Lesson 05's nets: which ones, how long they train, and a disk cache so a re-run only re-plots.

The nets are trained by :func:`resnet_lab.train.fit` (the lesson-04 trainer) for
``budget.train_iters`` SGD steps; their validation split is the lesson's evaluation set
(:func:`resnet_lab.lessons.evalset.heldout_eval_set`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .. import store
from ..data import ImageData
from .caching import data_fingerprint

if TYPE_CHECKING:  # pragma: no cover
    from ..profiles import WhyBudget
    from ..train import History

__all__ = ["why_model_names", "why_train_config", "CACHE_KIND", "cache_settings", "train_or_load"]


def why_model_names(budget: WhyBudget) -> dict[str, str]:
    """The model names of the lesson: ``residual``/``plain`` at ``budget.depth``, ``original``/``preact`` at ``preact_depth``."""
    return {
        "residual": f"resnet{budget.depth}",
        "plain": f"plain{budget.depth}",
        "original": f"resnet{budget.preact_depth}",
        "preact": f"preact_resnet{budget.preact_depth}",
    }


def why_train_config(budget: WhyBudget, model: str, *, seed: int = 0, lr: float = 0.1) -> Any:
    """A :class:`resnet_lab.train.TrainConfig` for ``model`` sized by the lesson's budget.

    ``budget.n_eval`` training images are held out as the validation split (also the lesson's
    fixed evaluation set); the run lasts ``budget.train_iters`` steps (pass them to ``fit`` as
    ``max_iters``); ``epochs`` is just large enough to contain them.
    """
    from ..train import TrainConfig

    n_fit = budget.n_train - budget.n_eval
    if n_fit < budget.batch:
        raise ValueError(f"budget leaves {n_fit} training images after holding out n_eval={budget.n_eval}; need >= batch={budget.batch}")
    steps_per_epoch = n_fit // budget.batch
    epochs = max(1, math.ceil(budget.train_iters / steps_per_epoch))
    depth = int("".join(ch for ch in model if ch.isdigit()) or 0)
    # He et al. (2015) warm up their 110-layer net (lr 0.01 for the first ~400 iterations); so do we.
    warmup = 1.0 if depth >= 110 and epochs > 1 else 0.0
    return TrainConfig(
        model=model, epochs=epochs, batch_size=budget.batch, lr=lr, n_val=budget.n_eval, seed=seed,
        width=budget.width, eval_batch_size=500, amp="off", warmup_epochs=warmup,
    )


CACHE_KIND = "lesson05-nets"  # the store's folder and key prefix of the trained nets


def cache_settings(config: Any, max_iters: int) -> dict[str, Any]:
    """The settings that decide a trained net (its cache key, with the data's fingerprint): the whole
    training configuration except where it is written and how data is fed, the step budget, and
    the versions of torch and resnet_lab that trained it."""
    from .. import __version__

    skip = ("checkpoint_dir", "resume", "num_workers")
    return {
        "config": {k: v for k, v in config.to_dict().items() if k not in skip},
        "max_iters": max_iters,
        "torch": torch.__version__.split("+")[0],
        "resnet_lab": __version__,
    }


def train_or_load(
    model_name: str,
    data: ImageData,
    budget: WhyBudget,
    *,
    seed: int = 0,
    device: torch.device | str | None = None,
    cache_dir: str | Path | None = None,
    retrain: bool = False,
    progress: bool = True,
) -> tuple[nn.Module, History, bool]:
    """Train ``model_name`` with :func:`resnet_lab.train.fit` for ``budget.train_iters`` steps, or load it.

    The weights and history are one checkpoint of :mod:`resnet_lab.store` (kind ``lesson05-nets``,
    under ``cache_dir``, default :func:`resnet_lab.store.runs_dir`), keyed by :func:`cache_settings`
    and the data's fingerprint, written atomically and read with ``weights_only=True``; a damaged
    file is trained again. ``retrain=True`` ignores the cache. Returns ``(model, history, from_cache)``
    with the model in eval mode on ``device``.
    """
    from ..train import History, fit, load_checkpoint, make_model, save_checkpoint

    config = why_train_config(budget, model_name, seed=seed)
    key = store.settings_key(CACHE_KIND, cache_settings(config, budget.train_iters), data_fingerprint(data))
    path = store.cache_path(CACHE_KIND, f"{model_name}-{key}", ".pt", cache_dir)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model = make_model(config, num_classes=len(data.classes))
    if path.exists() and not retrain:
        try:
            state = load_checkpoint(path, map_location=dev)
            model.load_state_dict(state["model"])
            return model.to(dev).eval(), History.from_dict(state["history"]), True
        except (ValueError, RuntimeError, KeyError):
            pass  # a damaged or foreign file: train again and overwrite it
    from .degradation import small_net_threads

    with small_net_threads(budget.width, dev):  # the quick profile's narrow nets: one CPU thread
        history = fit(model, data, config, device=dev, progress=progress, max_iters=budget.train_iters,
                      verbose=False, restore_best=False)
    save_checkpoint(path, {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "optimizer": {},
        "epoch": len(history), "batch": 0, "step": history.step[-1] if history.step else 0,
        "history": history.to_dict(), "config": config.to_dict(),
    })
    return model.eval(), history, False
