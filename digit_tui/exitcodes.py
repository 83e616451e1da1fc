"""Process exit codes shared by every command (see DESIGN.md, command contract)."""

OK = 0
FAILED = 1
BAD_INPUT = 2
INTERRUPTED = 3
