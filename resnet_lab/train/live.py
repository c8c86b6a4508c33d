"""What a learner watches during training: the live plot and the progress bar."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from .history import History


class _LivePlot:
    """One figure shown once and updated in place each epoch (``display_id``), closed at the end."""

    def __init__(self, title: str) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        from ..evaluation import plot_history

        self._plt = plt
        self._plot = plot_history
        self.title = title
        self.fig, self.axes = plt.subplots(1, 3, figsize=(13, 3.4))
        self.handle = display(self.fig, display_id=True)

    def update(self, history: History) -> None:
        for ax in self.axes:
            ax.clear()
        self._plot(history, axes=self.axes, title=self.title)
        if self.handle is not None:
            self.handle.update(self.fig)

    def close(self) -> None:
        self._plt.close(self.fig)


def _progress_bar(total: int, initial: int, *, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True)
