"""Moved to :mod:`digit_tui.atomic` (infra writes files atomically too, and infra knows no DIGIT)."""

from digit_tui.atomic import atomic_write

__all__ = ["atomic_write"]
