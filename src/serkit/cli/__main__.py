"""``python -m serkit.cli ...`` (and ``accelerate launch -m serkit.cli ...``): the ``serkit`` command."""

import sys

from serkit.cli import main

sys.exit(main())
