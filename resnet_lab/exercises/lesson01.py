"""Lesson 01 exercises: make a plain block residual, and read the learner's own runs (Figure 6, the toy sweep)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..lessons.degradation import DegradationResult, final_errors
from ..lessons.toy import KINDS, degradation_onset
from ..lessons.toy_blocks import PlainMLPBlock, ResidualMLPBlock
from ..i18n import _
from .core import CheckResult, call_attempt, check_choice, check_number, code_check, is_placeholder, not_attempted

__all__ = ["check_lower_curve", "check_gap_prediction", "check_onset_depth", "check_residual_block",
           "weight_layers_reference", "check_weight_layers"]


def weight_layers_reference(model: nn.Module) -> int:
    """Layers with weights, counted as the paper names its nets: convolutions and fully connected layers,
    without BatchNorm and without the projection convolutions of option-B shortcuts (``downsample``)."""
    return sum(1 for name, m in model.named_modules()
               if isinstance(m, (nn.Conv2d, nn.Linear)) and "downsample" not in name)


def _layer_cases() -> list[tuple[str, nn.Module, int]]:
    from ..models import cifar_resnet, resnet18, resnet50

    cases: list[tuple[str, nn.Module, int]] = []
    for depth, residual, shortcut in ((8, True, "A"), (20, False, "A"), (32, True, "B"), (14, True, "B")):
        name = f"cifar_resnet({depth}, shortcut={shortcut!r})"
        if not residual:
            name = _("plain {net}").format(net=name)
        cases.append((name, cifar_resnet(depth, residual=residual, shortcut=shortcut, width=4), depth))
    cases.append(("resnet18()", resnet18(), 18))
    cases.append(("resnet50()", resnet50(), 50))  # bottleneck blocks: three convolutions each
    return cases


def check_weight_layers(fn: Callable[[nn.Module], int]) -> CheckResult:
    """Exercise: ``fn(model)`` counts the layers with weights the paper's way; graded on CIFAR nets of several
    depths (plain and residual, option A and B) and on ResNet-18 and ResNet-50, against the depth in their names."""

    def run() -> str | None:
        for name, model, depth in _layer_cases():
            got = call_attempt(fn, model)
            try:
                got = int(got)
            except (TypeError, ValueError):
                return _("return a whole number, not {type}.").format(type=type(got).__name__)
            if got == depth:
                continue
            bns = sum(1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
            proj = sum(1 for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and "downsample" in n)
            if bns and got >= depth + bns - proj - 1 and got > depth + proj:
                return _("For {name} you counted the BatchNorm layers too: they are not counted as layers.").format(name=name)
            if proj and got == depth + proj:
                return _("For {name} you counted the projection shortcuts: the paper does not count the 1x1 "
                         "convolutions of option-B shortcuts.").format(name=name)
            if got == depth - 1:
                return _("For {name} one layer is missing: the fully connected classifier counts too.").format(name=name)
            return (_("For {name} your count is too high.") if got > depth
                    else _("For {name} your count is too low.")).format(name=name)
        return None

    return code_check(_("`count_weight_layers`"), weight_layers_reference, run)



def check_residual_block(block_cls: Callable[[int], nn.Module]) -> CheckResult:
    """Exercise: ``block_cls`` subclasses :class:`PlainMLPBlock` and adds the shortcut in ``forward``.

    Graded against :class:`ResidualMLPBlock` with the same weights, in training and in eval mode.
    """

    def run() -> str | None:
        torch.manual_seed(0)
        try:
            mine = block_cls(12)
        except TypeError as exc:
            return _("the block must be built as block_cls(width): {error}").format(error=exc)
        ref = ResidualMLPBlock(12)
        try:
            mine.load_state_dict(ref.state_dict())
        except (RuntimeError, AttributeError):
            return _("keep the plain block's layers (subclass PlainMLPBlock and change only forward).")
        plain = PlainMLPBlock(12)
        plain.load_state_dict(ref.state_dict())
        h = torch.randn(32, 12)
        state = {k: v.clone() for k, v in ref.state_dict().items()}
        for mode in ("train", "eval"):
            for m in (mine, ref, plain):
                m.load_state_dict(state)  # a forward in train mode moves BN's running statistics
                m.train(mode == "train")
            with torch.no_grad():
                got = call_attempt(mine, h.clone())
                want, f = ref(h), ref.branch(h)
            if not isinstance(got, torch.Tensor) or got.shape != want.shape:
                return _("forward must return a tensor of the input's shape (batch, width).")
            if torch.allclose(got, want, atol=1e-5):
                continue
            if torch.allclose(got, torch.relu(f), atol=1e-5):
                return _("the output ignores the shortcut: this is still the plain block; add h before the last ReLU.")
            if torch.allclose(got, torch.relu(f) + h, atol=1e-5):
                return _("ReLU applied before the addition: the block ends with relu(F(h) + h).")
            if torch.allclose(got, f + h, atol=1e-5):
                return _("no ReLU after the addition: the block ends with relu(F(h) + h).")
            return (_("in train mode your block differs from relu(F(h) + h) with the same weights.") if mode == "train"
                    else _("in eval mode your block differs from relu(F(h) + h) with the same weights."))
        return None

    return code_check(_("your `ResidualBlock`"), ResidualMLPBlock, run)


def check_lower_curve(answer: str, result: DegradationResult, kind: str = "plain") -> CheckResult:
    """Exercise: of the shallowest and the deepest ``kind`` net, whose training error ends lower?

    ``answer`` is ``"shallow"`` or ``"deep"``; the right answer is read from the run's final errors.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    errs = final_errors(result)
    lo, hi = min(result.config.depths), max(result.config.depths)
    e_lo, e_hi = errs[(lo, kind)]["train_error"], errs[(hi, kind)]["train_error"]
    if math.isnan(e_hi) and math.isnan(e_lo):
        return CheckResult(False, _("both runs diverged in this run, so neither curve ends lower; retrain with a smaller lr."))
    expected = "shallow" if math.isnan(e_hi) or (not math.isnan(e_lo) and e_lo <= e_hi) else "deep"

    def pct(v: float) -> str:
        return _("diverged") if math.isnan(v) else f"{100 * v:.1f}%"

    why = (_("In your run {kind}-{lo} ends at {e_lo} training error and {kind}-{hi} at {e_hi}. ").format(
               kind=kind, lo=lo, hi=hi, e_lo=pct(e_lo), e_hi=pct(e_hi))
           + (_("A deeper plain net training worse is the degradation problem: not overfitting (it is the "
                "TRAINING error) but harder optimisation.") if kind == "plain" and expected == "shallow" else
              _("With shortcuts, extra depth does not hurt training.") if kind == "residual" and expected == "deep" else
              _("Short runs on small data are noisy; compare with the paper's Figure 6.")))
    return check_choice(answer, expected, ("shallow", "deep"), why=why)


def check_gap_prediction(answer: object, result: DegradationResult, kind: str = "plain",
                         tol_points: float = 2.0) -> CheckResult:
    """Prediction: by how many percentage points the deepest ``kind`` net's final training error ends above
    (+) or below (-) the shallowest one's; accepted within ``tol_points``. The measured gap is read from
    the run (mean over seeds) and shown only with a right answer or through ``.solution()``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if is_placeholder(answer):
        return not_attempted(_("a number of percentage points (deepest minus shallowest)"))
    errs = final_errors(result)
    lo, hi = min(result.config.depths), max(result.config.depths)
    e_lo, e_hi = errs[(lo, kind)]["train_error"], errs[(hi, kind)]["train_error"]
    if math.isnan(e_lo) or math.isnan(e_hi):
        return CheckResult(False, _("a {kind} net diverged in this run, so there is no gap to compare; "
                                    "retrain with a smaller lr.").format(kind=kind))
    gap = 100 * (e_hi - e_lo)
    why = _("in your run {kind}-{hi} ends {gap} points from {kind}-{lo} in training error "
            "(accepted within {tol} points).").format(kind=kind, hi=hi, lo=lo, gap=f"{gap:+.1f}", tol=f"{tol_points:g}")
    return check_number(answer, gap, abs_tol=tol_points, why=why,
                        hint=_("Read the gap as {kind}-{hi} minus {kind}-{lo}, in percentage points of training error.").format(
                            kind=kind, hi=hi, lo=lo))


def check_onset_depth(answer: int, sweep: dict[str, Any], *, kind: str = "plain") -> CheckResult:
    """Exercise: from a :func:`toy_depth_sweep`, the first depth at which plain nets degrade.

    Accepted: the depth :func:`degradation_onset` finds, or the sweep's depth right before or after
    it (one step of the grid either way: the onset is not sharp).
    """
    if is_placeholder(answer):
        return not_attempted(_("a depth from the sweep"))
    onset = degradation_onset(sweep, kind=kind)
    depths = list(sweep["depths"])
    try:
        value = int(answer)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return CheckResult(False, _("expected a depth (an integer from {depths}), got {answer}.").format(
            depths=depths, answer=repr(answer)))
    if onset is None:
        return CheckResult(False, _("in this sweep no {kind} net degraded (final losses {losses}); "
                                    "sweep deeper or with fewer steps, then try again.").format(
                                      kind=kind, losses=sweep['loss'][kind]))
    i = depths.index(onset)
    ok_set = set(depths[max(0, i - 1) : i + 2])
    if value not in depths:
        return CheckResult(False, _("{value} is not a depth of the sweep {depths}.").format(value=value, depths=depths))
    losses = ", ".join(f"{d}: {l:.3f}" for d, l in zip(depths, sweep["loss"][kind]))
    why = _("the onset computed from your sweep is depth {onset} (accepted: {accepted}). "
            "Final {kind} training losses: {losses}.").format(onset=onset, accepted=sorted(ok_set), kind=kind,
                                                              losses=losses)
    if value in ok_set:
        return CheckResult(True, why, _solution=why)
    message = (_("{value} is too shallow: the nets up to there still fit.") if value < onset
               else _("{value} is too deep: degradation shows earlier."))
    return CheckResult(False, message.format(value=value) + " " + _("Look for the first depth whose final loss is "
                              "clearly above the best shallower net's."), _solution=why)
