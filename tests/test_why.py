"""Tests of lesson 05 (resnet_lab.lessons: evalset, lesions, landscape, preact, trained_nets): lesions, filter-normalised directions, loss slices, checkers."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_lab import plots
from resnet_lab.exercises import lesson05
from resnet_lab.lessons import evalset, landscape, lesions, paths, preact, trained_nets
from resnet_lab.data import synthetic_cifar
from resnet_lab.models import PreActBlock, cifar_resnet, residual_blocks
from resnet_lab.profiles import WhyBudget


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN statistics and affine parameters, so no block is close to the identity by accident."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
            m.weight.data.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
            m.bias.data.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
    return model.eval()


def _net(seed: int = 0, **kwargs: object) -> nn.Module:
    torch.manual_seed(seed)
    return _randomise_bn(cifar_resnet(20, width=4, **kwargs), seed)  # type: ignore[arg-type]


def _zero_branch(model: nn.Module, index: int) -> nn.Module:
    """A copy of ``model`` whose block ``index`` has a branch that outputs exactly zero (eval mode)."""
    twin = copy.deepcopy(model).eval()
    block = residual_blocks(twin)[index][1]
    with torch.no_grad():
        if isinstance(block, PreActBlock):
            block.conv2.weight.zero_()  # the branch ends with conv2
        else:
            block.bn2.weight.zero_()  # the branch ends with bn2: in eval mode 0 * x_hat + 0 = 0
            block.bn2.bias.zero_()
    return twin


X = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))


# --- lesions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"shortcut": "B"}, {"preact": True}], ids=["optionA", "optionB", "preact"])
def test_deleting_a_block_equals_zeroing_its_branch(kwargs: dict) -> None:
    net = _net(**kwargs)
    n = len(residual_blocks(net))
    with torch.no_grad():
        for i in range(n):  # ordinary and downsampling blocks alike
            with lesions.deleted_blocks(net, [i]):
                got = net(X)
            want = _zero_branch(net, i)(X)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_deleting_two_blocks_equals_zeroing_both_branches() -> None:
    net = _net()
    with torch.no_grad(), lesions.deleted_blocks(net, [1, 3]):
        got = net(X)
    want = _zero_branch(_zero_branch(net, 1), 3)(X)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_deleting_a_plain_block_skips_it() -> None:
    net = _net(residual=False)
    skipped = copy.deepcopy(net)
    skipped.layer2 = nn.Sequential(*[b for j, b in enumerate(skipped.layer2) if j != 1])  # layer2.1 is block 4
    with torch.no_grad(), lesions.deleted_blocks(net, [4]):
        got = net(X)
    torch.testing.assert_close(got, skipped(X), rtol=1e-5, atol=1e-6)


def test_deleting_a_plain_downsampling_block_is_the_residual_nets_deletion() -> None:
    plain = _net(residual=False)
    residual = cifar_resnet(20, width=4).eval()
    residual.load_state_dict(plain.state_dict())  # same weights: option A has no parameters
    downsampling = [b.index for b in lesions.block_table(plain) if b.downsampling]
    assert downsampling == [3, 6]
    h = torch.rand(2, 4, 8, 8)  # a block's input: non-negative, it comes out of a ReLU
    with torch.no_grad():
        got = lesions.DeletedBlock(plain.layer2[0])(h)
        want = _zero_branch(residual, 3).layer2[0](h)
    assert got.shape == (2, 8, 4, 4)
    torch.testing.assert_close(got, want)
    with torch.no_grad(), lesions.deleted_blocks(plain, [3]):  # and the net runs with it
        assert plain(X).shape == (3, 10)


def test_blocks_come_back_after_deletion_even_on_error() -> None:
    net = _net()
    before = [id(m) for _, m in residual_blocks(net)]
    with torch.no_grad():
        y0 = net(X)
        with pytest.raises(RuntimeError, match="boom"), lesions.deleted_blocks(net, [0, 5]):
            assert len(residual_blocks(net)) == 7
            raise RuntimeError("boom")
        assert [id(m) for _, m in residual_blocks(net)] == before
        torch.testing.assert_close(net(X), y0)


def test_block_table_marks_downsampling_blocks() -> None:
    table = lesions.block_table(cifar_resnet(32, width=4))
    assert len(table) == 15
    assert [b.index for b in table if b.downsampling] == [5, 10]
    assert table[5].name == "layer2.0" and table[5].stride == 2 and table[5].out_channels == 8


def test_single_block_lesion_matches_deleted_blocks() -> None:
    net = _net()
    ev = evalset.make_eval_set(torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8), torch.arange(20) % 10,
                           mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), label="test data")
    res = lesions.single_block_lesion(net, ev, batch_size=7)
    assert len(res.accuracy) == len(res.loss) == 9
    with torch.no_grad(), lesions.deleted_blocks(net, [2]):
        logits = net(ev.images)
    assert math.isclose(res.loss[2], F.cross_entropy(logits, ev.labels).item(), rel_tol=1e-5)
    assert math.isclose(res.accuracy[2], (logits.argmax(1) == ev.labels).float().mean().item(), rel_tol=1e-6)
    base = F.cross_entropy(net(ev.images), ev.labels).item()
    assert math.isclose(res.baseline_loss, base, rel_tol=1e-5)
    rnd = lesions.random_lesion_study(net, ev, [0, 1, 2], 4, candidates=[0, 1, 2])
    assert rnd.accuracy[0] == [res.baseline_accuracy]
    assert sorted(rnd.accuracy[1]) == sorted(res.accuracy[:3])  # all 3 single sets
    assert len(rnd.sets[2]) == 3


def test_random_lesion_sets_counts() -> None:
    every = lesions.random_lesion_sets(9, 2, 100)
    assert every == list(itertools.combinations(range(9), 2)) and len(every) == math.comb(9, 2)
    drawn = lesions.random_lesion_sets(9, 3, 10, seed=4)
    assert len(drawn) == 10 and len(set(drawn)) == 10
    assert all(len(s) == 3 == len(set(s)) and list(s) == sorted(s) and all(0 <= i < 9 for i in s) for s in drawn)
    assert drawn == lesions.random_lesion_sets(9, 3, 10, seed=4)
    assert drawn != lesions.random_lesion_sets(9, 3, 10, seed=5)
    cand = [0, 2, 4, 6]
    assert all(set(s) <= set(cand) for s in lesions.random_lesion_sets(9, 2, 3, candidates=cand))
    assert lesions.random_lesion_sets(9, 0, 5) == [()]
    assert lesions.random_lesion_sets(4, 4, 5) == [(0, 1, 2, 3)]


def test_path_counts_match_brute_force() -> None:
    n, deleted = 6, {1, 4}
    choices = list(itertools.product((0, 1), repeat=n))  # 1: through the branch of that block
    by_len = [sum(1 for p in choices if sum(p) == length) for length in range(n + 1)]
    assert paths.path_counts(n) == by_len
    alive = [p for p in choices if all(p[i] == 0 for i in deleted)]
    assert paths.surviving_path_counts(n, len(deleted)) == [sum(1 for p in alive if sum(p) == ln) for ln in range(n + 1)]
    assert paths.surviving_path_fraction(n, len(deleted)) == len(alive) / len(choices)


def test_survival_of_paths_by_length_and_retention() -> None:
    n, k = 9, 3
    choices = list(itertools.product((0, 1), repeat=n))
    deleted = (0, 4, 7)
    for length in (1, 2, 5):
        of_len = [q for q in choices if sum(q) == length]
        alive = [q for q in of_len if all(q[i] == 0 for i in deleted)]
        assert paths.surviving_fraction_of_length(n, k, length) == len(alive) / len(of_len)
    # a net whose accuracy above chance follows the length-2 survival curve exactly
    chance = 0.1
    acc = {j: [chance + 0.6 * paths.surviving_fraction_of_length(n, j, 2)] for j in range(5)}
    res = lesions.RandomLesionResult(n, list(range(n)), {j: [()] for j in acc}, acc, "made-up")
    kept = lesions.retention(res, chance)
    assert kept[0] == 1.0 and kept[2] == pytest.approx(math.comb(7, 2) / math.comb(9, 2))
    length, errors = lesions.effective_path_length(res, chance)
    assert length == 2 and errors[2] == pytest.approx(0.0, abs=1e-12) and set(errors) == set(range(1, n + 1))
    with pytest.raises(ValueError, match="not better than chance"):
        lesions.retention(res, 0.9)


def test_lesion_summary_kept_fractions() -> None:
    blocks = [lesions.BlockInfo(i, f"b{i}", 4, 8 if i == 1 else 4, 2 if i == 1 else 1, True) for i in range(3)]
    res = lesions.LesionResult(blocks, 1.0, 0.9, [1.0, 1.0, 1.0], [0.9, 0.1, 0.5], "made-up")
    s = lesions.lesion_summary({"residual": res}, chance=0.1)["residual"]
    assert s["kept_downsampling"] == pytest.approx(0.0)
    assert s["kept_ordinary"] == pytest.approx((1.0 + 0.5) / 2)
    assert s["drop_ordinary"] == pytest.approx(0.2) and s["worst_block"] == 1


def test_clean_shortcut_gaps_on_whole_nets() -> None:
    gaps_pre = preact.clean_shortcut_gaps(_net(preact=True), X)
    gaps_orig = preact.clean_shortcut_gaps(_net(), X)
    assert set(gaps_pre) == set(gaps_orig) == {"layer1", "layer2", "layer3"}
    assert max(gaps_pre.values()) < 1e-6 < min(gaps_orig.values())


# --- loss landscape -----------------------------------------------------------------------------
def test_filter_normalised_direction_has_the_filter_norms_of_the_weights() -> None:
    net = _net()
    d = landscape.filter_normalized_direction(net, seed=3)
    params = dict(net.named_parameters())
    assert set(d) == set(params)
    n_checked = 0
    for name, p in params.items():
        assert d[name].shape == p.shape
        if p.ndim >= 2:
            norms_d = d[name].reshape(p.shape[0], -1).norm(dim=1)
            norms_w = torch.stack([p[i].norm() for i in range(p.shape[0])])
            torch.testing.assert_close(norms_d, norms_w, rtol=1e-5, atol=1e-7)
            assert not torch.allclose(d[name], p)  # a random direction, not the weights
            n_checked += 1
        else:
            assert torch.count_nonzero(d[name]) == 0  # BN and bias: no move
    assert n_checked == 1 + 2 * 9 + 1  # stem conv, two convs per block, classifier
    again = landscape.filter_normalized_direction(net, seed=3)
    other = landscape.filter_normalized_direction(net, seed=4)
    assert all(torch.equal(d[k], again[k]) for k in d)
    assert not torch.equal(d["fc.weight"], other["fc.weight"])


def test_perturbed_moves_and_restores_the_weights() -> None:
    net = _net()
    d1 = landscape.filter_normalized_direction(net, seed=1)
    d2 = landscape.filter_normalized_direction(net, seed=2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with landscape.perturbed(net, [d1, d2], [0.5, -0.25]):
        for name, p in net.named_parameters():
            torch.testing.assert_close(p, before[name] + 0.5 * d1[name] - 0.25 * d2[name])
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])


def _eval_set(n: int = 24) -> evalset.EvalSet:
    """Small 8x8 images (the CIFAR nets pool globally, so any size runs), labels of the first classes."""
    g = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g)
    return evalset.make_eval_set(images, torch.arange(n) % 10, mean=(0.5,) * 3, std=(0.2,) * 3, label="random test images")


def test_slice_at_zero_is_the_loss_of_the_unperturbed_model() -> None:
    net = _net()
    ev = _eval_set()
    with torch.no_grad():
        ref = F.cross_entropy(net(ev.images), ev.labels).item()  # the reference: plain forward pass
    d1 = landscape.filter_normalized_direction(net, seed=1)
    d2 = landscape.filter_normalized_direction(net, seed=2)
    alphas = landscape.slice_coordinates(5)
    s1 = landscape.loss_slice_1d(net, ev, d1, alphas, batch_size=16)
    assert math.isclose(s1.loss[alphas.index(0.0)], ref, rel_tol=1e-5)
    assert max(s1.loss) > ref  # moving by a whole filter norm hurts
    s2 = landscape.loss_slice_2d(net, ev, d1, d2, alphas, [-0.5, 0.0, 0.5], batch_size=16)
    assert len(s2.loss) == 3 and len(s2.loss[0]) == 5
    assert math.isclose(s2.loss[1][2], ref, rel_tol=1e-5)
    for a, b in zip(s2.loss[1], s1.loss):  # the beta = 0 row is the 1-D slice along d1
        assert math.isclose(a, b, rel_tol=1e-5)
    with torch.no_grad():
        assert math.isclose(F.cross_entropy(net(ev.images), ev.labels).item(), ref, rel_tol=1e-6)
    assert landscape.sharpness(s1, radius=1.0) == pytest.approx(
        sum(v - s1.loss[2] for i, v in enumerate(s1.loss) if i != 2) / 4)


def test_slices_use_eval_mode_bn_and_keep_the_mode() -> None:
    net = _net().train()
    ev = _eval_set(8)
    stats = net.layer1[0].bn1.running_mean.clone()
    landscape.loss_slice_1d(net, ev, landscape.filter_normalized_direction(net), [0.0])
    assert net.training  # mode restored
    assert torch.equal(stats, net.layer1[0].bn1.running_mean)  # running statistics untouched


def test_slice_coordinates() -> None:
    c = landscape.slice_coordinates(7, radius=2.0)
    assert len(c) == 7 and c[3] == 0.0 and c[0] == -2.0 and c[-1] == 2.0
    assert c == sorted(c)


# --- pre-activation -------------------------------------------------------------------------------
def test_preact_stage_is_input_plus_sum_of_branches() -> None:
    pre = _net(preact=True)
    orig = _net()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        out, unrolled = preact.unrolled_stage(list(pre.layer1), x)
        manual = x.clone()
        h = x
        for b in pre.layer1:
            manual = manual + b.branch(h)
            h = h + b.branch(h)
    torch.testing.assert_close(out, manual)
    torch.testing.assert_close(unrolled, manual)
    assert preact.shortcut_gap(list(pre.layer1), x) < 1e-6
    assert preact.shortcut_gap(list(orig.layer1), x) > 1e-2


# --- bad input --------------------------------------------------------------------------------------
def test_bad_input_raises_value_error_naming_valid_values() -> None:
    net = _net()
    with pytest.raises(ValueError, match=r"0\.\.8"), lesions.deleted_blocks(net, [9]):
        pass
    with pytest.raises(ValueError, match="distinct"), lesions.deleted_blocks(net, [1, 1]):
        pass
    with pytest.raises(ValueError, match=r"0\.\.4"):
        lesions.random_lesion_sets(4, 5, 3)
    with pytest.raises(ValueError, match="positive"):
        lesions.random_lesion_sets(4, 1, 0)
    with pytest.raises(ValueError, match="odd"):
        landscape.slice_coordinates(4)
    with pytest.raises(ValueError, match="one coefficient per direction"), landscape.perturbed(net, [{}], [1.0, 2.0]):
        pass
    with pytest.raises(ValueError, match="one tensor per parameter"), landscape.perturbed(net, [{"fc.weight": torch.zeros(1)}], [1.0]):
        pass
    with pytest.raises(ValueError, match="uint8"):
        evalset.make_eval_set(torch.zeros(2, 3, 32, 32), torch.zeros(2), mean=(0,) * 3, std=(1,) * 3, label="x")
    with pytest.raises(ValueError, match="no BasicBlock"):
        lesions.block_table(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="identity shortcuts"):
        preact.unrolled_stage(list(net.layer2), torch.randn(1, 4, 8, 8))
    with pytest.raises(ValueError, match=">= 2 dims"):
        landscape.filter_norms(torch.zeros(3))
    with pytest.raises(ValueError, match="0\\.\\.5"):
        lesson05.check_paths_of_length(1, 5, 7)


# --- checkers -----------------------------------------------------------------------------------------
def test_checkers_tell_right_from_wrong() -> None:
    assert lesson05.check_paths_of_length(math.comb(9, 3), 9, 3)
    assert not lesson05.check_paths_of_length(9 * 3, 9, 3)
    assert lesson05.check_surviving_fraction(0.125, 27, 3)
    assert not lesson05.check_surviving_fraction(3 / 27, 27, 3)
    assert not lesson05.check_surviving_fraction("a lot", 27, 3)
    net = _net()
    plain = _net(residual=False)
    proj = _net(shortcut="B")
    assert lesson05.check_deleted_block("the input unchanged", net.layer1[1])
    assert lesson05.check_deleted_block("the input subsampled, with zero channels appended", net.layer2[0])
    assert lesson05.check_deleted_block("the input subsampled, with zero channels appended", plain.layer3[0])
    assert lesson05.check_deleted_block("a learned 1x1 projection of the input", proj.layer2[0])
    assert not lesson05.check_deleted_block("zeros", net.layer1[1])
    assert "not one of the options" in str(lesson05.check_deleted_block("nothing", net.layer1[1]))
    d = landscape.filter_normalized_direction(net)
    norm = d["layer2.1.conv1.weight"][3].norm().item()
    assert lesson05.check_filter_norm(norm, net, d, "layer2.1.conv1.weight", 3)
    assert not lesson05.check_filter_norm(1.0 + norm, net, d, "layer2.1.conv1.weight", 3)
    with pytest.raises(ValueError, match="weight with filters"):
        lesson05.check_filter_norm(1.0, net, d, "bn1.weight", 0)
    assert lesson05.check_clean_shortcut("pre-activation")
    assert not lesson05.check_clean_shortcut("original")


# --- widget and figures --------------------------------------------------------------------------------
def _fake_random_result(name_scale: float) -> lesions.RandomLesionResult:
    ks = [0, 1, 2]
    acc = {k: [name_scale * (0.9 - 0.1 * k + 0.01 * j) for j in range(3 if k else 1)] for k in ks}
    return lesions.RandomLesionResult(9, list(range(9)), {k: [()] * len(acc[k]) for k in ks}, acc, "test data")


def test_random_lesion_widget_redraws_on_slider_change() -> None:
    import matplotlib.pyplot as plt

    from resnet_lab.widgets.why import draw_random_lesion, make_random_lesion_widget

    results = {"residual": _fake_random_result(1.0), "plain": _fake_random_result(0.3)}
    box, slider, drawn = make_random_lesion_widget(results)
    assert slider.min == 0 and slider.max == 2
    slider.value = 2
    assert drawn and drawn[-1]["k"] == 2
    assert drawn[-1]["fraction_of_paths"] == 0.25
    assert drawn[-1]["mean_accuracy"]["residual"] == pytest.approx(results["residual"].mean(2))
    with pytest.raises(ValueError, match=r"0\.\.9"):
        draw_random_lesion(results, 10)
    plt.close("all")


def test_figures_name_the_data() -> None:
    import matplotlib.pyplot as plt

    net = _net()
    ev = _eval_set(10)
    res = lesions.single_block_lesion(net, ev)
    fig = plots.plot_lesion({"residual": res, "plain": res})
    assert ev.label in fig.axes[0].get_title()
    d1, d2 = landscape.filter_normalized_direction(net, seed=1), landscape.filter_normalized_direction(net, seed=2)
    c = landscape.slice_coordinates(3)
    s1 = landscape.loss_slice_1d(net, ev, d1, c)
    s2 = landscape.loss_slice_2d(net, ev, d1, d2, c, c)
    fig = plots.plot_slices({"residual": s1}, {"residual": s2, "plain": s2})
    assert ev.label in fig._suptitle.get_text()  # type: ignore[union-attr]
    plt.close("all")


# --- training cache ------------------------------------------------------------------------------------
def test_train_or_load_caches_the_trained_net(tmp_path) -> None:  # type: ignore[no-untyped-def]
    budget = WhyBudget(depth=20, width=2, train_iters=3, batch=8, n_train=40, n_eval=16, landscape_points_1d=3,
                       landscape_points_2d=3, preact_depth=20, lesion_samples=1, lesion_max_k=1)
    data = synthetic_cifar(40, 1, seed=0)
    m1, h1, cached1 = trained_nets.train_or_load("plain20", data, budget, cache_dir=tmp_path, progress=False)
    m2, h2, cached2 = trained_nets.train_or_load("plain20", data, budget, cache_dir=tmp_path, progress=False)
    assert (cached1, cached2) == (False, True)
    assert h1.step[-1] == 3 and h2.to_dict() == h1.to_dict()
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    assert len(list((tmp_path / trained_nets.CACHE_KIND).glob("plain20-*.pt"))) == 1  # resnet_lab.store's layout
    assert not list(tmp_path.rglob("*.tmp"))
    fresh = cifar_resnet(20, width=2, residual=False)
    assert not all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), m1.state_dict().values()))
    _, _, cached3 = trained_nets.train_or_load("plain20", data, budget, cache_dir=tmp_path, progress=False, retrain=True)
    assert cached3 is False
    other = synthetic_cifar(40, 1, seed=1)  # other images: another key, trained anew
    _, _, cached4 = trained_nets.train_or_load("plain20", other, budget, cache_dir=tmp_path, progress=False)
    assert cached4 is False and len(list((tmp_path / trained_nets.CACHE_KIND).glob("plain20-*.pt"))) == 2


def test_preact_verdict_compares_the_gap_with_sampling_noise():
    from resnet_lab.lessons.preact import PAPER_PREACT_ERRORS, preact_verdict

    small = preact_verdict(0.80, 0.81, 1000, 32, "synthetic stand-in, not CIFAR-10")
    assert not small["resolved"] and "cannot tell" in small["sentence"] and "6.37" in small["sentence"]
    assert small["noise"] == pytest.approx((2 * 0.805 * 0.195 / 1000) ** 0.5)
    big = preact_verdict(0.70, 0.80, 1000, 32, "x")
    assert big["resolved"] and "does tell" in big["sentence"] and "leads by 10.0" in big["sentence"]
    assert PAPER_PREACT_ERRORS[1001][1] < PAPER_PREACT_ERRORS[1001][0]
    with pytest.raises(ValueError, match="n_eval"):
        preact_verdict(0.8, 0.8, 0, 32, "x")
    with pytest.raises(ValueError, match="acc_preact"):
        preact_verdict(0.8, 80.0, 100, 32, "x")
