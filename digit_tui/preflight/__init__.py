"""The prerequisite checks (preflight): facts about the configuration, the network, the hosts and
the jump host's tools, turned into pass / warn / fail lines with a remedy.

| module | job |
|---|---|
| ``model`` | results, the typed view of the settings preflight reads, facts as JSON |
| ``thresholds`` | per tier and role: minimums, recommendations, ports, versions (the one place) |
| ``checks`` | pure: configuration, network verdict, host facts, fleet, tools -> results |
| ``gather`` | reads the facts: TCP probes, SSH (connect, sudo, host facts), tool versions |
| ``trust`` | ``--trust-host-key NAME=SHA256:...``: parsing and explicit trust |

The engine's tasks (``digit_tui.tasks.preflight``) and ``digit-tui preflight``
(``digit_tui.cli.preflight``) are both built on these.
"""
