#!/usr/bin/env bash
# Make this machine able to run digit-tui and its tests: Debian packages the
# tests use (real sshd, socat, iptables, tmux, PostgreSQL 15), then .venv with
# the package and its test extras. Idempotent and quiet when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
want_tests=${1:-}

need=()
have() { command -v "$1" >/dev/null 2>&1; }
if [ "$want_tests" = "--tests" ]; then
  have sshd || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  have ssh || need+=(openssh-client)
  have socat || need+=(socat)
  have iptables || need+=(iptables)
  have tmux || need+=(tmux)
  have ip || need+=(iproute2)
  [ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
  # the kubeadm tests check the generated load-balancer configuration with the real `haproxy -c`
  have haproxy || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
fi
# terraform is not a Debian package: the machine image carries it. The terraform tests run the
# real binary, so say what is missing instead of letting them fail one by one.
if [ "$want_tests" = "--tests" ] && ! have terraform; then
  echo "bootstrap: terraform is not on PATH; tests/infra/test_terraform.py runs the real terraform 1.x." >&2
  echo "bootstrap: the machine image has it at /usr/local/bin/terraform; elsewhere install terraform 1.x" \
       "(https://developer.hashicorp.com/terraform/install) and put it on PATH." >&2
  exit 1
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "bootstrap: installing Debian packages: ${need[*]}"
  timeout 300 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$py" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)$want_tests
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing Python packages into .venv"
  extra=""; [ "$want_tests" = "--tests" ] && extra="[test]"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extra" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import digit_tui" 
  touch "$stamp"
fi
