"""Git URLs in the answers file: a credential in any part is refused, and never printed.

``digit-tui validate`` runs as a real subprocess, as an operator would run it: exit 2,
one line ``FILE:LINE: digit.source.git: ...``, the remedy (SSH agent or credential
helper), and the token nowhere in stdout or stderr.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from digit_tui.answers.loader import AnswersError, parse_answers

TOKEN = "ghp_Xy9TopSecretTok3nValue42"
CLI = [str(Path(sys.executable).parent / "digit-tui")]

# Each form git would accept, with the credential in a different place.
REFUSED = {
    "bare token as user": f"https://{TOKEN}@github.com/egovernments/DIGIT-DevOps.git",
    "user:password": f"https://deploy:{TOKEN}@github.com/egovernments/DIGIT-DevOps.git",
    "oauth2:token": f"https://oauth2:{TOKEN}@gitlab.example.gov.in/egov/DIGIT-DevOps.git",
    "x-access-token over http": f"http://x-access-token:{TOKEN}@git.example.gov.in/egov/DIGIT-DevOps.git",
    "empty user, token as password": f"https://:{TOKEN}@github.com/egovernments/DIGIT-DevOps.git",
    "access_token query": f"https://github.com/egovernments/DIGIT-DevOps.git?access_token={TOKEN}",
    "private_token query": f"https://gitlab.example.gov.in/egov/DIGIT-DevOps.git?private_token={TOKEN}",
    "bare query": f"https://github.com/egovernments/DIGIT-DevOps.git?{TOKEN}",
    "fragment": f"https://github.com/egovernments/DIGIT-DevOps.git#token={TOKEN}",
    "token holding a slash": f"https://{TOKEN}/abc@github.com/egovernments/DIGIT-DevOps.git",
    "ssh password": f"ssh://git:{TOKEN}@github.com/egovernments/DIGIT-DevOps.git",
    "scp-like password": f"deploy:{TOKEN}@github.com:egovernments/DIGIT-DevOps.git",
    "unknown scheme with token": f"htps://{TOKEN}@github.com/egovernments/DIGIT-DevOps.git",
    "token and a space": f"https://{TOKEN}@github.com/egov DIGIT.git",
}

ACCEPTED = (
    "https://github.com/egovernments/DIGIT-DevOps.git",
    "ssh://git@github.com/egovernments/DIGIT-DevOps.git",
    "git@github.com:egovernments/DIGIT-DevOps.git",
    "ssh://git@git.example.gov.in:2222/egov/DIGIT-DevOps.git",
    "https://git.example.gov.in:8443/egov/DIGIT-DevOps.git",
)

GIT_LINE = 9


def answers_text(url: str) -> str:
    text = f"""\
# a git source
environment: dev
target:
  provider: sandbox
digit:
  domain: digit.local
  release: deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml
  source:
    git: '{url}'
    ref: master
"""
    assert text.splitlines()[GIT_LINE - 1].strip().startswith("git:")
    return text


def validate(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "validate", "--answers", str(path), *extra], capture_output=True, text=True,
                          timeout=60)


def test_every_credential_form_is_refused_with_file_line_and_remedy_and_never_printed(tmp_path: Path) -> None:
    files = {}
    for index, (name, url) in enumerate(REFUSED.items()):
        files[name] = tmp_path / f"answers-{index}.yaml"
        files[name].write_text(answers_text(url))

    def run(name: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        return name, validate(files[name], *(("--json",) if len(name) % 2 else ()))

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(pool.map(run, REFUSED))

    failures = []
    for name, proc in results.items():
        lines = proc.stderr.strip().splitlines()
        prefix = f"digit-tui: {files[name]}:{GIT_LINE}: digit.source.git: the git URL carries a password or token"
        ok = (proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(prefix)
              and "SSH agent" in lines[0] and "credential helper" in lines[0] and proc.stdout == ""
              and "Traceback" not in proc.stderr)
        if not ok:
            failures.append(f"{name}: rc={proc.returncode} stderr={proc.stderr!r}")
        # never the token, nor a recognisable piece of it
        for piece in (TOKEN, TOKEN[4:16]):
            if piece in proc.stdout + proc.stderr:
                failures.append(f"{name}: the token is printed")
    assert not failures, "\n".join(failures)


def test_the_message_says_which_part_holds_the_credential(tmp_path: Path) -> None:
    parts = {
        "bare token as user": "user part",
        "user:password": "user:password part",
        "access_token query": "query string",
        "fragment": "fragment",
    }
    for name, part in parts.items():
        with pytest.raises(AnswersError) as info:
            parse_answers(answers_text(REFUSED[name]), tmp_path / "answers.yaml", check_files=False)
        assert f"in its {part}" in str(info.value)
        # nowhere in the error objects either: not in repr, not in the other problems
        everything = repr(info.value) + "".join(repr(p) for p in info.value.problems)
        assert TOKEN not in everything


@pytest.mark.parametrize("url", ACCEPTED)
def test_urls_without_credentials_are_accepted(url: str, tmp_path: Path) -> None:
    answers = parse_answers(answers_text(url), tmp_path / "answers.yaml", check_files=False)
    assert answers.digit.source.git == url


def test_a_valid_ssh_url_passes_validate(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text(answers_text("git@github.com:egovernments/DIGIT-DevOps.git"))
    proc = validate(path)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("url", "says"), [
    ("ftp://github.com/egov/DIGIT-DevOps.git", "ftp:// is not a git transport"),
    ("https:///egov/DIGIT-DevOps.git", "no valid host after https://"),
    ("file://host/srv/DIGIT-DevOps.git", "file:///path has no host"),
    ("--upload-pack=touch /tmp/x", "is not a git URL"),
])
def test_malformed_urls_say_what_is_wrong(url: str, says: str, tmp_path: Path) -> None:
    with pytest.raises(AnswersError) as info:
        parse_answers(answers_text(url), tmp_path / "answers.yaml", check_files=False)
    assert str(info.value).startswith(f"{tmp_path / 'answers.yaml'}:{GIT_LINE}: digit.source.git: ")
    assert says in str(info.value)
