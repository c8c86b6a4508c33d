"""Looking at a trained classifier: confusion matrix, per-class accuracy, its most confident mistakes.

The numbers come from :class:`resnet_lab.train.EvalResult` (logits and labels); the figures name
the data they were computed on (CIFAR-10 or the stand-in) through ``resnet_lab.plots.data_title``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .data import show, show_class
from .i18n import _
from .plots import data_title

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .train.history import History

__all__ = [
    "confusion_matrix",
    "per_class_accuracy",
    "class_extremes_summary",
    "most_confident_wrong",
    "plot_history",
    "plot_confusion_matrix",
    "plot_per_class_accuracy",
    "plot_confident_wrong",
    "plot_lr_schedules",
    "plot_augmentations",
]


def confusion_matrix(predictions: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Counts ``C[true, predicted]`` (int64, ``num_classes`` x ``num_classes``); rows sum to the class sizes."""
    if predictions.shape != labels.shape or predictions.ndim != 1:
        raise ValueError(f"predictions and labels must be 1-D of equal length, got {tuple(predictions.shape)} and {tuple(labels.shape)}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    for name, t in (("predictions", predictions), ("labels", labels)):
        if len(t) and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}")
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def per_class_accuracy(cm: Tensor) -> Tensor:
    """Recall of each class (diagonal / row sum) as float64; NaN for a class without images."""
    cm = cm.double()
    return cm.diagonal() / cm.sum(1)


def class_extremes_summary(acc_per_class: Tensor, classes: Sequence[str]) -> str:
    """The hardest and the easiest class of a run (lowest and highest per-class accuracy), in the learner's language.

    ``acc_per_class``: per-class accuracies as fractions (:func:`per_class_accuracy`); ``classes``: their names."""
    worst, best = int(acc_per_class.argmin()), int(acc_per_class.argmax())
    return _("hardest class in your run: {hardest} ({hardest_acc:.1f}%), easiest: {easiest} ({easiest_acc:.1f}%)").format(
        hardest=classes[worst], hardest_acc=100 * float(acc_per_class[worst]),
        easiest=classes[best], easiest_acc=100 * float(acc_per_class[best]))


def most_confident_wrong(probs: Tensor, labels: Tensor, k: int = 16) -> Tensor:
    """Indices of the ``k`` misclassified images with the highest predicted probability, most confident first."""
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(f"expected probs (N, classes) and N labels, got {tuple(probs.shape)} and {tuple(labels.shape)}")
    conf, pred = probs.max(1)
    wrong = (pred != labels).nonzero().flatten()
    order = conf[wrong].argsort(descending=True, stable=True)
    return wrong[order[:k]]


# --- figures ----------------------------------------------------------------------------------
def plot_history(history: History, axes: Sequence[Axes] | None = None, title: str | None = None) -> Figure:
    """Loss, error (%) and learning rate per epoch, train and validation, in three panels.

    ``title`` (default "Training", in the learner's language) is shown as given.
    """
    import matplotlib.pyplot as plt

    title = _("Training") if title is None else title
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    fig = axes[0].figure
    data = history.meta.get("data", "")
    ep = history.epoch
    val = [i for i, v in enumerate(history.val_acc) if v is not None]
    ax_loss, ax_err, ax_lr = axes[0], axes[1], axes[2]
    ax_loss.plot(ep, history.train_loss, "o-", ms=3, label=_("train (augmented)"))
    ax_err.plot(ep, [100 * (1 - a) for a in history.train_acc], "o-", ms=3, label=_("train (augmented)"))
    if val:
        ax_loss.plot([ep[i] for i in val], [history.val_loss[i] for i in val], "o-", ms=3, label=_("validation"))
        ax_err.plot([ep[i] for i in val], [100 * (1 - history.val_acc[i]) for i in val], "o-", ms=3,  # type: ignore[operator]
                    label=_("validation"))
        best = history.best_epoch
        if best is not None:
            ax_err.axvline(best, color="0.6", ls=":", lw=1, label=_("best val (epoch {epoch})").format(epoch=best))
    ax_lr.plot(ep, history.lr, "o-", ms=3, color="tab:gray")
    ax_lr.set_yscale("log")
    for ax, ylabel in ((ax_loss, _("cross-entropy")), (ax_err, _("error (%)")),
                       (ax_lr, _("learning rate (end of epoch)"))):
        ax.set_xlabel(_("epoch"))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)
    ax_err.legend(fontsize=8)
    ax_loss.set_title(_("loss"))
    ax_err.set_title(_("error"))
    ax_lr.set_title(_("schedule"))
    fig.suptitle(data_title(title, data) if data else title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    cm: Tensor, classes: Sequence[str], *, data: Any = "", ax: Axes | None = None, title: str | None = None,
    model: str = "",
) -> Figure:
    """Row-normalised confusion matrix (each row: where the images of one true class went), in %.

    ``title`` defaults to "Confusion matrix of {model} (test)" (or without the model) in the learner's language.
    """
    import matplotlib.pyplot as plt

    if title is None:
        title = _("Confusion matrix of {model} (test)").format(model=model) if model else _("Confusion matrix (test)")
    classes = [show_class(c) for c in classes]
    if ax is None:
        __, ax = plt.subplots(figsize=(6.4, 5.6))
    fig = ax.figure
    rates = 100 * cm.double() / cm.sum(1, keepdim=True).clamp(min=1)
    im = ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=100)
    n = len(classes)
    for i in range(n):
        for j in range(n):
            v = rates[i, j].item()
            if v >= 0.5:
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7, color="white" if v > 50 else "black")
    ax.set_xticks(range(n), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), classes, fontsize=8)
    ax.set_xlabel(_("predicted class"))
    ax.set_ylabel(_("true class"))
    label = show(getattr(data, "label", data))
    ax.set_title(_("{title}\n({data})").format(title=title, data=label) if label else title, fontsize=10)
    fig.colorbar(im, ax=ax, label=_("% of the true class"))
    fig.tight_layout()
    return fig


def plot_per_class_accuracy(
    acc: Tensor, classes: Sequence[str], *, data: Any = "", ax: Axes | None = None,
    title: str | None = None, model: str = "",
) -> Figure:
    """Horizontal bars of each class's accuracy (%), with the mean over classes as a line.

    ``title`` defaults to "Per-class accuracy of {model} (test)" (or without the model) in the learner's language.
    """
    import matplotlib.pyplot as plt

    if title is None:
        title = (_("Per-class accuracy of {model} (test)").format(model=model) if model
                 else _("Per-class accuracy (test)"))
    classes = [show_class(c) for c in classes]
    if ax is None:
        __, ax = plt.subplots(figsize=(6.4, 3.8))
    fig = ax.figure
    values = (100 * acc).tolist()
    ax.barh(range(len(classes)), values, color="tab:blue")
    mean = float(torch.nanmean(100 * acc))
    ax.axvline(mean, color="tab:red", ls="--", lw=1, label=_("mean over classes {mean:.1f}%").format(mean=mean))
    for i, v in enumerate(values):
        ax.text(min(v, 100) + 0.5, i, f"{v:.1f}", va="center", fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 108)
    ax.set_xlabel(_("accuracy (%)"))
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(data_title(title, data) if data else title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_confident_wrong(
    images_uint8: Tensor, probs: Tensor, labels: Tensor, classes: Sequence[str], *, k: int = 16, cols: int = 8,
    data: Any = "", title: str | None = None,
) -> Figure:
    """A gallery of the ``k`` most confidently misclassified images: predicted (confidence) vs true class.

    ``title`` defaults to "Most confidently wrong test images" in the learner's language.
    """
    import matplotlib.pyplot as plt

    title = _("Most confidently wrong test images") if title is None else title
    idx = most_confident_wrong(probs, labels, k)
    rows = max(1, -(-len(idx) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 2.0 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, idx.tolist()):
        p = probs[i]
        pred = int(p.argmax())
        ax.imshow(images_uint8[i].permute(1, 2, 0).numpy())
        ax.set_title(_("said {predicted} {confidence:.0f}%\nis {true}").format(
            predicted=show_class(classes[pred]), confidence=100 * p[pred], true=show_class(classes[int(labels[i])])),
            fontsize=7)
    if len(idx) == 0:
        axes.flat[0].text(0.5, 0.5, _("no misclassified image"), ha="center", va="center")
    fig.suptitle(data_title(title, data) if data else title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_lr_schedules(
    total_steps: int, steps_per_epoch: int, base_lr: float = 0.1, *, warmup_steps: int = 0, ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """The three schedules of :func:`resnet_lab.train.lr_at` over a run, against epochs.

    ``title`` defaults to "Schedules for {epochs} epochs of {steps} steps" in the learner's language.
    """
    import matplotlib.pyplot as plt

    from .train import SCHEDULES, lr_at

    if title is None:
        title = _("Schedules for {epochs} epochs of {steps} steps").format(
            epochs=f"{total_steps / steps_per_epoch:g}", steps=steps_per_epoch)
    if ax is None:
        __, ax = plt.subplots(figsize=(7, 3.2))
    fig = ax.figure
    steps = range(total_steps)
    epochs = [s / steps_per_epoch for s in steps]
    for name in SCHEDULES:
        w = 0 if name == "onecycle" else warmup_steps
        ax.plot(epochs, [lr_at(s, total_steps, base_lr=base_lr, schedule=name, warmup_steps=w) for s in steps], label=name)
    ax.set_xlabel(_("epoch"))
    ax.set_ylabel(_("learning rate"))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_augmentations(images_uint8: Tensor, *, n: int = 8, variants: int = 3, seed: int = 0, data: Any = "") -> Figure:
    """``n`` images (top row) and ``variants`` rows of their random crop + flip, as the device loader makes them."""
    import matplotlib.pyplot as plt

    from .loader import random_crop_flip

    x = images_uint8[:n]
    g = torch.Generator(device=x.device).manual_seed(seed)
    rows = [x] + [random_crop_flip(x, g) for __ in range(variants)]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.35 * len(rows)), squeeze=False)
    for r, batch in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.imshow(batch[c].permute(1, 2, 0).cpu().numpy())
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(_("original") if r == 0 else _("augmented {n}").format(n=r), fontsize=8)
    title = _("Random crop (zero padding 4) and flip, on the device")
    fig.suptitle(data_title(title, data) if data else title, fontsize=10)
    fig.tight_layout()
    return fig
