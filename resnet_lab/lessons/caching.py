"""How the lessons key their result caches: a fingerprint of the data a result was computed on.

Every cached lesson result (lesson 01's runs, lesson 05's trained nets) is stored through
:mod:`resnet_lab.store` under :func:`resnet_lab.store.settings_key` of the settings that change the
result and this fingerprint, so a cache written for other images, labels or sizes is never read back.
"""

from __future__ import annotations

from ..data import ImageData
from ..store import fingerprint

__all__ = ["data_fingerprint"]


def data_fingerprint(data: ImageData) -> str:
    """A short digest of everything in ``data`` that can change a trained result.

    The source string, and the bytes (with shapes and dtypes) of the training images and labels
    and of the test labels; hashing 50,000 CIFAR images takes about a tenth of a second.
    """
    parts = (data.source, fingerprint(data.x_train), fingerprint(data.y_train), fingerprint(data.y_test))
    return fingerprint("|".join(parts))
