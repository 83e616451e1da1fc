"""The commented example printed by ``digit-tui validate --example``.

It describes a realistic State Data Center install on an existing cluster (its
kubeconfig, a Postgres VM, dynamic volumes, sized for 120 ULBs) and validates once the files it
names exist next to it (tests/answers/test_answers_cli.py builds them). It uses
only keys some phase acts on today: the keys validation refuses as "not
available yet" (answers/model.py NOT_AVAILABLE_YET) are listed in a comment.
Keep it in step with docs/answers.md.
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

# Not available yet (validation refuses them until their phase is built): ingress.class other than
# nginx, ingress.tls other than none.

target:
  provider: sdc                    # sandbox | sdc | nic | aws | azure | gcp | existing
  kubeconfig: ./kubeconfig         # the cluster to install into (the sandbox writes its own)
  context: sdc-prod                # a context in that kubeconfig (default: its current-context)

network:
  vpn_gateway: vpn.sdc.example.gov.in:443   # host[:port]; with a port the network probe watches it
  probes:                                   # more host:port endpoints the install depends on
    - 10.10.0.5:443

hosts:                             # the VMs (the Postgres VM is the host with role db)
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
  mode: existing                   # existing (target.kubeconfig) | kubeadm (on the hosts) | terraform
  # kubeadm on the hosts instead, from an SDC's own mirrors (no internet needed):
  # mode: kubeadm
  # package_repository: http://mirror.sdc.local/k8s/v1.30/deb/
  # package_key_file: ./keys/k8s-mirror.gpg
  # image_repository: registry.sdc.local:5000/k8s
  # cni_manifest: ./cni/calico-v3.28.yaml      # a file here, sent over SSH (or an http(s) URL)
  # cni_daemonset: kube-system/calico-node
  # lb_install: true                           # HAProxy on the host with role lb
  # api_allow: [10.20.0.0/16]                  # who may reach the API through it

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
  # standby: db-2                  # vm: a second host with role db, made a streaming standby

storage:
  mode: dynamic                    # dynamic (a StorageClass) | static (pre-made disks: provider, disks)
  storage_class: standard          # default: the cluster's default StorageClass
  # Static iSCSI instead (the IQNs as the storage team hands them over; with cluster.mode terraform
  # the disks come from terraform's outputs and nothing is listed here):
  # mode: static
  # provider: iscsi                # iscsi | aws | azure | cinder
  # iscsi: {portal: 10.20.0.50:3260}
  # disks: {kafka: [iqn.2010-06.com.nutanix:digit-kafka-0, ...], zookeeper: [...], es-data: [...], es-master: [...]}

sizing:                            # planned once per install: the backbone's disks, terraform's nodes
  ulbs: 120                        # urban local bodies served, 1-10000
  preset: sdc-prod                 # sdc-dev | sdc-prod | dev | uat | prod | quickstart (brings its tier)

ingress:
  class: nginx                     # the release deploys nginx-ingress
  tls: none                        # cert-manager and provided are not available yet

phases:
  jenkins: false                   # true: Jenkins from the DIGIT source (needs a jenkins section)
  monitoring: false                # default: on for tier prod (the preset's tier here)

engine:
  # concurrency: 4                 # cap on tasks at once, 1-32 (default: one computing task per core,
                                  # 32 that mostly wait on the cluster)
  network_wait: 3600               # seconds to wait for the network before failing; null: forever
"""
