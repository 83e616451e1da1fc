"""What the install view shows, without Textual: the journal read incrementally (``feed``) and the
phases, counts, symbols, progress and ETA built from its rows (``install``).

Below the widgets and the screens, which only render it; above the engine, whose journal rows it
reads. Pure enough to test without a terminal.
"""
