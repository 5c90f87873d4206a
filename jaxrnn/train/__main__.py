"""``python -m jaxrnn.train``."""

import sys

from jaxrnn._pipes import run_main
from jaxrnn.train.cli import main

sys.exit(run_main(main))
