"""Probes of lesson 02 against trusted references: autograd, torch.autograd.functional.jacobian, brute force."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_lab.exercises import lesson02
from resnet_lab.lessons import gradients, jacobians, paths, probing, responses
from resnet_lab.data import synthetic_cifar
from resnet_lab.models import BasicBlock, PreActBlock, ShortcutA, cifar_resnet, residual_blocks


def _batch(n: int = 4, size: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(0, 10, (n,), generator=g)


def _net(depth: int = 14, *, residual: bool = True, width: int = 4, preact: bool = False, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return cifar_resnet(depth, residual=residual, width=width, preact=preact)


# --- surgery -----------------------------------------------------------------------------------------
def test_without_batchnorm_copies_and_removes_every_bn() -> None:
    model = _net()
    clone = probing.without_batchnorm(model)
    assert probing.has_batchnorm(model) and not probing.has_batchnorm(clone)
    block = clone.layer1[0]
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():  # same weights, BN gone: the branch is conv-relu-conv
        expected = block.conv2(torch.relu(block.conv1(x)))
        assert torch.allclose(block.branch(x), expected)
        assert torch.equal(clone.layer1[0].conv1.weight, model.layer1[0].conv1.weight)


def test_calibrate_batchnorm_sets_the_batch_statistics() -> None:
    model = _net()
    x, _ = _batch()
    seen = {}
    bn = model.layer3[-1].bn2
    handle = bn.register_forward_pre_hook(lambda m, a: seen.__setitem__("x", a[0].detach().clone()))
    probing.calibrate_batchnorm(model, x)
    handle.remove()
    assert not model.training
    ref = seen["x"].transpose(0, 1).flatten(1)
    assert torch.allclose(bn.running_mean, ref.mean(1), atol=1e-6)
    assert torch.allclose(bn.running_var, ref.var(1), rtol=1e-5)  # PyTorch keeps the unbiased variance
    assert bn.momentum == 0.1  # restored


def test_weight_layers_count_equals_depth() -> None:
    for depth in (8, 14, 20):
        assert len(probing.weight_layers(_net(depth))) == depth


# --- gradient norms -------------------------------------------------------------------------------------
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_layer_gradient_norms_hooks_equal_autograd(residual: bool, batchnorm: bool) -> None:
    model = _net(residual=residual)
    if not batchnorm:
        model = probing.without_batchnorm(model)
    x, y = _batch()
    a = gradients.layer_gradient_norms(model, x, y, method="autograd")
    h = gradients.layer_gradient_norms(model, x, y, method="hooks")
    assert a.names == h.names and len(a.norms) == 14
    assert torch.allclose(torch.tensor(a.norms), torch.tensor(h.norms), rtol=1e-4, atol=1e-7)
    # and both equal what .backward() leaves in .grad
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    ref = [m.weight.grad.norm().item() for _, m in probing.weight_layers(model)]
    assert torch.allclose(torch.tensor(a.norms), torch.tensor(ref), rtol=1e-5, atol=1e-8)
    assert a.first_last_ratio == pytest.approx(ref[0] / ref[-1], rel=1e-5)


def test_block_output_gradient_norms_hooks_equal_autograd() -> None:
    model = _net(20)
    x, y = _batch()
    names_a, a = gradients.block_output_gradient_norms(model, x, y, method="autograd")
    names_h, h = gradients.block_output_gradient_norms(model, x, y, method="hooks")
    assert names_a == names_h == [n for n, _ in residual_blocks(model)]
    assert torch.allclose(torch.tensor(a), torch.tensor(h), rtol=1e-5)


def test_bad_method_names_valid_values() -> None:
    x, y = _batch()
    with pytest.raises(ValueError, match="autograd"):
        gradients.layer_gradient_norms(_net(), x, y, method="finite-differences")  # type: ignore[arg-type]


def test_gradient_run_step_zero_is_init_and_steps_change_weights() -> None:
    torch.manual_seed(1)
    batches = [_batch(seed=s) for s in range(3)]
    run = gradients.GradientRun(14, residual=True, batchnorm=True, batches=batches, width=4, lr=0.05)
    init = run.after(0)
    fresh = probing.make_net(14, residual=True, batchnorm=True, width=4, seed=0)
    ref = gradients.layer_gradient_norms(fresh, *batches[0])
    assert torch.allclose(torch.tensor(init.norms), torch.tensor(ref.norms), rtol=1e-5)
    later = run.after(2)
    assert len(run.history) == 3 and later.norms != init.norms
    # step 1 measures at the weights after one SGD step (momentum 0.9, weight decay 1e-4) on batch 0
    ref_opt = torch.optim.SGD(fresh.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    F.cross_entropy(fresh(batches[0][0]), batches[0][1]).backward()
    ref_opt.step()
    ref1 = gradients.layer_gradient_norms(fresh, *batches[1])
    assert torch.allclose(torch.tensor(run.after(1).norms), torch.tensor(ref1.norms), rtol=1e-4)
    assert run.after(1).loss == pytest.approx(ref1.loss, rel=1e-5)
    with pytest.raises(ValueError, match="between 0 and 2"):
        run.after(3)


def test_overflow_is_reported_not_hidden() -> None:
    result = gradients.LayerGradients(("a", "b"), (float("inf"), 1.0), 2.0)
    assert not result.finite and math.isnan(result.first_last_ratio)


# --- Jacobians --------------------------------------------------------------------------------------
def _calibrated_block(cls: type, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    block = cls(4, 4)
    for m in block.modules():  # non-trivial BN so that eval-mode BN is not the identity
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return probing.calibrate_batchnorm(block, torch.randn(8, 4, 5, 5))


def test_preact_block_jacobian_is_identity_plus_branch() -> None:
    block = _calibrated_block(PreActBlock)
    x = torch.randn(1, 4, 5, 5)
    J = jacobians.block_jacobians(block, x)
    eye = torch.eye(x.numel())
    assert torch.allclose(J["block"], eye + J["branch"], atol=1e-5)
    assert torch.allclose(J["shortcut"], eye)
    assert not torch.allclose(J["branch"], torch.zeros_like(J["branch"]))


def test_basic_block_jacobian_is_relu_mask_times_identity_plus_branch() -> None:
    block = _calibrated_block(BasicBlock)
    x = torch.randn(1, 4, 5, 5)
    J = jacobians.block_jacobians(block, x)
    eye = torch.eye(x.numel())
    assert torch.allclose(J["sum"], eye + J["branch"], atol=1e-5)
    with torch.no_grad():
        mask = ((block.shortcut(x) + block.branch(x)) > 0).float().flatten()
    assert 0 < mask.sum() < mask.numel()  # the ReLU really cuts something
    assert torch.allclose(J["block"], torch.diag(mask) @ (eye + J["branch"]), atol=1e-5)


def test_jacobian_with_shape_changing_shortcut() -> None:
    torch.manual_seed(0)
    block = probing.calibrate_batchnorm(BasicBlock(4, 8, 2, ShortcutA(4, 8, 2)), torch.randn(8, 4, 6, 6))
    x = torch.randn(1, 4, 6, 6)
    J = jacobians.block_jacobians(block, x)
    assert J["sum"].shape == (8 * 3 * 3, 4 * 6 * 6)
    assert torch.allclose(J["sum"], J["shortcut"] + J["branch"], atol=1e-5)


def test_block_jacobians_refuse_train_mode() -> None:
    with pytest.raises(ValueError, match="eval"):
        jacobians.block_jacobians(BasicBlock(4, 4).train(), torch.randn(1, 4, 3, 3))


def test_singular_values_match_full_svd() -> None:
    J = torch.randn(20, 12)
    assert torch.allclose(jacobians.singular_values(J), torch.linalg.svd(J).S, atol=1e-5)
    with pytest.raises(ValueError, match="inf or nan"):
        jacobians.singular_values(torch.tensor([[float("nan")]]))


# --- responses ---------------------------------------------------------------------------------------
def test_response_stds_equal_branch_output_std() -> None:
    model = probing.calibrate_batchnorm(_net(14), _batch()[0])
    x, _ = _batch(seed=3)
    names, stds = responses.response_stds(model, x)
    inputs = probing.block_inputs(model, x)
    with torch.no_grad():
        ref = [b.branch(inputs[n]).std().item() for n, b in residual_blocks(model)]
    assert names == [f"{n}.bn2" for n, _ in residual_blocks(model)]
    assert torch.allclose(torch.tensor(stds), torch.tensor(ref), rtol=1e-5)
    names_all, stds_all = responses.response_stds(model, x, layers="all")
    assert len(names_all) == 2 * len(names) and stds_all[1::2] == pytest.approx(stds)
    with pytest.raises(ValueError, match="branch"):
        responses.response_stds(model, x, layers="every")  # type: ignore[arg-type]


# --- the -1 correction ----------------------------------------------------------------------------
def test_branch_scale_minus_one_cancels_the_gradient() -> None:
    sweep = jacobians.branch_scale_sweep([0.0, -0.5, -1.0, 1.0], blocks=5)
    for s, d in zip(sweep.scales, sweep.branch_diag):
        assert d == pytest.approx(s, abs=0.05)  # dF/dx is close to scale * I
    assert sweep.block_gain[0] == pytest.approx(1.0)  # no branch: the identity passes everything
    assert sweep.block_gain[2] < 0.25 * sweep.block_gain[1]  # -1 cancels the +1 (up to the noise)
    assert sweep.stack_gain[2] < 1e-4 < sweep.stack_gain[1]
    # Cross-check one gain with the explicit Jacobian: ||J^T g|| / ||g||.
    block = jacobians.ScaledBranchBlock(4, -0.5, seed=0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 6, 6, generator=gen)
    g = torch.randn(1, 4, 6, 6, generator=gen)
    J = jacobians.jacobian(block, x)
    assert (J.T @ g.flatten()).norm() / g.norm() == pytest.approx(sweep.block_gain[1], rel=1e-4)


# --- paths --------------------------------------------------------------------------------------------
def test_path_counts_are_binomial_by_enumeration() -> None:
    import itertools

    for n in range(0, 9):
        counts = [0] * (n + 1)
        for choice in itertools.product((0, 1), repeat=n):
            counts[sum(choice)] += 1
        assert paths.path_counts(n) == counts
        assert sum(paths.path_counts(n)) == 2**n
    with pytest.raises(ValueError, match="non-negative"):
        paths.path_counts(-1)


@pytest.mark.parametrize("preact", [False, True])
def test_paths_sum_to_autograd_gradient_and_dp_matches_brute_force(preact: bool) -> None:
    model = probing.calibrate_batchnorm(_net(14, preact=preact), _batch()[0])
    x, y = _batch(n=1, seed=5)
    result = paths.network_path_gradients(model, x, y)
    assert result.blocks == 6 and len(result.by_length) == 7
    assert result.max_error < 1e-4  # sum over path lengths == the real network's gradient (autograd)

    # Brute force: all 2^6 paths one by one, grouped by length, equal the DP's sums.
    blocks = [b for _, b in residual_blocks(model)]
    first = next(iter(probing.block_inputs(model, x).values()))
    g = torch.randn_like(model.layer3(model.layer2(model.layer1(first))))
    dp = paths.path_gradients_by_length(blocks, first, g)
    brute = paths.path_gradients_brute_force(blocks, first, g)
    assert len(brute) == 2**6
    for k in range(7):
        group = [v for c, v in brute.items() if sum(c) == k]
        assert len(group) == math.comb(6, k)
        assert torch.allclose(torch.stack(group).sum(0), dp[k], atol=1e-5 * dp[k].abs().max().item() + 1e-7)
    # and everything together is the ordinary vector-Jacobian product of the stack
    h0 = first.clone().requires_grad_(True)
    out = h0
    for b in blocks:
        out = b(out)
    (ref,) = torch.autograd.grad(out, h0, g)
    assert torch.allclose(torch.stack(list(brute.values())).sum(0), ref, atol=1e-5 * ref.abs().max().item())


def test_path_decomposition_of_a_linear_net_matches_expanded_product() -> None:
    # Linear residual "blocks" x -> x + A x: the contribution of paths of length k is e_k(A^T...) g,
    # checked against the explicit sum over subsets of matrix products.
    torch.manual_seed(0)
    model = probing.calibrate_batchnorm(probing.without_batchnorm(_net(8, preact=True)), _batch()[0])
    blocks = [b for _, b in residual_blocks(model)][:1]  # one stride-1 block: D = I
    x = torch.randn(1, 4, 5, 5)
    g = torch.randn(1, 4, 5, 5)
    dp = paths.path_gradients_by_length(blocks, x, g)
    JF = jacobians.jacobian(blocks[0].branch, x)
    assert torch.allclose(dp[0].flatten(), g.flatten())
    assert torch.allclose(dp[1].flatten(), JF.T @ g.flatten(), atol=1e-5)


def test_plain_blocks_refuse_path_decomposition() -> None:
    model = _net(8, residual=False)
    with pytest.raises(ValueError, match="residual=True"):
        paths.path_gradients_by_length([b for _, b in residual_blocks(model)], torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4))


# --- checkers ---------------------------------------------------------------------------------------
def test_checkers_compute_their_answers() -> None:
    assert lesson02.check_path_count(math.comb(54, 27), 54, 27)
    assert not lesson02.check_path_count(54, 54, 27)
    assert lesson02.check_stack_gradient(0.5**10, -0.5, 10)
    assert not lesson02.check_stack_gradient(1.0, -0.5, 10)
    assert lesson02.check_cancelling_scale(-0.5, 2.0)
    assert not lesson02.check_cancelling_scale(-1.0, 2.0)
    assert not lesson02.check_path_count("many", 3, 1)  # type: ignore[arg-type]


# --- widget -----------------------------------------------------------------------------------------
def test_gradient_widget_controls_drive_the_plot() -> None:
    import dataclasses

    import matplotlib.pyplot as plt

    from resnet_lab.data import synthetic_cifar
    from resnet_lab.profiles import get_profile
    from resnet_lab.widgets.gradients import make_gradient_widget

    base = get_profile("quick")
    small = dataclasses.replace(base.gradients, width=4, train_steps=2, max_depth=20)
    profile = dataclasses.replace(base, gradients=small)
    data = synthetic_cifar(64, 10)
    box = make_gradient_widget(profile, data, depth=8)
    explorer, c = box.explorer, box.controls
    assert c["depth"].max == 20 and c["depth"].step == 6
    first = explorer.last
    assert first.depth == 8 and first.residual and first.steps == 0
    c["depth"].value = 14
    c["net"].value = "plain"
    c["when"].value = "after k steps"
    view = explorer.last
    assert (view.depth, view.residual, view.steps) == (14, False, 2)
    assert len(view.gradients.norms) == 14 and "synthetic" in view.figure.axes[0].get_title()
    # the plotted curve is the measured gradient norms, and the ratio is first / last
    ydata = view.figure.axes[0].lines[0].get_ydata()
    assert list(ydata) == pytest.approx(view.gradients.norms)
    assert view.ratio == pytest.approx(view.gradients.norms[0] / view.gradients.norms[-1])
    # the same setting again comes from the cache and gives the same numbers
    c["batchnorm"].value = False
    c["batchnorm"].value = True
    assert explorer.last.gradients == view.gradients
    with pytest.raises(ValueError, match="6n\\+2"):
        explorer.compute(15, "plain", True, "at init")
    with pytest.raises(ValueError, match="residual"):
        explorer.compute(14, "highway", True, "at init")
    plt.close("all")


def test_stage_spectra_follow_the_chain_rule() -> None:
    torch.manual_seed(0)
    stage = nn.Sequential(_calibrated_block(BasicBlock), _calibrated_block(BasicBlock))
    x = torch.randn(1, 4, 5, 5)
    per_block, whole = jacobians.stage_spectra(stage, x)
    J1 = jacobians.jacobian(stage[0], x)
    J2 = jacobians.jacobian(stage[1], stage[0](x).detach())
    assert torch.allclose(per_block[0], jacobians.singular_values(J1))
    assert torch.allclose(per_block[1], jacobians.singular_values(J2))
    assert torch.allclose(whole, jacobians.singular_values(J2 @ J1), atol=1e-4)


def test_response_experiment_measures_what_response_stds_measures() -> None:
    data = synthetic_cifar(64, 8, seed=0)
    exp = responses.response_experiment(data, (8,), width=2, iters=2, batch=4)
    assert set(exp.runs) == {(8, False), (8, True)}
    assert exp.lr == pytest.approx(0.1 * 4 / 128)
    for (depth, residual), run in exp.runs.items():
        assert len(run.losses) == 2 and len(run.stds) == 3  # 3 blocks in a depth-8 net
        assert run.stds == responses.response_stds(run.model, exp.measure_x)[1]
        assert run.model.residual == residual and run.gamma_move >= 0


def test_train_briefly_steps_once_per_batch_and_stops_at_a_non_finite_loss() -> None:
    batches = [_batch(seed=s) for s in range(4)]
    net = _net(8)
    before = net.conv1.weight.detach().clone()
    losses = responses.train_briefly(net, batches, lr=0.05)
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    assert not torch.equal(before, net.conv1.weight)
    blown = responses.train_briefly(_net(8), batches * 5, lr=1e12)
    assert not math.isfinite(blown[-1]) and all(math.isfinite(v) for v in blown[:-1]) and len(blown) < 20
