"""The one store for everything the lessons write to disk: checkpoints, experiment caches, trained nets.

* Writes are atomic: to a temporary file in the target folder, flushed, then ``os.replace``; a crash
  mid-write leaves the previous file (or nothing), never half a file.
* Tensors are read back with ``torch.load(..., weights_only=True)``: a checkpoint cannot run code.
* One key scheme: :func:`settings_key` hashes a kind, the settings that change a result and a
  fingerprint of the data, so a cache written for other data or settings is never read back.
* One place decides folders: :func:`runs_dir` (``$RESNET_LAB_RUNS``, else ``~/.cache/resnet_lab/runs``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .i18n import _

__all__ = [
    "RUNS_ENV",
    "StoreError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_torch_save",
    "read_json",
    "torch_load",
    "fingerprint",
    "settings_key",
    "runs_dir",
    "choose_runs_dir",
    "cache_path",
    "cached_json",
    "clean_stale_temporaries",
    "check_writable",
]

RUNS_ENV = "RESNET_LAB_RUNS"


class StoreError(OSError):
    """A write that failed, with the path and the likely cause in its message."""


def _write_atomically(path: Path, write: Callable[[Any], None]) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise StoreError(_("cannot write to {folder}: {error} (is the folder writable?)").format(
            folder=path.parent, error=exc.strerror or exc)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError) or "unexpected pos" in str(exc) or "write" in str(exc).lower():
            raise StoreError(_("writing {path} failed: {error} (disk full or folder not writable?)").format(
                path=path, error=exc)) from exc
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    return _write_atomically(Path(path), lambda fh: fh.write(data))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NaN/inf become null)."""
    text = json.dumps(_json_safe(obj), indent=1)
    return atomic_write_bytes(path, text.encode())


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    """``torch.save`` to ``path`` atomically (plain types and tensors only, so ``weights_only`` reads it)."""
    return _write_atomically(Path(path), lambda fh: torch.save(obj, fh))


def read_json(path: str | Path) -> Any:
    """Read a JSON file written by :func:`atomic_write_json`; ValueError naming the file if it is damaged."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(_("{path} is not valid JSON ({error}); delete it to recompute").format(
            path=path, error=exc)) from exc


def torch_load(path: str | Path, map_location: torch.device | str | None = "cpu") -> Any:
    """``torch.load(weights_only=True)``; FileNotFoundError if absent, ValueError naming the file if damaged."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(_("no file at {path}").format(path=path))
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # RuntimeError, UnpicklingError, EOFError... for damaged or foreign files
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ValueError(_("{path} is corrupt or not written by resnet_lab ({error})").format(
            path=path, error=f"{type(exc).__name__}: {first}")) from exc


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def fingerprint(obj: Tensor | bytes | str) -> str:
    """A short SHA-256 digest of a tensor's bytes (with shape and dtype), of bytes, or of a string."""
    h = hashlib.sha256()
    if isinstance(obj, Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, str):
        h.update(obj.encode())
    else:
        h.update(obj)
    return h.hexdigest()[:16]


def settings_key(kind: str, settings: Mapping[str, Any], data_fingerprint: str) -> str:
    """The cache key of a result: ``kind`` + a digest of the settings (sorted) and the data fingerprint."""
    if not kind or not kind.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"kind must be a short name of letters, digits, '_' or '-', got {kind!r}")
    blob = json.dumps({"settings": _json_safe(dict(settings)), "data": data_fingerprint}, sort_keys=True, default=str)
    return f"{kind}-{fingerprint(blob)}"


def runs_dir() -> Path:
    """Where lessons keep checkpoints and caches: ``$RESNET_LAB_RUNS``, else ``<cache>/resnet_lab/runs``."""
    env = os.environ.get(RUNS_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "resnet_lab" / "runs"


def choose_runs_dir(profile_name: str) -> tuple[Path, bool]:
    """``(folder, temporary)``: a fresh temporary folder for the ``quick`` profile, else :func:`runs_dir`.

    The quick profile runs in tests and CI, which must always train with the current code instead of
    loading a result an older version cached; the cpu and gpu profiles keep their runs, so a re-run
    resumes a checkpoint or reuses a finished experiment.
    """
    if profile_name == "quick":
        return Path(tempfile.mkdtemp(prefix="resnet_lab_runs_")), True
    return runs_dir(), False


def cache_path(kind: str, key: str, suffix: str, root: str | Path | None = None) -> Path:
    """``<root or runs_dir()>/<kind>/<key><suffix>``: the one layout of cached results."""
    return Path(root if root is not None else runs_dir()) / kind / f"{key}{suffix}"


def cached_json(
    kind: str,
    settings: Mapping[str, Any],
    data_fingerprint: str,
    compute: Callable[[], Any],
    *,
    root: str | Path | None = None,
) -> tuple[Any, bool]:
    """The JSON result of ``compute()`` for these settings and data, from the cache if present.

    Returns ``(result, from_cache)``. The result is written atomically after it is computed.
    """
    path = cache_path(kind, settings_key(kind, settings, data_fingerprint), ".json", root)
    if path.is_file():
        return read_json(path), True
    result = compute()
    atomic_write_json(path, result)
    return result, False


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and prove a file can be written there; StoreError naming it if not."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise StoreError(_("cannot write to {folder}: {error} (is it writable, is the disk full?)").format(
            folder=folder, error=exc.strerror or exc)) from exc
    return folder


def clean_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the ``.*.tmp`` files that killed writes left in ``folder``; returns what was removed."""
    folder = Path(folder)
    removed: list[Path] = []
    if folder.is_dir():
        for p in folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed
