"""The Postgres lab fixture (tests/postgres/pglab.py): one lab of three VMs for the whole folder."""

from tests.postgres.pglab import pglab

__all__ = ["pglab"]
