"""Training on CIFAR-10 (or the stand-in): a small package, one concern per module.

* ``core``: the SGD step, a short loop with a hook, an evaluation pass (used by every trainer here)
* ``config`` (TrainConfig, recipe), ``schedule`` (lr, optimiser, AMP), ``history``, ``evaluate``,
  ``checkpoint`` (through resnet_lab.store), ``distributed``, ``live``, ``fit``, ``cli`` (+ ``__main__``)

The recipe of He et al. (2015), section 4.2, is the default: SGD with momentum 0.9, batch 128,
weight decay 1e-4, learning rate 0.1 divided by 10 at 32k and 48k iterations and stopped at 64k
(here: at 50% and 75% of however long the run is), random crop with padding 4 and horizontal flip.

Honest evaluation: :func:`fit` splits the training set into train and validation parts
(45k/5k on CIFAR-10) and chooses the best checkpoint on validation accuracy only; the test set
is touched by one explicit call to :func:`final_test`, at the end, never inside ``fit``.

Checkpoints (``last.pt`` after every epoch and on Ctrl-C, ``best.pt`` on each new best validation
accuracy) hold plain types only, are written to a temporary file and renamed, and are read with
``torch.load(..., weights_only=True)``. Calling ``fit`` again with the same ``checkpoint_dir``
resumes where the last one stopped, history included.

Command line (the same code), on one device or under ``torchrun`` as DDP::

    python -m resnet_lab.train --model resnet20 --epochs 200 --data-dir ~/data --checkpoint-dir runs/r20 --test
    torchrun --nproc_per_node=4 -m resnet_lab.train --model resnet56 --epochs 200 --data-dir ~/data --test
"""

from __future__ import annotations

from ..store import runs_dir
from .checkpoint import load_checkpoint, save_checkpoint, state_digest
from .cli import config_from_argv, load_data, main
from .config import AMP_MODES, SCHEDULES, TrainConfig, make_model, recipe
from .core import StepRecord, evaluate_batches, train_loop, train_step
from .distributed import setup_distributed
from .evaluate import evaluate, final_test
from .fit import fit, resume_summary
from .history import EvalResult, History
from .schedule import lr_at, make_optimizer, param_groups, resolve_amp

__all__ = [
    "SCHEDULES", "AMP_MODES", "TrainConfig", "History", "EvalResult", "StepRecord", "train_step", "train_loop",
    "evaluate_batches", "lr_at", "param_groups", "make_optimizer", "make_model", "recipe", "resolve_amp",
    "evaluate", "fit", "resume_summary", "final_test", "save_checkpoint", "load_checkpoint", "state_digest", "load_data",
    "setup_distributed", "config_from_argv", "runs_dir", "main",
]
