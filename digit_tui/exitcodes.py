"""Process exit codes shared by every command (see DESIGN.md, command contract)."""

OK = 0
FAILED = 1
BAD_INPUT = 2
INTERRUPTED = 3
UNREACHABLE = 4     # health: the cluster could not be read, so nothing was checked (docs/health.md)
