"""The prerequisites screen against a "VM": a network namespace with a real sshd (tests/vmlab.py),
reached from the lab's control namespace as from a jump host on the VPN. The whole app runs in
that namespace (threads made meanwhile are born in it: the checks' workers). Nothing is a double:
the key trusted is the VM's own, written to the state directory's known_hosts by preflight's
trust, and the facts read over SSH feed the sizing screen's fit check."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from digit_tui.app import DigitApp
from tests.tui.conftest import wait_screen
from tests.tui.test_guided_flow import BIG, SMALL, assert_fits, both_sizes, flat_words
from tests.vmlab import VmLab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VmLab]:
    with VmLab(tmp_path_factory.mktemp("vmlab"), count=1) as lab:
        yield lab


def squeezed(text: str) -> str:
    """The screen's words without any space: a fingerprint wraps at 80 columns."""
    return flat_words(text).replace(" ", "")


async def test_an_unknown_host_key_is_trusted_only_once_its_fingerprint_was_shown_and_accepted(
        lab: VmLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from digit_tui.answers import parse_answers
    from digit_tui.screens.prereqs import PrereqScreen
    from digit_tui.screens.sizing import SizingScreen

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)         # the lab's key, not this machine's agent
    vm = lab.vms[0]
    fingerprint = lab.host_fingerprint(vm)                     # what `ssh-keygen -lf` says on the VM
    state = tmp_path / "xdg" / "digit-tui" / "lab"
    known_hosts = state / "known_hosts"
    answers = parse_answers(
        "version: 1\nenvironment: lab\ntarget: {provider: sandbox}\n"
        f"hosts: [{{name: vm1, address: '{vm.address}', user: root, ssh_key: '{lab.client_key}', roles: [worker]}}]\n"
        "digit: {domain: lab.example.test, modules: [m_pgr]}\n", state / "answers.yaml")
    with lab.client_netns():
        app = DigitApp(start="welcome")
        async with app.run_test(size=SMALL) as pilot:
            await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
            app.push_screen(PrereqScreen(answers, state / "answers.yaml", state))
            small, big = await both_sizes(pilot, lambda t: "✗ host vm1" in t and "◌" not in t,
                                          "the host key not trusted yet", timeout=30)
            for text, (w, h) in ((small, SMALL), (big, BIG)):
                assert_fits(text, w, h)
                assert f"vm1({vm.address}):hostkeynottrustedyet:ssh-ed25519{fingerprint}" in squeezed(text)
                assert f"t:trust{fingerprint}onceitmatchesthehost'sconsole" in squeezed(text)
                assert f"✓sshvm1{vm.address}:22answers" in squeezed(text)
                assert "thentrustit(t)" in squeezed(text) and "--trust-host-key" not in text   # the key here: t
            assert not known_hosts.exists()                   # nothing trusted by itself

            # The question shows the fingerprint and where it goes; cancelling writes nothing.
            await pilot.press("t")
            text = await wait_screen(pilot, lambda t: "Trust the host key of vm1?" in t, what="the question")
            assert fingerprint in squeezed(text) and "Cancel (c)" in text and "Trust it (t)" in text
            assert "Compare it with the host's own" in flat_words(text)
            assert str(known_hosts) in squeezed(text)
            await pilot.press("c")
            await wait_screen(pilot, lambda t: "Trust the host key of vm1?" not in t, what="the question gone")
            assert not known_hosts.exists()

            await pilot.press("t")
            await wait_screen(pilot, lambda t: "Trust the host key of vm1?" in t, what="the question again")
            await pilot.press("t")
            text = await wait_screen(pilot, lambda t: "✗ host vm1" not in t and "◌" not in t
                                     and "SSH login as root" in t, timeout=30, what="vm1 checked again")
            assert f"vm1:trustedssh-ed25519{fingerprint}" in squeezed(text)
            assert "vm1: logged in as root" in text
            listed = subprocess.run(["ssh-keygen", "-lf", str(known_hosts)], capture_output=True, text=True,
                                    timeout=10, check=True).stdout
            assert fingerprint in listed                          # the VM's own key, in the install's file

            # Whatever the VM's size makes of the tier's thresholds, the facts reach the sizing screen.
            if "to acknowledge" in text.splitlines()[0]:
                await pilot.press("a")
            await wait_screen(pilot, lambda t: "✓ ready" in t.splitlines()[0], what="ready")
            await pilot.press("ctrl+n")
            text = await wait_screen(pilot, lambda t: "3/5 sizing" in t and "◌" not in t, timeout=60,
                                     what="the sizing screen")
            assert isinstance(app.screen, SizingScreen)
            assert "Fit check against 1 worker VM found by the prerequisites (vm1)" in flat_words(text)
