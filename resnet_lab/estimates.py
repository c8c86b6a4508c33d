"""How long a lesson's default run takes on a T4-class GPU: an ESTIMATE from counted FLOPs.

No T4 was measured for this project. The estimate is the training compute of the lesson's runs,
counted layer by layer by :mod:`resnet_lab.arithmetic` (multiply-accumulates of the forward pass,
x2 for FLOPs, x3 for forward + backward), divided by an assumed *effective* throughput:
:data:`T4_EFFECTIVE_TFLOPS`. The T4's peak is 65 TFLOP/s in fp16 on its tensor cores; the small
3x3 convolutions of CIFAR ResNets (16 to 64 channels on 32x32 to 8x8 pixels) use a small
fraction of it. Every number this module returns is labelled an estimate wherever it is shown;
replace the assumption with a measurement (images/s times FLOPs per image) where you have one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .arithmetic import cifar_resnet_cost
from .i18n import _
from .profiles import Profile

__all__ = ["T4_EFFECTIVE_TFLOPS", "COLAB_BUDGET_MINUTES", "RunEstimate", "training_flops", "lesson_estimates",
           "estimates_report"]

T4_EFFECTIVE_TFLOPS = 3.0  # an ASSUMED sustained rate for small CIFAR ResNets with mixed precision, not measured
COLAB_BUDGET_MINUTES = 20.0  # what a lesson's default gpu run should fit in (a free Colab session, one sitting)


@dataclass(frozen=True)
class RunEstimate:
    """The training compute of a lesson's default run and the minutes it would take at an assumed rate."""

    lesson: str
    what: str
    flops: float
    tflops: float = T4_EFFECTIVE_TFLOPS

    @property
    def minutes(self) -> float:
        return self.flops / (self.tflops * 1e12) / 60

    def __str__(self) -> str:
        return _("{lesson}: {what}: {pflop:.2f} PFLOP, about {minutes:.1f} min at an assumed {tflops:g} TFLOP/s "
                 "(an estimate, not a measurement)").format(
            lesson=self.lesson, what=self.what, pflop=self.flops / 1e15, minutes=self.minutes, tflops=self.tflops)


def _lesson(number: str) -> str:
    return _("lesson {number}").format(number=number)


def _macs(depth: int, width: int = 16, size: int = 32) -> int:
    return cifar_resnet_cost(depth, width=width, input_size=size).macs


def training_flops(macs_per_image: float, images: float, *, eval_images: float = 0.0) -> float:
    """FLOPs of training on ``images`` (forward + backward = 3 forward passes) plus evaluating ``eval_images``."""
    return 2.0 * macs_per_image * (3.0 * images + eval_images)


def lesson_estimates(profile: Profile) -> list[RunEstimate]:
    """The estimated compute of each lesson's default run in ``profile`` (lessons 01, 02, 04, 05, 06)."""
    out: list[RunEstimate] = []
    d = profile.degradation
    n_evals = d.cifar_iters // d.eval_every + 1
    flops = 0.0
    for depth in d.cifar_depths:  # plain and residual nets cost the same (option-A shortcuts have no MACs)
        m = _macs(depth, d.cifar_width, d.cifar_image_size)
        flops += 2 * len(d.seeds) * training_flops(m, d.cifar_iters * d.cifar_batch, eval_images=2 * n_evals * d.eval_size)
    out.append(RunEstimate(_lesson("01"), _("{nets} nets x {iterations} iterations").format(
        nets=2 * len(d.cifar_depths) * len(d.seeds), iterations=d.cifar_iters), flops))
    g = profile.gradients
    # Figure 7 measures lesson 01's trained nets (no extra training); the rest are a few probe batches
    probe = sum(_macs(depth, g.width) for depth in range(20, g.max_depth + 1, 6)) * g.batch * 3 * 2
    out.append(RunEstimate(_lesson("02"), _("probes of the depth slider (Figure 7 reuses lesson 01's nets)"),
                           float(probe)))
    t = profile.training
    depth = int(t.model.removeprefix("resnet")) if t.model.removeprefix("resnet").isdigit() else 20
    m = _macs(depth, t.width or 16)
    train_images = t.epochs * (t.n_train - t.n_val)
    out.append(RunEstimate(_lesson("04"), _("{model}, {epochs} epochs of {images:,} images").format(
                               model=t.model, epochs=t.epochs, images=t.n_train - t.n_val),
                           training_flops(m, train_images, eval_images=t.epochs * t.n_val + t.n_test)))
    w = profile.why
    nets = [_macs(w.depth, w.width)] * 2 + [_macs(w.preact_depth, w.width)] * 2
    flops = sum(training_flops(m, w.train_iters * w.batch) for m in nets)
    landscape = (w.landscape_points_1d + w.landscape_points_2d**2) * w.n_eval * 2 * _macs(w.depth, w.width)
    lesions = (w.depth // 2 + w.lesion_samples * w.lesion_max_k) * w.n_eval * 2 * _macs(w.depth, w.width)
    out.append(RunEstimate(_lesson("05"), _("4 nets x {iterations} iterations, loss slices, lesions").format(
                               iterations=w.train_iters),
                           flops + landscape + lesions))
    from .lessons.variants import net_costs

    v = profile.variants
    scale = (v.compare_size / 32) ** 2  # the three nets are fully convolutional: MACs scale with the area
    flops = sum(training_flops(macs * scale, v.compare_steps * v.compare_batch, eval_images=v.n_eval)
                for _name, macs in net_costs().values())
    mnist_fit = v.mnist_n_train - v.mnist_n_train // 10
    flops += training_flops(_macs(20, v.mnist_width, 28), v.mnist_epochs * mnist_fit,
                            eval_images=v.mnist_epochs * (v.mnist_n_train // 10))
    # section 3 reuses lesson 01's residual nets (counted under lesson 01)
    out.append(RunEstimate(_lesson("06"), _("3 nets x {steps} steps at equal compute, "
                                           "MNIST ResNet-20 x {epochs} epochs").format(
                               steps=v.compare_steps, epochs=v.mnist_epochs), flops))
    return out


def estimates_report(profile: Profile) -> str:
    """The estimated minutes of each lesson's default run in ``profile`` (:func:`lesson_estimates`) under a
    header that says they are estimates at an assumed rate, and the time budget they should fit in
    (:data:`COLAB_BUDGET_MINUTES`), in the learner's language."""
    lines = [_("{profile} profile, ESTIMATES at an assumed {tflops:g} TFLOP/s (not measured):").format(
        profile=profile.name, tflops=T4_EFFECTIVE_TFLOPS)]
    lines += [f"  {estimate}" for estimate in lesson_estimates(profile)]
    lines.append(_("a lesson's default run should fit in about {minutes:g} minutes (one Colab sitting)").format(
        minutes=COLAB_BUDGET_MINUTES))
    return "\n".join(lines)
