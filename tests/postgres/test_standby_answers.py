"""database.standby: which host is the standby and which the primary, and a wrong file's one-line
error at the standby's line."""

from __future__ import annotations

import textwrap

import pytest

from digit_tui.answers.loader import parse_answers
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
