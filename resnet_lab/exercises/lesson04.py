"""Exercise checkers of lesson 04 (CIFAR-10 training).

Two code exercises (the SGD step and the evaluation pass of the hand-written loop) are graded by
behaviour: the learner's function runs on a small ResNet from fixed weights, and the weights after
the step (or the loss and accuracy returned) are compared with the reference on the same weights,
batch and optimiser state. A mismatch is matched against the usual mistakes (no ``zero_grad``, the
old learning rate, BatchNorm in the wrong mode...) to name it; no message holds the expected value.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..i18n import N_, _
from ..lessons.training_loop import PAPER_BATCH, PAPER_ITERATIONS, PAPER_TRAIN_IMAGES, SPLIT_TRAIN_IMAGES, paper_epochs
from ..models import cifar_resnet
from ..train.schedule import param_groups
from .core import CheckResult, call_attempt, check_choice, check_number, code_check

__all__ = ["check_paper_epochs", "check_no_decay_count", "check_selection_split", "train_step_reference",
           "evaluate_reference", "check_train_step", "check_evaluate"]


def check_paper_epochs(answer: float, *, iterations: int = PAPER_ITERATIONS, batch_size: int = PAPER_BATCH,
                       n_train: int = PAPER_TRAIN_IMAGES) -> CheckResult:
    """How many epochs over the paper's 50k training images are its 64k iterations of batch 128?
    (:func:`resnet_lab.lessons.training_loop.paper_epochs`, the value the lesson prints afterwards.)"""
    expected = paper_epochs(iterations, batch_size, n_train)
    hint = _("Epochs = images seen / images per epoch; images seen = iterations x batch size.")
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = None
    if n_train == PAPER_TRAIN_IMAGES and value is not None and abs(value - paper_epochs(iterations, batch_size, SPLIT_TRAIN_IMAGES)) <= 1:
        hint = _("That is the count over the 45k split, on which the paper chose its schedule; its reported "
                 "models train on all 50,000 images.")
    return check_number(answer, expected, abs_tol=1.0, hint=hint, why=_(
        "{iterations} steps x {batch_size} images = {images} images, divided by "
        "{n_train} images per epoch = {epochs} epochs (an answer within 1 counts).").format(
            iterations=f"{iterations:,}", batch_size=batch_size, images=f"{iterations * batch_size:,}",
            n_train=f"{n_train:,}", epochs=f"{expected:.1f}"))


def check_no_decay_count(answer: int, model: nn.Module) -> CheckResult:
    """How many parameters of ``model`` get no weight decay with ``decay_bn_and_bias=False``?"""
    groups = param_groups(model, 1e-4, decay_bn_and_bias=False)
    expected = sum(p.numel() for p in groups[1]["params"])
    n_bn = sum(1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return check_number(answer, expected, hint=_("Count 2 numbers per channel of every BN layer, plus the classifier's bias."),
                        why=_("every BatchNorm layer has a scale and a shift per channel ({n_bn} BN layers here), and "
                              "the classifier has one bias per class; together {expected} of "
                              "{total} parameters.").format(n_bn=n_bn, expected=f"{expected:,}",
                                                            total=f"{sum(p.numel() for p in model.parameters()):,}"))


def check_selection_split(answer: str) -> CheckResult:
    """Which split may be used to choose the checkpoint (or any hyper-parameter)?"""
    return check_choice(answer, "validation", ("train", "validation", "test"), why=_(
        "choices are made on held-out validation images; the training loss is biased by fitting, and a test set "
        "used for choosing stops being an unbiased estimate of the error on new images."),
        hint=_("Which images has the model not been trained on, and are still allowed to influence choices?"))


# --- code exercise 1: one SGD step -------------------------------------------------------------------
def train_step_reference(model: nn.Module, x: Tensor, y: Tensor, optimizer: torch.optim.Optimizer, lr: float) -> Tensor:
    """One SGD step on the batch ``(x, y)`` at learning rate ``lr``; returns the batch's loss."""
    model.train()                          # BN uses the batch's statistics (an evaluation may have switched it off)
    for group in optimizer.param_groups:   # this step's learning rate, from the schedule
        group["lr"] = lr
    loss = F.cross_entropy(model(x), y)    # forward
    optimizer.zero_grad()                  # forget the previous step's gradients
    loss.backward()                        # backward: d loss / d weights into every .grad
    optimizer.step()                       # update: SGD with momentum and weight decay
    return loss.detach()


def _step_setup(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer, Tensor, Tensor]:
    """A small ResNet left as a training loop leaves it: in eval mode after an evaluation, with the previous
    step's gradients still in ``.grad``, momentum buffers filled and an optimiser at an older learning rate."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cifar_resnet(8, width=4)
        opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, weight_decay=5e-4)
        for _step in range(2):  # two earlier steps: momentum buffers, then gradients left behind
            x0, y0 = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
            opt.zero_grad()
            F.cross_entropy(model(x0), y0).backward()
            opt.step()
        F.cross_entropy(model(torch.randn(8, 3, 8, 8)), torch.randint(0, 10, (8,))).backward()
        x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
    model.eval()
    return model, opt, x, y


def _flat(model: nn.Module) -> Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _variant_step(kind: str, lr: float) -> Tensor:
    """The weights after the step as a typical mistake computes it."""
    model, opt, x, y = _step_setup()
    if kind != "eval mode":
        model.train()
    if kind != "old lr":
        for group in opt.param_groups:
            group["lr"] = lr
    loss = F.cross_entropy(model(x), y)
    if kind not in ("no zero_grad", "zero_grad late"):
        opt.zero_grad()
    loss.backward()
    if kind == "zero_grad late":
        opt.zero_grad()
    opt.step()
    return _flat(model)


_STEP_HINTS = {
    "no zero_grad": N_("the previous step's gradients were still in .grad and got added to this step's: call "
                       "optimizer.zero_grad() before loss.backward()."),
    "zero_grad late": N_("you cleared the gradients after loss.backward(), so the step did not use them: zero them "
                         "before backward."),
    "old lr": N_("the step used the optimizer's old learning rate: set group['lr'] = lr in every "
                 "optimizer.param_groups entry before optimizer.step() (the schedule changes it every step)."),
    "eval mode": N_("the forward pass ran with BatchNorm in eval mode (the model comes back from an evaluation): "
                    "call model.train() first, so BN uses the batch's statistics."),
}


def check_train_step(fn: Callable[[nn.Module, Tensor, Tensor, torch.optim.Optimizer, float], object]) -> CheckResult:
    """Run ``fn(model, x, y, optimizer, lr)`` and the reference from the same weights, batch and optimiser
    state (model in eval mode, stale gradients and learning rate, as a loop leaves them) and compare."""
    lr = 0.05

    def run() -> str | None:
        model, opt, x, y = _step_setup()
        before = _flat(model)
        loss = call_attempt(fn, model, x, y, opt, lr)
        after = _flat(model)
        ref_model, ref_opt, rx, ry = _step_setup()
        ref_loss = train_step_reference(ref_model, rx, ry, ref_opt, lr)
        want = _flat(ref_model)
        if torch.equal(after, before):
            return _("the weights did not change: after loss.backward(), optimizer.step() applies the update.")
        if not torch.allclose(after, want, rtol=1e-5, atol=1e-6):
            for kind, hint in _STEP_HINTS.items():
                if torch.allclose(after, _variant_step(kind, lr), rtol=1e-5, atol=1e-6):
                    return _(hint)
            return _("the weights after your step differ from one SGD step on this batch: forward, loss, "
                     "zero_grad, backward, step, in that order, once.")
        try:
            value = float(loss.detach() if isinstance(loss, Tensor) else loss)  # type: ignore[arg-type]
        except (TypeError, ValueError, RuntimeError):
            return _("the weights are right; return the batch's loss as a number or a 1-element tensor, not {type}.").format(
                type=type(loss).__name__)
        if abs(value - float(ref_loss)) > 1e-5 * max(1.0, abs(float(ref_loss))):
            return _("the weights are right, but the returned loss is not this batch's loss before the update.")
        return None

    return code_check(_("`train_step`"), train_step_reference, run)


# --- code exercise 2: the evaluation pass --------------------------------------------------------------
def evaluate_reference(model: nn.Module, batches: Sequence[tuple[Tensor, Tensor]]) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (a fraction) over all images of ``batches``."""
    model.eval()                           # BN uses its running statistics and updates nothing
    loss_sum, correct, n = 0.0, 0, 0
    with torch.no_grad():                  # no graph: evaluation needs no gradients
        for x, y in batches:
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
    model.train()                          # back to training mode for the loop
    return loss_sum / n, correct / n


def _eval_setup(seed: int = 1) -> tuple[nn.Module, list[tuple[Tensor, Tensor]]]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cifar_resnet(8, width=4)
        for m in model.modules():  # running statistics far from a batch's own, so the BN mode shows
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        sizes = (16, 16, 5)  # a smaller last batch, as a validation split gives
        batches = [(torch.randn(s, 3, 8, 8), torch.randint(0, 10, (s,))) for s in sizes]
    model.train()
    return model, batches


def _mean_of_batch_means(model: nn.Module, batches: Sequence[tuple[Tensor, Tensor]]) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        losses = [float(F.cross_entropy(model(x), y)) for x, y in batches]
        accs = [float((model(x).argmax(1) == y).float().mean()) for x, y in batches]
    return sum(losses) / len(losses), sum(accs) / len(accs)


def check_evaluate(fn: Callable[[nn.Module, Sequence[tuple[Tensor, Tensor]]], object]) -> CheckResult:
    """Run ``fn(model, batches)`` on a small ResNet (in training mode, as the loop hands it over) and compare the
    (mean loss, accuracy) it returns with the reference on the same weights and batches."""

    def run() -> str | None:
        model, batches = _eval_setup()
        stats_before = [b.clone() for b in model.buffers()]
        out = call_attempt(fn, model, batches)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return _("return two numbers: (mean loss, accuracy).")
        loss, acc = out
        if isinstance(loss, Tensor) and loss.requires_grad:
            return _("your loss still carries a graph: evaluate under torch.no_grad() (nothing is trained here).")
        loss, acc = float(loss), float(acc)  # type: ignore[arg-type]
        changed = any(not torch.equal(a, b) for a, b in zip(stats_before, model.buffers()))
        ref_model, ref_batches = _eval_setup()
        want_loss, want_acc = evaluate_reference(ref_model, ref_batches)
        if changed:
            return _("the evaluation changed BatchNorm's running statistics: it ran in train mode. Call model.eval() "
                     "first, so BN uses its running statistics and updates nothing.")
        if acc > 1.0 and abs(acc / 100 - want_acc) < 1e-6:
            return _("give the accuracy as a fraction between 0 and 1, not in percent.")
        ok_loss = abs(loss - want_loss) <= 1e-5 * max(1.0, want_loss)
        ok_acc = abs(acc - want_acc) <= 1e-9
        if ok_loss and ok_acc:
            return None
        m_model, m_batches = _eval_setup()
        mean_loss, mean_acc = _mean_of_batch_means(m_model, m_batches)
        if abs(loss - mean_loss) <= 1e-5 * max(1.0, mean_loss) or (ok_loss and abs(acc - mean_acc) < 1e-9):
            return _("you averaged the batches' means, but the last batch is smaller: sum the loss and the correct "
                     "predictions over all images, then divide by the number of images.")
        if not ok_loss:
            return _("the mean loss is off: the cross-entropy summed over every image, divided by the number of images.")
        return _("the accuracy is off: the fraction of images whose highest logit is the true class.")

    return code_check(_("`evaluate`"), evaluate_reference, run)
