"""Load a script of tools/ (not a package) as a module, for the tests of that tool."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_tool(name: str, module_name: str | None = None) -> ModuleType:
    """``tools/NAME.py`` imported as ``module_name`` (default ``NAME_tool``), registered in ``sys.modules``."""
    module_name = module_name or f"{name}_tool"
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses in the tool look their module up here
    spec.loader.exec_module(module)
    return module
