"""digit-tui: guided, resumable, observable installer and health viewer for DIGIT."""

__version__ = "0.1.0"
