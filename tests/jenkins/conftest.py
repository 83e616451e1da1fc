"""The monitoring tests' fixtures (the real tree, a sandbox, the engine), shared."""

from tests.monitoring import conftest as _shared

cluster, engine, tree = _shared.cluster, _shared.engine, _shared.tree
