"""``python -m jaxrnn.datasets NAME --out DIR``: see :mod:`jaxrnn.datasets.export`."""

import sys

from jaxrnn.datasets.export import main

sys.exit(main())
