"""The commented example printed by ``digit-tui validate --example``.

It describes a realistic State Data Center install (kubeadm on VMs, a Postgres
VM, static iSCSI volumes) and validates once the files it names exist next to
it (tests/answers/test_answers_cli.py builds them). Keep it in step with
docs/answers.md.
"""

MINIMAL = """\
# The smallest valid answers file: the bundled sample release on the sandbox.
environment: dev
target:
  provider: sandbox
digit:
  domain: digit.local
"""

EXAMPLE = """\
# digit-tui answers file (schema version 1).
# Validate with: digit-tui validate --answers THIS_FILE
# Install with:  digit-tui install --answers THIS_FILE --headless
# Relative paths start at this file's directory; ~ is your home directory.
# Passwords are never written here: point *_file keys at 0600 files instead.
version: 1
environment: sdc-prod              # lowercase letters, digits, hyphens; names the state directory

target:
  provider: sdc                    # sandbox | sdc | nic | aws | azure | gcp | existing
  # kubeconfig: ./kubeconfig       # needed when cluster.mode is existing (except on the sandbox)
  # context: sdc-prod              # a context in that kubeconfig (default: its current-context)

network:
  vpn_gateway: vpn.sdc.example.gov.in:443   # host[:port]; with a port the network probe watches it
  probes:                                   # more host:port endpoints the install depends on
    - 10.10.0.5:443

hosts:                             # the VMs preflight checks over SSH
  - name: master-1
    address: 10.20.0.11
    user: ubuntu
    ssh_key: ./keys/digit_ed25519  # private key; port defaults to 22
    roles: [master]
  - name: worker-1
    address: 10.20.0.21
    user: ubuntu
    ssh_key: ./keys/digit_ed25519
    roles: [worker]
  - name: worker-2
    address: 10.20.0.22
    port: 2222
    user: ubuntu
    ssh_key: ./keys/digit_ed25519
    roles: [worker]
  - name: db-1
    address: 10.20.0.31
    user: ubuntu
    ssh_key: ./keys/digit_ed25519
    roles: [db]

cluster:
  mode: kubeadm                    # existing | kubeadm
  pod_cidr: 10.244.0.0/16
  service_cidr: 10.96.0.0/12
  api_endpoint: 10.20.0.5:6443     # the load balancer in front of the masters

digit:
  source:                          # bundled | {path: DIR} | {git: URL, ref: REF}
    path: ./DIGIT-DevOps
  release: deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml
  modules: [m_pgr]                 # selectable m_ modules; core modules are always installed
  domain: egov.sdc.example.gov.in
  state_tenant: pb
  container_registry: egovio

database:
  mode: vm                         # external | vm | in-cluster
  # host: 10.20.0.31               # default for vm: the host with role db
  port: 5432
  name: egov_db                    # letters, digits, underscore (no hyphens)
  username: egov
  password_file: ./secrets/db-password   # chmod 600; omit to let digit-tui generate one

storage:
  mode: static                     # static (pre-made disks, DIGIT classic) | dynamic (StorageClass)
  provider: iscsi                  # iscsi | aws | azure | cinder | none
  iscsi:
    portal: 10.20.0.50:3260
    iqn_prefix: iqn.2024-01.in.gov.sdc

ingress:
  class: nginx
  tls: cert-manager                # none | cert-manager | provided (then cert_file, key_file)
  acme_email: ops@example.gov.in

sizing:
  ulbs: 40                         # urban local bodies served
  tier: prod                       # dev | uat | prod
  preset: sdc-prod

phases:
  jenkins: false
  monitoring: true                 # default: true for tier prod, false otherwise

engine:
  concurrency: 4                   # tasks at once, 1-32
  network_wait: 3600               # seconds to wait for the network before failing; null: forever
"""
