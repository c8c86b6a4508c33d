"""DDP through the command line: two gloo processes on the CPU end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch.distributed as dist

from resnet_lab.train import TrainConfig, make_model, state_digest

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed with gloo")


def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    args = ["--synthetic", "--n-train", "320", "--n-test", "64", "--n-val", "64", "--model", "resnet20", "--width", "4",
            "--batch-size", "32", "--epochs", "2", "--max-iters", "12", "--no-progress", "--keep-last",
            "--digest-dir", str(tmp_path), "--history-json", str(tmp_path / "history.json")]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "resnet_lab.train", *args]
    env = os.environ | {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # gloo on the CPU
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    digests = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [d["world_size"] for d in digests] == [2, 2]
    # --keep-last: no rank reloads a shared checkpoint, so equal weights come from DDP's gradient all-reduce
    assert digests[0]["digest"] == digests[1]["digest"]
    init = make_model(TrainConfig(model="resnet20", width=4, seed=0))
    assert digests[0]["digest"] != state_digest(init)  # and training did change them
    history = json.loads((tmp_path / "history.json").read_text())["history"]
    assert history["meta"]["world_size"] == 2 and history["step"] == [8, 12]
    # 256 training images, 2 ranks x 16 images per step: 8 steps per epoch, each rank seeing 128 images
    assert history["meta"]["steps_per_epoch"] == 8
    assert "epoch   1/2" in proc.stdout and proc.stdout.count("epoch   2/2") == 1  # only rank 0 prints
