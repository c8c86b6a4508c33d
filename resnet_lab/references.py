"""Reference results: what a longer, recorded run of a lesson looks like, drawn faintly beside the learner's own.

A learner whose run is short or noisy still sees what the experiment gives with more budget. Each
reference is one small JSON file in ``resnet_lab/reference_data/`` (shipped with the package, so it
is there on Colab too) holding the results and their provenance: the profile, the data, the
hardware, the torch version, the date, the seeds, the wall time and the command that regenerates it:

    python -m resnet_lab.references record --profile cpu            # every lesson
    python -m resnet_lab.references record --profile cpu lesson01   # one

Recording needs no notebook; it calls the same package functions the lessons call.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import store
from .data import show
from .i18n import N_, _, display_width, ljust

__all__ = ["REFERENCE_DIR", "LESSONS", "Reference", "load", "save", "provenance", "reference_path",
           "reference_note", "reference_caption"]

REFERENCE_DIR = Path(__file__).with_name("reference_data")
LESSONS: tuple[str, ...] = ("lesson01", "lesson02", "lesson04", "lesson05")


@dataclass(frozen=True)
class Reference:
    """One recorded result: ``results`` (lesson-specific, plain JSON types) and ``provenance``."""

    lesson: str
    profile: str
    results: dict[str, Any]
    provenance: dict[str, Any]

    def caption(self) -> str:
        """One line for a legend or a printout: whose run this is, on what, when (in the learner's language)."""
        p = self.provenance
        seeds = p.get("seeds")
        seeds_txt = ((_(", {n} seed") if len(seeds) == 1 else _(", {n} seeds")).format(n=len(seeds))
                     if seeds else "")
        return _("reference: {profile} profile, {data}{seeds}, {hardware}, torch {torch}, {date}").format(
            profile=p["profile"], data=show(p["data"]), seeds=seeds_txt, hardware=p["hardware"], torch=p["torch"],
            date=p["date"])

    def describe(self) -> str:
        """Every provenance field, one per line (printed by the lessons under a reference plot)."""
        names = {k: _(_FIELD_NAMES[k]) if k in _FIELD_NAMES else k for k in self.provenance}
        width = max(display_width(n) for n in names.values())
        return "\n".join(f"{ljust(names[k], width)} : {show(v) if k == 'data' else v}"
                         for k, v in self.provenance.items())


# The provenance fields as :meth:`Reference.describe` names them (the keys stay English in the files).
_FIELD_NAMES = {"profile": N_("profile"), "data": N_("data"), "hardware": N_("hardware"), "torch": N_("torch"),
                "date": N_("date"), "seeds": N_("seeds"), "wall_seconds": N_("wall_seconds"),
                "command": N_("command")}



def _check_lesson(lesson: str) -> None:
    if lesson not in LESSONS:
        raise ValueError(f"unknown lesson {lesson!r}; references exist for {', '.join(LESSONS)}")


def reference_path(lesson: str, profile: str, folder: str | Path | None = None) -> Path:
    """Where the reference of ``lesson`` recorded in ``profile`` lives."""
    _check_lesson(lesson)
    from .profiles import PROFILE_NAMES

    if profile not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILE_NAMES)}")
    return Path(folder or REFERENCE_DIR) / f"{lesson}_{profile}.json"


def hardware() -> str:
    """The device a reference was recorded on, in words."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cores = torch.get_num_threads()
    return f"CPU {platform.machine()}, {cores} thread{'s' if cores != 1 else ''}"


def provenance(*, profile: str, data: str, seeds: list[int] | tuple[int, ...], wall_seconds: float,
               command: str) -> dict[str, Any]:
    """The provenance fields every reference carries."""
    return {
        "profile": profile,
        "data": data,
        "hardware": hardware(),
        "torch": torch.__version__.split("+")[0],
        "date": _dt.date.today().isoformat(),
        "seeds": list(seeds),
        "wall_seconds": round(float(wall_seconds), 1),
        "command": command,
    }


_REQUIRED = ("profile", "data", "hardware", "torch", "date", "seeds", "wall_seconds", "command")


def save(lesson: str, profile: str, results: dict[str, Any], prov: dict[str, Any],
         folder: str | Path | None = None) -> Path:
    """Write a reference atomically (refuses one without full provenance)."""
    missing = [k for k in _REQUIRED if k not in prov]
    if missing:
        raise ValueError(f"provenance lacks {', '.join(missing)}")
    path = reference_path(lesson, profile, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    return store.atomic_write_json(path, {"lesson": lesson, "profile": profile, "provenance": prov, "results": results})


def load(lesson: str, profile: str, folder: str | Path | None = None) -> Reference | None:
    """The reference of ``lesson`` for ``profile``, or None when none was recorded for that profile.

    The quick profile has no references of its own; it shows the ``cpu`` ones (a lesson says so in
    the legend through :meth:`Reference.caption`).
    """
    path = reference_path(lesson, profile, folder)
    if not path.is_file() and profile == "quick":
        path = reference_path(lesson, "cpu", folder)
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    return Reference(raw["lesson"], raw["profile"], raw["results"], raw["provenance"])


# --- recording -------------------------------------------------------------------------------------------
def _command(lesson: str, profile: str) -> str:
    return f"python -m resnet_lab.references record --profile {profile} {lesson}"


def _history_dict(h: Any) -> dict[str, Any]:
    keys = ("epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc")
    return {k: list(getattr(h, k)) for k in keys}


def record(lessons: tuple[str, ...] | list[str], profile_name: str, folder: str | Path | None = None) -> list[Path]:
    """Run each lesson's experiment in ``profile_name`` (fresh: no cache is read) and save its reference."""
    import time
    from dataclasses import asdict

    from .data import get_dataset
    from .lessons import degradation, responses
    from .profiles import get_profile

    for lesson in lessons:
        _check_lesson(lesson)
    profile = get_profile(profile_name)
    written: list[Path] = []
    deg_result = None
    deg_data = None

    def lesson01() -> Any:
        nonlocal deg_result, deg_data
        if deg_result is None:
            cfg = degradation.config_from_profile(profile)
            deg_data = get_dataset(profile, n_train=cfg.n_train + cfg.n_val)
            deg_result = degradation.run_degradation_experiment(deg_data, cfg, cache=False, device=profile.device)
        return deg_result

    for lesson in lessons:
        start = time.perf_counter()
        if lesson == "lesson01":
            res = lesson01()
            errs = degradation.final_errors(res)
            results = {
                "config": asdict(res.config),
                "runs": [{k: r[k] for k in ("depth", "kind", "seed", "iters", "train_error", "val_error", "diverged")}
                         for r in res.runs],
                "final": {f"{kind}-{depth}": {k: v for k, v in e.items()} for (depth, kind), e in errs.items()},
                "verdict": degradation.degradation_verdict(res)["sentence"],
            }
            label, seeds, wall = res.data_label, res.config.seeds, res.seconds
        elif lesson == "lesson02":
            res = lesson01()
            assert deg_data is not None
            images = degradation.validation_images(deg_data, res.config, n=min(256, res.config.n_val))
            stds = responses.trained_response_stds(res, images)
            verdict = responses.figure7_verdict(stds, res.data_label)
            results = {"stds": {f"{kind}-{depth}": v for (depth, kind), v in stds.items()},
                       "verdict": verdict["sentence"], "config": asdict(res.config)}
            # the nets are lesson 01's: the wall time is their training plus this measurement
            label, seeds, wall = res.data_label, res.config.seeds, res.seconds + time.perf_counter() - start
        elif lesson == "lesson04":
            from . import train
            from .models import build_model  # noqa: F401  (make_model builds through the registry)

            b = profile.training
            data = get_dataset(profile, n_train=b.n_train, n_test=b.n_test)
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                config = train.recipe(b.model, epochs=b.epochs, batch_size=b.batch_size, n_val=b.n_val,
                                      width=b.width, compile=b.compile, checkpoint_dir=tmp)
                model = train.make_model(config, num_classes=len(data.classes))
                history = train.fit(model, data, config, device=profile.device, progress=False)
            results = {"model": b.model, "history": _history_dict(history), "config": config.to_dict()}
            results["config"].pop("checkpoint_dir", None)
            label, seeds, wall = data.label, (config.seed,), time.perf_counter() - start
        else:  # lesson05
            from .lessons import trained_nets

            b = profile.why
            data = get_dataset(profile, n_train=b.n_train, n_test=b.n_eval)
            import tempfile

            histories = {}
            with tempfile.TemporaryDirectory() as tmp:
                for key, model_name in trained_nets.why_model_names(b).items():
                    __, h, __ = trained_nets.train_or_load(model_name, data, b, device=profile.device, cache_dir=tmp,
                                                         retrain=True, progress=False)
                    histories[key] = _history_dict(h)
            results = {"histories": histories, "models": trained_nets.why_model_names(b), "budget": asdict(b)}
            label, seeds, wall = data.label, (0,), time.perf_counter() - start
        prov = provenance(profile=profile.name, data=label, seeds=seeds, wall_seconds=wall,
                          command=_command(lesson, profile.name))
        written.append(save(lesson, profile.name, results, prov, folder))
        print(f"{lesson}: wrote {written[-1]} ({wall:.0f} s)", flush=True)
    return written


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m resnet_lab.references",
                                     description="Record the reference results the lessons draw beside a learner's run.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="run the lessons' experiments and save their references")
    rec.add_argument("lessons", nargs="*", default=list(LESSONS), help=f"any of {', '.join(LESSONS)} (default: all)")
    rec.add_argument("--profile", default="cpu", help="quick, cpu or gpu (default: cpu)")
    rec.add_argument("--folder", default=None, help="where to write (default: the package's reference_data/)")
    args = parser.parse_args(argv)
    try:
        record(tuple(args.lessons), args.profile, args.folder)
    except ValueError as exc:
        parser.exit(2, f"error: {exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def reference_note(ref: Reference | None, profile_name: str) -> str:
    """What a lesson prints under its figure: the reference's provenance (:meth:`Reference.describe`), or, when
    none was recorded for ``profile_name``, a sentence saying that only the learner's run is drawn
    (in the learner's language)."""
    return ref.describe() if ref is not None else _no_reference(profile_name)


def reference_caption(ref: Reference | None, profile_name: str) -> str:
    """The one-line version of :func:`reference_note`: the reference's caption (:meth:`Reference.caption`), or
    the sentence saying that none was recorded for ``profile_name``."""
    return ref.caption() if ref is not None else _no_reference(profile_name)


def _no_reference(profile_name: str) -> str:
    return _("No reference run was recorded for the {profile!r} profile (the quick profile shows the cpu one): "
             "only your run is drawn.").format(profile=profile_name)
