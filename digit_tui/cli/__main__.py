"""``python -m digit_tui.cli``: what the detached engine and the tests run (the same as ``digit-tui``)."""

import sys

from digit_tui.cli import main

sys.exit(main())
