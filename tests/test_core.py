"""The training core: one step equals the textbook step, the loop's hook records and stops, evaluation restores mode."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from resnet_lab.models import cifar_resnet
from resnet_lab.train.core import evaluate_batches, train_loop, train_step


def _net() -> nn.Module:
    torch.manual_seed(0)
    return cifar_resnet(8, width=4)


def test_train_step_equals_a_hand_written_step() -> None:
    a, b = _net(), _net()
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    opt_a = torch.optim.SGD(a.parameters(), lr=0.5, momentum=0.9)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9)
    loss, logits = train_step(a, x, y, opt_a, lr=0.1)
    out = b(x)
    ref = F.cross_entropy(out, y)
    opt_b.zero_grad()
    ref.backward()
    opt_b.step()
    assert torch.allclose(loss, ref.detach()) and torch.allclose(logits, out.detach())
    assert opt_a.param_groups[0]["lr"] == 0.1
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(pa.float(), pb.float()), name


def test_train_loop_schedule_hook_and_early_stop() -> None:
    net = _net()
    batches = [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))) for _ in range(10)]
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    seen: list[tuple[int, float]] = []

    def hook(rec):  # stop after the third step
        seen.append((rec.step, rec.lr))
        return rec.step == 3

    done = train_loop(net, iter(batches), opt, steps=8, lr_at=lambda s: 0.01 * (s + 1), on_step=hook)
    assert done == 3 and seen == [(1, 0.01), (2, 0.02), (3, 0.03)]
    assert train_loop(net, iter(batches), opt, steps=5, start_step=2) == 5  # 3 more steps, then the limit


def test_evaluate_batches_matches_a_manual_pass_and_restores_mode() -> None:
    net = _net()
    net.train()
    x, y = torch.randn(12, 3, 32, 32), torch.randint(0, 10, (12,))
    before = copy.deepcopy(net.state_dict())
    loss, acc, n = evaluate_batches(net, [(x[:5], y[:5]), (x[5:], y[5:])])
    assert net.training and n == 12
    net.eval()
    with torch.no_grad():
        out = net(x)
    assert abs(loss - F.cross_entropy(out, y).item()) < 1e-5
    assert acc == (out.argmax(1) == y).float().mean().item()
    for k, v in before.items():  # evaluation changed no BN statistic
        assert torch.equal(v, net.state_dict()[k]), k
