"""Test-wide settings: the quick profile, no downloads, few threads, a headless matplotlib."""

from __future__ import annotations

import os

os.environ.setdefault("RESNET_LAB_PROFILE", "quick")
os.environ["RESNET_LAB_DOWNLOAD"] = "0"  # tests never download

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # for this test process only; notebooks' kernels keep their inline backend
