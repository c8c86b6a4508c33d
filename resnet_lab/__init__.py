"""resnet_lab: the helper package of the resnet-lab notebooks on residual networks.

Logic lives here, narrative in the notebooks. Importing the package prints nothing, seeds nothing
and changes no global state. Submodules: ``models``, ``data``, ``profiles`` and one per lesson;
``start()`` (in ``session``) checks the environment and chooses the run profile for a lesson.
"""

from __future__ import annotations

from . import data, models, profiles
from .data import ImageData, get_dataset, synthetic_cifar
from .models import build_model, cifar_resnet
from .profiles import Profile, get_profile
from .session import Session, start  # the first code cell of every lesson: lab = resnet_lab.start()

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "start",
    "Session",
    "data",
    "models",
    "profiles",
    "ImageData",
    "get_dataset",
    "synthetic_cifar",
    "build_model",
    "cifar_resnet",
    "Profile",
    "get_profile",
]
