"""``python -m resnet_lab.train``: see :mod:`resnet_lab.train.cli`."""

import sys

from .cli import main

sys.exit(main())
