"""``python -m jaxrnn.study``: see ``jaxrnn.study.cli``."""

import sys

from jaxrnn.study.cli import main

if __name__ == "__main__":
    sys.exit(main())
