"""Tests of resnet_lab.train: schedules against torch's schedulers, exact resume, checkpoints, errors, CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from resnet_lab.data import channel_stats, normalize, synthetic_cifar, train_val_split
from resnet_lab.models import cifar_resnet
from resnet_lab.train import (
    SCHEDULES,
    History,
    TrainConfig,
    evaluate,
    final_test,
    fit,
    load_checkpoint,
    lr_at,
    main,
    make_model,
    make_optimizer,
    param_groups,
    recipe,
    resolve_amp,
    save_checkpoint,
    state_digest,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny convolutions run faster on one thread (and do not fight other test processes for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    return synthetic_cifar(320, 64, seed=1)


def tiny(**kw) -> TrainConfig:
    """A config for small fast runs: 256 training + 64 validation images, batches of 32."""
    base = dict(model="resnet20", width=4, epochs=2, batch_size=32, n_val=64, seed=3)
    return replace(TrainConfig(**base), **kw) if kw else TrainConfig(**base)


def small(seed: int = 3) -> nn.Module:
    """A ResNet-8 of width 4 (fit trains any model; the config's name only labels the run)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cifar_resnet(8, width=4)


def quiet_fit(model, data, config, **kw) -> History:
    return fit(model, data, config, progress=False, verbose=False, **kw)


# --- configuration ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, names",
    [
        ({"model": "resnet9"}, "resnet20"),
        ({"batch_size": 0}, "positive integer"),
        ({"epochs": 0}, "positive integer"),
        ({"schedule": "linear"}, "step, onecycle, cosine"),
        ({"amp": "fp8"}, "auto, bf16, fp16, off"),
        ({"loader": "pil"}, "device, torchvision"),
        ({"model": "cifar_resnet18", "width": 8}, "width applies only"),
        ({"momentum": 0.0, "nesterov": True}, "nesterov"),
        ({"label_smoothing": 1.0}, "[0, 1)"),
        ({"schedule": "onecycle", "warmup_epochs": 1.0}, "own warm-up"),
    ],
)
def test_bad_config_names_valid_values(kwargs, names):
    with pytest.raises(ValueError, match=None) as info:
        TrainConfig(**kwargs)
    assert names in str(info.value)


def test_config_round_trips_through_json():
    cfg = tiny(schedule="cosine", checkpoint_dir="/tmp/x")
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_recipe_per_family():
    assert recipe("resnet56", epochs=10).weight_decay == 1e-4 and recipe("resnet56", epochs=10).schedule == "step"
    r18 = recipe("cifar_resnet18", epochs=10, width=8)
    assert (r18.weight_decay, r18.schedule, r18.width) == (5e-4, "cosine", None)
    assert recipe("resnet110", epochs=10).warmup_epochs == 1.0
    assert recipe("resnet20", epochs=10, lr=0.05).lr == 0.05


def test_make_model_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = make_model(tiny()), make_model(tiny())
    assert torch.equal(state, torch.random.get_rng_state())
    assert state_digest(a) == state_digest(b) != state_digest(make_model(tiny(seed=4)))
    assert a.conv1.out_channels == 4


# --- schedules: compared with torch.optim.lr_scheduler ---------------------------------------
def _torch_lrs(make_sched, total: int, base_lr: float) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base_lr, momentum=0.9)
    sched = make_sched(opt)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@pytest.mark.parametrize("total", [64, 101])
def test_schedules_match_torch_schedulers(total):
    from torch.optim.lr_scheduler import CosineAnnealingLR, MultiStepLR, OneCycleLR

    lr = 0.1
    refs = {
        "step": _torch_lrs(lambda o: MultiStepLR(o, [round(total * 32 / 64), round(total * 48 / 64)], 0.1), total, lr),
        "cosine": _torch_lrs(lambda o: CosineAnnealingLR(o, T_max=total), total, lr),
        "onecycle": _torch_lrs(lambda o: OneCycleLR(o, max_lr=lr, total_steps=total, cycle_momentum=False), total, lr),
    }
    assert set(refs) == set(SCHEDULES)
    for name, ref in refs.items():
        ours = [lr_at(s, total, base_lr=lr, schedule=name) for s in range(total)]
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-12), name


def test_paper_step_schedule_in_iterations():
    # 64k iterations: 0.1 until 32k, 0.01 until 48k, then 0.001 (He et al. 2015, section 4.2)
    lrs = {s: lr_at(s, 64_000, base_lr=0.1) for s in (0, 31_999, 32_000, 47_999, 48_000, 63_999)}
    assert lrs == pytest.approx({0: 0.1, 31_999: 0.1, 32_000: 0.01, 47_999: 0.01, 48_000: 0.001, 63_999: 0.001})


def test_warmup_ramps_linearly_to_the_schedule():
    assert lr_at(0, 100, base_lr=0.1, warmup_steps=10) == pytest.approx(0.01)
    assert lr_at(5, 100, base_lr=0.1, warmup_steps=10) == pytest.approx(0.01 + 0.09 * 0.5)
    assert lr_at(10, 100, base_lr=0.1, warmup_steps=10) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="step, onecycle, cosine"):
        lr_at(0, 10, base_lr=0.1, schedule="exp")


# --- optimiser -------------------------------------------------------------------------------
def test_param_groups_keep_decay_off_bn_and_bias():
    model = make_model(tiny())
    groups = param_groups(model, 1e-4, decay_bn_and_bias=False)
    # reference: the parameters of BatchNorm modules and every bias, found by module type and name
    bn_or_bias = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    bn_or_bias |= {id(p) for n, p in model.named_parameters() if n.endswith("bias")}
    assert {id(p) for p in groups[1]["params"]} == bn_or_bias and groups[1]["weight_decay"] == 0.0
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.parameters()} - bn_or_bias
    assert len(param_groups(model, 1e-4)) == 1
    opt = make_optimizer(model, tiny(nesterov=True, decay_bn_and_bias=False))
    assert opt.defaults["nesterov"] and len(opt.param_groups) == 2


def test_resolve_amp():
    cpu = torch.device("cpu")
    assert resolve_amp("auto", cpu) is None and resolve_amp("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="CUDA"):
        resolve_amp("fp16", cpu)


# --- evaluation ------------------------------------------------------------------------------
def test_evaluate_matches_a_plain_forward_pass(data):
    model = make_model(tiny()).eval()
    mean, std = channel_stats(data.x_train)
    res = evaluate(model, data.x_test, data.y_test, mean=mean, std=std, device="cpu", batch_size=20)
    with torch.no_grad():
        logits = model(normalize(data.x_test, mean, std))
    assert torch.allclose(res.logits, logits, atol=1e-5)
    assert res.loss == pytest.approx(nn.functional.cross_entropy(logits, data.y_test).item(), rel=1e-5)
    assert res.accuracy == pytest.approx((logits.argmax(1) == data.y_test).double().mean().item())
    assert torch.allclose(res.probs.sum(1), torch.ones(res.n))


# --- fit -------------------------------------------------------------------------------------
def test_fit_learns_uses_val_split_and_never_the_test_set(data):
    cfg = tiny(epochs=3, lr=0.05)
    no_test = replace(data, x_test=None, y_test=None)  # fit must not need the test split at all
    model = small()
    hist = quiet_fit(model, no_test, cfg)
    assert hist.epoch == [1, 2, 3] and len(hist.val_acc) == 3
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert hist.meta["n_train"] == len(data.y_train) - cfg.n_val
    train_idx, _ = train_val_split(len(data.y_train), cfg.n_val, seed=cfg.split_seed)
    assert hist.meta["mean"] == pytest.approx(list(channel_stats(data.x_train[train_idx])[0]))
    assert hist.step[-1] == 3 * ((len(data.y_train) - cfg.n_val) // cfg.batch_size)
    json.dumps(hist.to_dict())  # plain types only
    assert History.from_dict(hist.to_dict()) == hist
    # restore_best: the model now holds the best validation epoch's weights
    mean, std = hist.meta["mean"], hist.meta["std"]
    _, val_idx = train_val_split(len(data.y_train), cfg.n_val, seed=cfg.split_seed)
    val = evaluate(model, data.x_train[val_idx], data.y_train[val_idx], mean=mean, std=std, device="cpu")
    assert val.accuracy == pytest.approx(hist.best_val_acc)
    test = final_test(model, data, hist, verbose=False)
    assert test.n == len(data.y_test)


def test_max_iters_caps_the_run_and_fits_the_schedule(data):
    cfg = tiny(epochs=5)
    hist = quiet_fit(small(), data, cfg, max_iters=10)
    assert hist.epoch == [1, 2] and hist.step == [8, 10] and hist.meta["total_steps"] == 10
    assert hist.lr[-1] == pytest.approx(lr_at(9, 10, base_lr=cfg.lr))


def test_interrupted_run_resumes_exactly(tmp_path, data):
    """Ctrl-C after epoch 1 and again in the middle of epoch 2: the resumed run ends where an uninterrupted one does."""
    cfg = tiny(epochs=2)
    ref_model = small()
    ref = quiet_fit(ref_model, data, cfg, restore_best=False)

    ck = tiny(epochs=2, checkpoint_dir=str(tmp_path))

    def stop_after_first(h: History) -> None:
        if len(h) == 1:
            raise KeyboardInterrupt

    h1 = quiet_fit(small(), data, ck, on_epoch_end=stop_after_first, restore_best=False)
    assert h1.meta["interrupted"] and h1.epoch == [1]
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1

    # second interruption: in the middle of epoch 2, inside a training forward pass
    model = small()
    calls = {"n": 0}

    def bomb(module, inputs):
        if module.training:
            calls["n"] += 1
            if calls["n"] == 4:
                raise KeyboardInterrupt

    handle = model.register_forward_pre_hook(bomb)
    h2 = quiet_fit(model, data, ck, restore_best=False)
    handle.remove()
    state = load_checkpoint(tmp_path / "last.pt")
    assert h2.meta["interrupted"] and (state["epoch"], state["batch"]) == (1, 3)

    model = small(seed=99)  # another initialisation: everything must come from the file
    h3 = quiet_fit(model, data, ck, restore_best=False)
    assert h3.meta["resumed_from"] == [[1, 0], [1, 3]]
    assert h3.epoch == ref.epoch and h3.step == ref.step
    assert h3.train_loss == pytest.approx(ref.train_loss, rel=1e-5)
    assert h3.val_acc == pytest.approx(ref.val_acc)
    for (name, a), b in zip(model.state_dict().items(), ref_model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), name


def test_more_epochs_resume_from_last_checkpoint(tmp_path, data):
    cfg = tiny(epochs=1, checkpoint_dir=str(tmp_path))
    h1 = quiet_fit(small(), data, cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]  # no temporary file left
    h2 = quiet_fit(small(), data, replace(cfg, epochs=2))
    assert h2.epoch == [1, 2] and h2.meta["resumed_from"] == [[1, 0]]
    assert h2.train_loss[0] == h1.train_loss[0] and h2.val_acc[0] == h1.val_acc[0]
    state = torch.load(tmp_path / "last.pt", weights_only=True)  # plain types only
    assert state["epoch"] == 2 and state["history"]["epoch"] == [1, 2]
    # a finished run does not train again
    h3 = quiet_fit(small(), data, replace(cfg, epochs=2))
    assert h3.epoch == [1, 2]
    with pytest.raises(ValueError, match="model: 'resnet20' -> 'resnet32'"):
        quiet_fit(small(), data, tiny(model="resnet32", checkpoint_dir=str(tmp_path)))


def test_corrupt_or_foreign_checkpoint_gives_a_clear_error(tmp_path, data):
    (tmp_path / "last.pt").write_bytes(b"this is not a checkpoint")
    cfg = tiny(epochs=1, checkpoint_dir=str(tmp_path))
    with pytest.raises(ValueError, match="corrupt"):
        quiet_fit(small(), data, cfg)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "last.pt")
    with pytest.raises(ValueError, match="not a resnet_lab checkpoint"):
        load_checkpoint(tmp_path / "last.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing.pt")
    assert quiet_fit(small(), data, replace(cfg, resume=False), max_iters=1).epoch == [1]  # resume=False starts over


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})

    def broken_save(obj, f, *a, **k):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_bf16_autocast_and_channels_last_on_cpu(data):
    cfg = tiny(epochs=1, amp="bf16", channels_last=True, label_smoothing=0.1)
    model = small()
    hist = quiet_fit(model, data, cfg, max_iters=2)
    assert hist.meta["amp"] == "bfloat16" and hist.meta["channels_last"]
    assert math.isfinite(hist.train_loss[0]) and math.isfinite(hist.val_loss[0])
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_compiled_model_saves_plain_state_dict(tmp_path, data, monkeypatch):
    # torch.compile with the "eager" backend runs the Dynamo graph capture without a C++ compiler
    original = torch.compile
    monkeypatch.setattr(torch, "compile", lambda m, **k: original(m, backend="eager"))
    cfg = tiny(epochs=1, compile=True, checkpoint_dir=str(tmp_path))
    quiet_fit(small(), data, cfg, max_iters=2)
    keys = load_checkpoint(tmp_path / "last.pt")["model"].keys()
    assert keys == small().state_dict().keys()  # no "_orig_mod." prefix


def test_torchvision_loader_path_trains(data):
    cfg = tiny(epochs=1, loader="torchvision", num_workers=0)
    hist = quiet_fit(small(), data, cfg, max_iters=2)
    assert hist.step == [2]


# --- command line ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "resnet9", "--synthetic"], "valid names"),
        (["--batch-size", "0", "--synthetic"], "batch_size must be a positive integer"),
        (["--data-dir", "/nonexistent/resnet_lab_data"], "does not exist and downloading is off"),
        (["--schedule", "exp", "--synthetic"], "step, onecycle, cosine"),
    ],
)
def test_cli_bad_input(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_uses_the_model_recipe_unless_told_otherwise():
    from resnet_lab.train import config_from_argv

    cases = ((["--model", "cifar_resnet18"], (5e-4, "cosine", None)),
             (["--model", "resnet56", "--width", "8"], (1e-4, "step", 8)),
             (["--weight-decay", "0", "--schedule", "onecycle"], (0.0, "onecycle", None)))
    for argv, expected in cases:
        cfg = config_from_argv(argv)
        assert (cfg.weight_decay, cfg.schedule, cfg.width) == expected
    assert config_from_argv(["--model", "resnet110"]).warmup_epochs == 1.0
    assert config_from_argv(["--model", "resnet110", "--warmup-epochs", "0"]).warmup_epochs == 0.0


def test_cli_empty_data_dir_explains_how_to_get_cifar(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--data-dir", str(tmp_path)])
    assert "cifar-10-python.tar.gz" in capsys.readouterr().err


def test_cli_trains_and_reports_test_once(tmp_path):
    out = tmp_path / "h.json"
    rc = main(["--synthetic", "--n-train", "320", "--n-test", "64", "--n-val", "64", "--width", "4",
               "--batch-size", "32", "--epochs", "1", "--max-iters", "2", "--no-progress", "--test",
               "--checkpoint-dir", str(tmp_path / "ck"), "--history-json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["history"]["step"] == [2] and result["test"]["n"] == 64
    assert (tmp_path / "ck" / "last.pt").is_file()


# --- live plot, evaluation figures and checkers ------------------------------------------------
def test_live_plot_updates_one_figure_and_closes_it(data, monkeypatch):
    import IPython.display
    import matplotlib.pyplot as plt

    shown = []

    class Handle:
        def update(self, fig):
            shown.append(("update", fig))

    def fake_display(obj, display_id=False):
        shown.append(("display", obj))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    before = set(plt.get_fignums())
    cfg = tiny(epochs=2)
    quiet_fit(small(), data, cfg, live_plot=True, max_iters=10)
    assert [kind for kind, _ in shown] == ["display", "update", "update"]  # one figure, updated per epoch
    assert len({id(fig) for _, fig in shown}) == 1
    assert set(plt.get_fignums()) == before  # closed at the end


def test_confusion_matrix_and_per_class_accuracy_by_brute_force():
    from resnet_lab.evaluation import confusion_matrix, per_class_accuracy

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (300,), generator=g)
    preds = torch.where(torch.rand(300, generator=g) < 0.6, labels, torch.randint(0, 4, (300,), generator=g))
    cm = confusion_matrix(preds, labels, 4)
    ref = torch.zeros(4, 4, dtype=torch.int64)
    for t, p in zip(labels.tolist(), preds.tolist()):
        ref[t, p] += 1
    assert torch.equal(cm, ref)
    acc = per_class_accuracy(cm)
    for c in range(4):
        assert acc[c].item() == pytest.approx((preds[labels == c] == c).double().mean().item())
    with pytest.raises(ValueError, match=r"0\.\.3"):
        confusion_matrix(preds, labels + 1, 4)


def test_most_confident_wrong_by_brute_force():
    from resnet_lab.evaluation import most_confident_wrong

    g = torch.Generator().manual_seed(1)
    probs = torch.randn(200, 10, generator=g).softmax(1)
    labels = torch.randint(0, 10, (200,), generator=g)
    idx = most_confident_wrong(probs, labels, k=7)
    wrong = [i for i in range(200) if probs[i].argmax() != labels[i]]
    ref = sorted(wrong, key=lambda i: -probs[i].max().item())[:7]
    assert idx.tolist() == ref


def test_evaluation_figures_draw(data):
    import matplotlib.pyplot as plt

    from resnet_lab import evaluation

    g = torch.Generator().manual_seed(2)
    logits = torch.randn(len(data.y_test), 10, generator=g)
    cm = evaluation.confusion_matrix(logits.argmax(1), data.y_test, 10)
    figs = [
        evaluation.plot_confusion_matrix(cm, data.classes, data=data),
        evaluation.plot_per_class_accuracy(evaluation.per_class_accuracy(cm), data.classes, data=data),
        evaluation.plot_confident_wrong(data.x_test, logits.softmax(1), data.y_test, data.classes, k=5, data=data),
        evaluation.plot_lr_schedules(50, 10),
        evaluation.plot_augmentations(data.x_train, n=4, variants=2, data=data),
    ]
    assert "synthetic stand-in" in figs[0].axes[0].get_title()
    assert sum(1 for ax in figs[2].axes if ax.images) == 5  # five wrong images shown
    assert len(figs[3].axes[0].lines) == len(SCHEDULES)
    for fig in figs:
        plt.close(fig)


def test_checkers_compute_their_answers():
    from resnet_lab.exercises.lesson04 import check_no_decay_count, check_paper_epochs, check_selection_split

    assert check_paper_epochs(164) and not check_paper_epochs(182) and not check_paper_epochs(150)
    assert check_paper_epochs(182, n_train=45_000) and "45k split" in str(check_paper_epochs(182))
    model = make_model(tiny())
    n_bn_and_bias = sum(p.numel() for n, p in model.named_parameters() if p.ndim == 1)
    assert check_no_decay_count(n_bn_and_bias, model) and not check_no_decay_count(n_bn_and_bias + 1, model)
    assert check_selection_split("validation") and not check_selection_split("test")
    assert "not one of" in str(check_selection_split("dev"))


# --- issue 14: training never loses or mislabels a learner's results ---------------------------------
def test_resume_refuses_a_run_with_other_settings_or_data(tmp_path, data):
    cfg = tiny(epochs=1, checkpoint_dir=str(tmp_path))
    quiet_fit(small(), data, cfg)
    for change, needle in ((dict(seed=1), "seed: 3 -> 1"), (dict(lr=0.05), "lr: "), (dict(n_val=100), "n_val")):
        with pytest.raises(ValueError, match=needle) as err:
            quiet_fit(small(), data, replace(cfg, **change))
        assert "--checkpoint-dir" in str(err.value) and "--no-resume" in str(err.value)
    other = synthetic_cifar(len(data.y_train), len(data.y_test), seed=7)  # same sizes, other images
    with pytest.raises(ValueError, match="data_fingerprint"):
        quiet_fit(small(), other, cfg)


def test_no_resume_moves_the_earlier_run_aside(tmp_path, data, capsys):
    run = tmp_path / "run"
    cfg = tiny(epochs=1, checkpoint_dir=str(run))
    quiet_fit(small(), data, cfg)
    before = torch.load(run / "last.pt", weights_only=True)["history"]
    fit(small(), data, replace(cfg, resume=False), progress=False, max_iters=1)
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("run.previous-")]
    assert len(moved) == 1 and "moved to" in capsys.readouterr().out
    assert torch.load(moved[0] / "last.pt", weights_only=True)["history"] == before


def test_best_weights_travel_with_their_history(tmp_path, data):
    cfg = tiny(epochs=2, checkpoint_dir=str(tmp_path))
    model = small()
    h = quiet_fit(model, data, cfg)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["best"]["epoch"] == h.best_epoch == h.meta["restored_epoch"]
    for k, v in state["best"]["model"].items():
        assert torch.equal(v, model.state_dict()[k]), k
    # a best.pt deleted by hand changes nothing: the weights that are restored come from last.pt
    (tmp_path / "best.pt").unlink()
    again = small()
    h2 = quiet_fit(again, data, cfg)
    assert h2.meta["restored_epoch"] == h.best_epoch
    assert state_digest(again) == state_digest(model)


def test_a_missing_best_is_said_plainly(tmp_path, data, capsys):
    cfg = tiny(epochs=1, checkpoint_dir=str(tmp_path))
    quiet_fit(small(), data, cfg)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    state["best"] = None  # e.g. written by a version that kept the best weights elsewhere
    save_checkpoint(tmp_path / "last.pt", state)
    h = fit(small(), data, cfg, progress=False)
    assert h.meta["restored_epoch"] is None and "were not saved" in capsys.readouterr().out


def test_stale_temporaries_are_cleaned_and_unwritable_folders_fail_first(tmp_path, data):
    (tmp_path / ".last.pt.abc.tmp").write_bytes(b"half a checkpoint")
    quiet_fit(small(), data, tiny(epochs=1, checkpoint_dir=str(tmp_path)), max_iters=1)
    assert not list(tmp_path.glob(".*.tmp"))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="a_file"):
        quiet_fit(small(), data, tiny(epochs=1, checkpoint_dir=str(blocker / "run")), max_iters=1)


def test_a_diverging_run_stops_with_a_clear_error(tmp_path, data):
    with pytest.raises(FloatingPointError, match="diverged"):
        quiet_fit(small(), data, tiny(epochs=1, lr=1e30, checkpoint_dir=str(tmp_path)))


@pytest.mark.parametrize("argv, needle", [
    (["--synthetic", "--n-train", "0"], "--n-train"),
    (["--synthetic", "--max-iters", "0"], "--max-iters"),
    (["--synthetic", "--model", "resnet18", "--width", "8"], "--width"),
    (["--synthetic", "--n-train", "300", "--n-val", "300"], "--n-val"),
    (["--synthetic", "--n-train", "300", "--batch-size", "512"], "--batch-size"),
    (["--synthetic", "--amp", "fp16"], "fp16"),
])
def test_cli_user_errors_are_one_line_and_exit_2(argv, needle, capsys):
    if "fp16" in argv and torch.cuda.is_available():
        pytest.skip("fp16 is valid on CUDA")
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--epochs", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and needle in err and "Traceback" not in err


def test_cli_defaults_work_together_and_history_path_is_checked_first(tmp_path, capsys):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as exit_:
        main(["--synthetic", "--epochs", "1", "--no-progress", "--history-json", str(blocker / "h.json")])
    assert exit_.value.code == 2 and "--history-json" in capsys.readouterr().err
    out = tmp_path / "h.json"
    code = main(["--synthetic", "--n-train", "1200", "--width", "4", "--epochs", "1", "--no-progress",
                 "--history-json", str(out)])
    assert code == 0 and json.loads(out.read_text())["config"]["n_val"] == 120  # a tenth of 1,200


def test_ctrl_c_inside_a_training_step_resumes_as_the_same_run(tmp_path, data):
    """A real SIGINT arrives after BatchNorm has seen the batch (a forward hook on the last layer): the
    step still completes, so weights, BN buffers (num_batches_tracked included) and history of the
    resumed run equal those of an uninterrupted one."""
    import os
    import signal

    cfg = tiny(epochs=2)
    ref_model = small()
    ref = quiet_fit(ref_model, data, cfg, restore_best=False)
    ck = tiny(epochs=2, checkpoint_dir=str(tmp_path))
    model = small()
    calls = {"n": 0}

    def ctrl_c(module, inputs, output):
        if module.training:
            calls["n"] += 1
            if calls["n"] == 4:
                os.kill(os.getpid(), signal.SIGINT)

    handle = model.fc.register_forward_hook(ctrl_c)
    h1 = quiet_fit(model, data, ck, restore_best=False)
    handle.remove()
    state = load_checkpoint(tmp_path / "last.pt")
    assert h1.meta["interrupted"] and (state["epoch"], state["batch"]) == (0, 4)
    resumed = small(seed=99)
    h2 = quiet_fit(resumed, data, ck, restore_best=False)
    assert h2.step == ref.step and h2.train_loss == pytest.approx(ref.train_loss, rel=1e-5)
    assert h2.val_acc == pytest.approx(ref.val_acc)
    for (name, a), b in zip(resumed.state_dict().items(), ref_model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), name  # buffers included
