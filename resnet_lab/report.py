"""What a learner should know about their run: versions, device, profile and data, as plain text."""

from __future__ import annotations

import platform

import torch
import torchvision

from .data import cifar10_present, data_root
from .i18n import _
from .profiles import Profile

__all__ = ["environment_report", "format_report"]


def environment_report(profile: Profile) -> dict[str, str]:
    """Versions, hardware, run profile and which data the lessons will use (the sentences in the learner's language)."""
    if profile.device.type == "cuda":
        hardware = torch.cuda.get_device_name(profile.device)
    else:
        hardware = _("CPU ({processor}, {threads} threads)").format(
            processor=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    present = cifar10_present()
    if not profile.use_real_data:
        data = _("synthetic stand-in (the quick profile never loads CIFAR-10)")
    elif present:
        data = _("CIFAR-10, found in {folder}").format(folder=data_root())
    else:
        data = _("synthetic stand-in: CIFAR-10 is not in {folder} (see 00_start_here for how to get it)").format(
            folder=data_root())
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": str(profile.device),
        "hardware": hardware,
        "profile": profile.name,
        "data": data,
    }


def format_report(report: dict[str, str]) -> str:
    width = max(len(k) for k in report)
    return "\n".join(f"{k:<{width}} : {v}" for k, v in report.items())
