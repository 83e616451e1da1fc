"""``python -m digit_tui.cli``: what the detached engine and the tests run (the same as ``digit-tui``)."""

from digit_tui.cli import run

run()
