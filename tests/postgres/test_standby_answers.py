"""database.standby: which host is the standby and which the primary, and a wrong file's one-line
error at the standby's line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from digit_tui.answers.loader import parse_answers
from digit_tui.preflight.checks import config_checks
from digit_tui.preflight.model import HostSpec, PreflightPlan, Status
from digit_tui.errors import InputError


def answers(database: str, hosts: str = "") -> str:
    hosts = hosts or """
        - {name: db-1, address: 10.0.0.5, user: ubuntu, ssh_key: k, roles: [db]}
        - {name: db-2, address: 10.0.0.6, user: ubuntu, ssh_key: k, roles: [db]}
        - {name: w-1, address: 10.0.0.7, user: ubuntu, ssh_key: k, roles: [worker]}
    """
    return ("environment: dev\ntarget: {provider: sandbox}\ndigit: {domain: digit.local}\nhosts:\n"
            + textwrap.indent(textwrap.dedent(hosts).strip("\n"), "  ") + "\ndatabase:\n"
            + textwrap.indent(textwrap.dedent(database).strip("\n"), "  ") + "\n")


def test_the_standby_is_a_db_host_and_the_primary_the_first_other_one() -> None:
    # Listed first, the standby is still not the primary.
    a = parse_answers(answers("mode: vm\nstandby: db-1"), check_files=False)
    assert a.database_standby is not None and a.database_standby.name == "db-1"
    assert a.database_primary is not None and a.database_primary.name == "db-2"
    assert a.database_host == "10.0.0.6"
    plain = parse_answers(answers("mode: vm"), check_files=False)
    assert plain.database_standby is None and plain.database_host == "10.0.0.5"


@pytest.mark.parametrize("database, hosts, message, expected", [
    ("mode: external\nhost: 10.0.0.9\nstandby: db-2", "", "standby is only used with mode vm", "mode: vm"),
    ("mode: vm\nstandby: db-9", "", "no host is named db-9", "db-1, db-2"),
    ("mode: vm\nstandby: w-1", "", "host w-1 has no role db", "add db to the roles of w-1"),
    ("mode: vm\nhost: 10.0.0.6\nstandby: db-2", "", "database.host 10.0.0.6 is the standby's address",
     "the primary's address"),
    ("mode: vm\nstandby: db-1", "- {name: db-1, address: 10.0.0.5, user: ubuntu, ssh_key: k, roles: [db]}\n"
     "- {name: w-1, address: 10.0.0.7, user: ubuntu, ssh_key: k, roles: [worker]}",
     "db-1 is the only host with role db", "a second hosts entry"),
])
def test_a_wrong_standby_is_refused_at_its_line(database: str, hosts: str, message: str, expected: str) -> None:
    text = answers(database, hosts)
    with pytest.raises(InputError) as info:
        parse_answers(text, "answers.yaml", check_files=False)
    err = info.value
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith("standby:"))
    assert err.line == line and message in str(err) and expected in (err.expected or ""), (err.line, str(err),
                                                                                           err.expected)


def test_tier_prod_without_a_standby_is_a_prerequisites_warning_naming_the_spare_db_host() -> None:
    hosts = tuple(HostSpec(n, a, 22, "ubuntu", Path("/k"), ("db",)) for n, a in (("db-1", "10.0.0.5"), ("db-2", "10.0.0.6")))

    def roles(**kw: object) -> list[tuple[Status, str, str | None]]:
        plan = PreflightPlan(environment="t", tier="prod", provider="sdc", cluster_mode="existing",  # type: ignore[arg-type]
                             hosts=hosts, endpoints=(), database_mode="vm", **kw)  # type: ignore[arg-type]
        return [(r.status, r.message, r.remedy) for r in config_checks(plan) if r.check == "roles"]

    warned = [r for r in roles() if r[0] is Status.WARN and "no standby" in r[1]]
    assert warned and warned[0][2] == "database.standby: db-2"
    with_standby = roles(database_standby="db-1")
    assert not any("no standby" in r[1] for r in with_standby)
    assert (Status.INFO, "2 hosts have role db: db-2 is the database, db-1 its streaming standby", None) in with_standby
