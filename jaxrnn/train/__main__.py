"""``python -m jaxrnn.train``."""

import sys

from jaxrnn.train.cli import main

sys.exit(main())
