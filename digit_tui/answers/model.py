"""The answers file schema: every choice of an install, validated offline.

One file drives both the TUI and unattended installs (DESIGN.md principle 6).
Every model forbids unknown keys, so a typo is an error rather than a silently
ignored setting. Field validators raise ``PydanticCustomError("answers", ...)``
with an ``expected`` context entry (and, for rules that span several fields, an
``at`` entry naming the key to point at); ``loader.py`` turns those into
``FILE:LINE: ... (expected: ...)`` lines.

Value types (addresses, ports, CIDRs, file references...) live in
``fields.py``. Validation reads files but never writes any.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

import yaml

from digit_tui import yamlload
from digit_tui.errors import InputError
from digit_tui.answers.fields import (
    HOSTNAME_EXPECTED,
    Address,
    CertFile,
    Cidr,
    CniManifest,
    DbIdent,
    DnsName,
    Email,
    EnvName,
    GitRef,
    GitUrl,
    ImageTag,
    HostPort,
    KeyFile,
    Kubeconfig,
    KubeName,
    ModuleName,
    NodeName,
    PasswordFile,
    Port,
    PresetName,
    Registry,
    RelPath,
    SecretVariablesFile,
    SigningKey,
    SourceDir,
    SshKey,
    Tenant,
    TerraformDir,
    UnixUser,
    ValuesFile,
    bad,
    check_context,
    expect,
    host_port,
)

# The sample DIGIT-shaped tree shipped with the package (built by the release pipeline).
BUNDLED_SOURCE = Path(__file__).resolve().parent.parent / "bundles" / "digit-sample"
# DIGIT spells it "dependancy"; a few files say "dependency".
MANIFEST_GLOBS = ("dependancy_chart-*.yaml", "dependency_chart-*.yaml")

Provider = Literal["sandbox", "sdc", "nic", "aws", "azure", "gcp", "existing"]
Role = Literal["master", "worker", "db", "lb", "jenkins", "bastion"]
ROLES: tuple[str, ...] = ("master", "worker", "db", "lb", "jenkins", "bastion")


class Section(BaseModel):
    # defer_build: each section's schema is built once, inside the first validation of the model
    # that holds it (Answers), not once at import and again for Answers (about 15 ms of `validate`).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --------------------------------------------------------------------------- sections


class Target(Section):
    provider: Provider = expect("one of sandbox, sdc, nic, aws, azure, gcp, existing")
    kubeconfig: Kubeconfig | None = None
    context: str | None = expect("a context name from the kubeconfig", default=None)

    @model_validator(mode="after")
    def _context_exists(self, info: ValidationInfo) -> Target:
        if self.context is None:
            return self
        if self.kubeconfig is None:
            raise bad("context is set but kubeconfig is not", "kubeconfig: PATH alongside context", at=("context",))
        _, check_files = check_context(info)
        if not check_files:
            return self
        data = yamlload.safe_load(self.kubeconfig.read_text(encoding="utf-8", errors="replace")) or {}
        names = [c.get("name") for c in data.get("contexts") or [] if isinstance(c, dict)]
        if self.context not in names:
            raise bad(f"context {self.context!r} is not in {self.kubeconfig}",
                      "one of " + (", ".join(str(n) for n in names) or "(the kubeconfig has no contexts)"), at=("context",))
        return self


class Network(Section):
    # Without a port the gateway is shown but not probed (the network probe speaks TCP).
    vpn_gateway: Annotated[str, BeforeValidator(host_port(None, port_optional=True))] | None = None
    probes: list[HostPort] = expect("a list of host:port strings", default_factory=list)


class Host(Section):
    name: NodeName = expect("a short lowercase name such as master-1")
    address: Address = expect(HOSTNAME_EXPECTED)
    port: Port = 22
    user: UnixUser = expect("a Unix user name such as ubuntu")
    ssh_key: SshKey = expect("the path of the private key used to log in")
    roles: list[Role] = expect("a list of roles from: " + ", ".join(ROLES), min_length=1)

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: list[str]) -> list[str]:
        dupes = sorted({r for r in roles if roles.count(r) > 1})
        if dupes:
            raise bad(f"role {dupes[0]} is listed twice", "each role once")
        return roles


class Cluster(Section):
    mode: Literal["existing", "kubeadm", "terraform"] = expect("existing, kubeadm or terraform", default="existing")
    pod_cidr: Cidr = "10.244.0.0/16"
    service_cidr: Cidr = "10.96.0.0/12"
    api_endpoint: HostPort | None = None
    # kubeadm: the Kubernetes packages, from pkgs.k8s.io or an SDC's own mirror of it (apt).
    kubernetes_version: str = expect("a minor such as 1.30 or an exact version such as 1.30.2", default="1.30",
                                     pattern=r"^1\.\d{1,2}(\.\d{1,3})?$")
    package_repository: str | None = expect("an apt repository URL such as http://mirror.sdc.local/k8s/v1.30/deb/",
                                            default=None, pattern=r"^https?://\S+$")
    package_key_file: SigningKey | None = None
    package_repository_trusted: bool = expect("true or false", default=False)
    # kubeadm: an SDC without internet reaches neither registry.k8s.io nor Calico's GitHub release.
    image_repository: Registry | None = expect("a registry mirror of registry.k8s.io such as "
                                               "registry.sdc.local:5000/k8s", default=None)
    cni_manifest: CniManifest | None = None
    cni_daemonset: str | None = expect("NAMESPACE/NAME of the pod network's DaemonSet, such as kube-system/calico-node",
                                       default=None, pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/"
                                                             r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
    # kubeadm with a host of role lb: HAProxy installed there (false: only <state>/haproxy.cfg is written).
    lb_install: bool = expect("true or false", default=True)
    api_allow: list[Cidr] = expect("a list of source CIDRs allowed on the load balancer's :6443", default_factory=list)

    @model_validator(mode="after")
    def _cni_named(self) -> Cluster:
        if self.cni_manifest is not None and self.cni_daemonset is None:
            raise bad("a pod network manifest of your own needs the DaemonSet that shows it runs",
                      "cni_daemonset: NAMESPACE/NAME (kube-system/calico-node for Calico)", at=("cni_manifest",))
        return self

    @model_validator(mode="after")
    def _mirror_signed(self) -> Cluster:
        if self.package_repository is not None and self.package_key_file is None and not self.package_repository_trusted:
            raise bad("a package mirror needs its signing key", "package_key_file: the mirror's key (armored or binary), "
                      "or package_repository_trusted: true for an internal mirror", at=("package_repository",))
        return self

    @model_validator(mode="after")
    def _no_overlap(self) -> Cluster:
        pods, services = ipaddress.ip_network(self.pod_cidr), ipaddress.ip_network(self.service_cidr)
        if pods.version == services.version and pods.overlaps(services):
            raise bad(f"service_cidr {services} overlaps pod_cidr {pods}", "two CIDR blocks that do not overlap",
                      at=("service_cidr",))
        return self


class Terraform(Section):
    """A terraform working directory that builds the cluster (``cluster.mode: terraform``)."""

    dir: TerraformDir = expect("the terraform working directory (DIGIT-DevOps' infra-as-code/<cloud>, or your own)")
    # Plain values, written to a 0600 var-file in the state directory (never on a command line).
    variables: dict[str, Any] = expect("a mapping of terraform variable names to values", default_factory=dict)
    # Variables that are secrets (a database password, a kubeconfig): a 0600 JSON file, masked everywhere.
    secret_variables_file: SecretVariablesFile | None = None
    kubeconfig_output: str = expect("the name of the output holding the kubeconfig's text", default="kubeconfig",
                                    min_length=1)


class SourcePath(Section):
    path: SourceDir = expect("a DIGIT-DevOps checkout directory")


class SourceGit(Section):
    git: GitUrl = expect("a git URL")
    ref: GitRef = expect("a branch, tag or commit such as master")


SOURCE_EXPECTED = "bundled, {path: DIR} or {git: URL, ref: REF}"


def _source_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "@bundled" if value == "bundled" else None
    if isinstance(value, dict):
        if "git" in value:
            return "@git"
        if "path" in value:
            return "@path"
    if isinstance(value, (SourcePath, SourceGit)):
        return "@git" if isinstance(value, SourceGit) else "@path"
    return None


Source = Annotated[
    Union[
        Annotated[Literal["bundled"], Tag("@bundled")],
        Annotated[SourcePath, Tag("@path")],
        Annotated[SourceGit, Tag("@git")],
    ],
    Discriminator(_source_kind, custom_error_type="answers", custom_error_message="not a DIGIT source",
                  custom_error_context={"detail": "not a DIGIT source", "expected": SOURCE_EXPECTED}),
]


def find_manifests(source_dir: Path) -> list[str]:
    found: set[str] = set()
    for pattern in MANIFEST_GLOBS:
        found.update(str(p.relative_to(source_dir)) for p in source_dir.rglob(pattern) if p.is_file())
    return sorted(found)


def _find_release(base: Path, release: str) -> Path | None:
    """The manifest as the release task finds it: relative to the tree's root, to
    ``deploy-as-code/helm`` or to a release folder (None when none has it)."""
    from digit_tui.digit.source import open_source

    try:
        return open_source(str(base)).find_release(release)
    except InputError:
        return None


def skip_problems(path: Path, modules: list[str], skip: list[str]) -> list[Any]:
    """What is wrong with ``digit.skip_services`` for these modules of the release manifest."""
    from digit_tui.digit.manifest import load_manifest
    from digit_tui.digit.pipeline import CLUSTER_CONFIGS

    manifest = load_manifest(path)
    return manifest.skip_problems(manifest.resolve(modules), skip, always=(CLUSTER_CONFIGS,))


def manifest_modules(path: Path) -> list[str]:
    """Selectable module names of a release manifest, read as DIGIT's deployer reads it
    (InputError with the manifest's own file:line when it is not one)."""
    from digit_tui.digit.manifest import load_manifest

    return load_manifest(path).selectable()


class Digit(Section):
    source: Source = "bundled"
    release: RelPath | None = None
    modules: list[ModuleName] = expect("a list of module names such as [m_pgr]", default_factory=list)
    domain: DnsName = expect("the DNS name DIGIT is served on, such as egov.example.gov.in")
    state_tenant: Tenant = "pb"
    container_registry: Registry = "egovio"
    # The image tag of a service, over the release manifest's (a service it leaves untagged, or a
    # knowing override); "<service>-db" sets only the Flyway migration image's tag.
    tags: dict[KubeName, ImageTag] = expect("a mapping of service name to image tag", default_factory=dict)
    # An environment file the state team maintains (environments/<env>.yaml, sops or plain): the
    # base the generated file layers the answers over.
    environment_file: ValuesFile | None = None
    secrets_file: ValuesFile | None = None
    # Services of the release left out knowingly; recorded with the release, shown as skipped.
    skip_services: list[KubeName] = expect("a list of service names of the release", default_factory=list)

    def source_dir(self) -> Path | None:
        """The local directory of the source, or None for a git source (cloned at install time)."""
        if self.source == "bundled":
            return BUNDLED_SOURCE
        if isinstance(self.source, SourcePath):
            return self.source.path
        return None

    def release_file(self) -> str | None:
        """The release manifest relative to the source: given, or the only one a local source has."""
        if self.release is not None:
            return self.release
        base = self.source_dir()
        if base is None or not base.is_dir():
            return None
        found = find_manifests(base)
        return found[-1] if found and (self.source == "bundled" or len(found) == 1) else None

    @model_validator(mode="after")
    def _release_and_modules(self, info: ValidationInfo) -> Digit:
        dupes = sorted({m for m in self.modules if self.modules.count(m) > 1})
        if dupes:
            index = len(self.modules) - 1 - self.modules[::-1].index(dupes[0])
            raise bad(f"module {dupes[0]} is listed twice", "each module once", at=("modules", index))
        if isinstance(self.source, SourceGit):
            if self.release is None:
                raise bad("release is required with a git source", "release: the manifest path inside the repository, "
                          "such as product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml", at=("source",))
            return self
        _, check_files = check_context(info)
        base = self.source_dir()
        if not check_files or base is None or not base.is_dir():
            # The bundled sample may not be built into this checkout yet; the release task checks later.
            return self
        release = self.release_file()
        if release is None and self.source == "bundled":
            return self  # the sample has no manifest in this build; the release task reports it
        if release is None:
            found = find_manifests(base)
            listing = ", ".join(found[:5]) + (" ..." if len(found) > 5 else "") if found else "none found"
            raise bad(f"release is not set and the source has {len(found)} release manifests",
                      f"release: one of {listing}", at=("source",))
        manifest = base / release
        if not manifest.is_file():
            manifest = _find_release(base, release) or manifest
        if not manifest.is_file():
            raise bad(f"release manifest {release} does not exist in {base}", "a manifest path relative to the source "
                      "or to its deploy-as-code/helm, such as "
                      "product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml", at=("release",))
        try:
            available = manifest_modules(manifest)
        except InputError as exc:
            raise bad(f"{release} is not a usable release manifest: {exc.message}",
                      exc.expected or "a YAML file with version and a modules list", at=("release",)) from None
        for index, module in enumerate(self.modules):
            if module not in available:
                close = difflib.get_close_matches(module, available, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise bad(f"module {module} is not in {release}",
                          "one of " + (", ".join(available) or "(no m_ modules)") + hint, at=("modules", index))
        if self.skip_services:
            problems = skip_problems(manifest, self.modules, self.skip_services)
            if problems:
                first = problems[0]
                raise bad(first.message, first.expected, at=("skip_services", first.index))
        return self


class Database(Section):
    mode: Literal["external", "vm", "in-cluster"] = expect("external, vm or in-cluster", default="in-cluster")
    host: Address | None = None
    port: Port = 5432
    name: DbIdent = "egov_db"
    username: DbIdent = "egov"
    password_file: PasswordFile | None = None
    # mode vm: the name of a second host with role db, made a streaming standby of the primary.
    standby: NodeName | None = expect("the name of a hosts entry with role db (not the primary)", default=None)

    @model_validator(mode="after")
    def _host_rule(self) -> Database:
        if self.mode == "external" and self.host is None:
            raise bad("an external database needs host", "host: the database server's address", at=("mode",))
        if self.mode == "in-cluster" and self.host is not None:
            raise bad("host is only used with mode external or vm", "remove host, or set mode: external", at=("host",))
        return self


class Nfs(Section):
    server: Address = expect("the NFS server's address, such as 10.20.0.60")


class Iscsi(Section):
    portal: Annotated[str, BeforeValidator(host_port(3260))] = expect("the iSCSI target portal, host or host:port")
    iqn_prefix: str | None = expect("an IQN prefix such as iqn.2024-01.in.gov.sdc", default=None)


# The backbone components whose disks static volumes need (digit/volumes.py BACKBONE), by the
# names DIGIT's terraform gives them and by service name.
def _components() -> dict[str, str]:
    from digit_tui.digit.volumes import BACKBONE

    out = {s.component: s.service for s in BACKBONE}
    out.update({s.service: s.service for s in BACKBONE})
    return out


DISKS_EXPECTED = "a mapping of component (zookeeper, kafka, es-data, es-master) to its disks, one per replica"


class Storage(Section):
    mode: Literal["static", "dynamic"] = expect("static or dynamic", default="dynamic")
    provider: Literal["iscsi", "nfs", "aws", "azure", "cinder", "none"] = expect(
        "one of iscsi, nfs, aws, azure, cinder, none", default="none")
    storage_class: KubeName | None = None
    iscsi: Iscsi | None = None
    # NFS exports (disks: server:/path or /path on this server): pre-bound PVs only, as no chart renders them.
    nfs: Nfs | None = None
    # Static disks handed over by hand (an SDC team's list): component -> one disk per replica, an
    # ID (EBS / Cinder volume ID, Azure disk resource ID, IQN) or an object (id, zone, iqn, lun,
    # portal). Without it the disks come from the terraform outputs (cluster.mode: terraform).
    disks: dict[str, list[Any]] | None = expect(DISKS_EXPECTED, default=None)
    # Component -> the terraform output listing its disks, where not named as DIGIT names them.
    outputs: dict[str, str] = expect("a mapping of component (zookeeper, kafka, es-data, es-master) to a "
                                     "terraform output name", default_factory=dict)

    @model_validator(mode="after")
    def _provider_rule(self) -> Storage:
        if self.mode == "static" and self.provider == "none":
            raise bad("static volumes need a provider", "provider: iscsi, aws, azure or cinder (or nfs; or mode: dynamic)",
                      at=("mode",))
        if self.iscsi is not None and self.provider != "iscsi":
            raise bad("iscsi is only used with provider: iscsi", "provider: iscsi, or remove iscsi", at=("iscsi",))
        if self.nfs is not None and self.provider != "nfs":
            raise bad("nfs is only used with provider: nfs", "provider: nfs, or remove nfs", at=("nfs",))
        if self.mode == "static" and self.provider == "iscsi" and self.iscsi is None:
            raise bad("static iSCSI volumes need the target portal", "iscsi: {portal: HOST[:PORT]}", at=("provider",))
        if self.mode == "dynamic" and self.provider != "none":
            raise bad(f"provider {self.provider} is only used with mode: static", "mode: static, or provider: none "
                      "(dynamic volumes come from storage_class)", at=("provider",))
        for key in ("disks", "outputs"):
            if key in self.model_fields_set and self.mode != "static":
                raise bad(f"{key} is only used with mode: static", f"mode: static, or remove {key}", at=(key,))
        if self.storage_class is not None and self.mode == "static":
            raise bad("storage_class is only used with mode: dynamic (static PVs have no class)",
                      "mode: dynamic, or remove storage_class", at=("storage_class",))
        self._check_disks()
        return self

    def _check_disks(self) -> None:
        from digit_tui.digit.disks import DiskHints, parse_disk

        known = _components()
        for table, key in ((self.disks or {}, "disks"), (self.outputs, "outputs")):
            for component in table:
                if component not in known:
                    close = difflib.get_close_matches(component, list(known), n=1)
                    raise bad(f"{component} is not a backbone component",
                              "one of zookeeper, kafka, es-data, es-master" + (f"; did you mean {close[0]}?" if close else ""),
                              at=(key, component))
        hints = DiskHints(portal=self.iscsi.portal if self.iscsi else "", iqn_prefix=(self.iscsi.iqn_prefix or "")
                          if self.iscsi else "", nfs_server=self.nfs.server if self.nfs else "")
        for component, items in (self.disks or {}).items():
            if not items:
                raise bad(f"disks: {component} lists no disk", "one disk per replica", at=("disks", component))
            for i, item in enumerate(items):
                try:
                    parse_disk(self.provider, item, i, hints, "the disk")
                except InputError as exc:
                    raise bad(exc.message, exc.expected or "the disk's ID, or an object with its attributes",
                              at=("disks", component, i)) from None

    def disk_outputs(self) -> dict[str, Any]:
        """The handed-over disks in the shape of terraform outputs (``digit/disks.py`` reads them):
        one map keyed by component or service."""
        return {"disks": {k: list(v) for k, v in (self.disks or {}).items()}} if self.disks else {}

    def output_names(self) -> dict[str, str]:
        """Service -> terraform output name (``storage.outputs``, keyed by component or service)."""
        known = _components()
        return {known[k]: v for k, v in self.outputs.items() if k in known}


class Ingress(Section):
    class_: KubeName = Field("nginx", alias="class")
    tls: Literal["none", "cert-manager", "provided"] = expect("none, cert-manager or provided", default="none")
    cert_file: CertFile | None = None
    key_file: KeyFile | None = None
    acme_email: Email | None = None

    @model_validator(mode="after")
    def _tls_rule(self) -> Ingress:
        if self.tls == "provided":
            for key in ("cert_file", "key_file"):
                if getattr(self, key) is None:
                    raise bad(f"tls: provided needs {key}", f"{key}: PATH", at=("tls",))
        else:
            for key in ("cert_file", "key_file"):
                if getattr(self, key) is not None:
                    raise bad(f"{key} is only used with tls: provided", "tls: provided, or remove " + key, at=(key,))
        if self.acme_email is not None and self.tls != "cert-manager":
            raise bad("acme_email is only used with tls: cert-manager", "tls: cert-manager, or remove acme_email",
                      at=("acme_email",))
        return self


# The sizing presets are data files (digit_tui/profiles, kind SizingPreset); the planner that reads
# them sits above the answers, so only their names and tiers are read here, to refuse a typo.
PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"
MAX_ULBS = 10_000           # the planner's bound (sizing/planner.py): past it a plan means nothing


def preset_tiers(directory: Path = PROFILES_DIR) -> dict[str, str]:
    """Name -> tier of every concrete sizing preset."""
    out: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yamlload.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("kind") == "SizingPreset" and not data.get("abstract"):
            out[str(data.get("name") or path.stem)] = str(data.get("tier") or "")
    return out


class Sizing(Section):
    """What the install is sized for: the planner (docs/sizing.md) turns it into the worker nodes
    terraform builds and the backbone's disk sizes."""

    # None: the preset's own number of ULBs (digit_tui/profiles).
    ulbs: int | None = expect(f"a whole number of ULBs, 1-{MAX_ULBS}", default=None, ge=1, le=MAX_ULBS)
    tier: Literal["dev", "uat", "prod"] = expect("dev, uat or prod", default="dev")
    preset: PresetName | None = None

    @model_validator(mode="before")
    @classmethod
    def _tier_of_preset(cls, data: Any) -> Any:
        # A preset names its tier (sdc-prod is prod): without a tier of its own the file takes it.
        if isinstance(data, dict) and isinstance(data.get("preset"), str) and "tier" not in data:
            tier = preset_tiers().get(data["preset"])
            if tier:
                data = {**data, "tier": tier}
        return data

    @model_validator(mode="after")
    def _known_preset(self) -> Sizing:
        if self.preset is None:
            return self
        tiers = preset_tiers()
        if self.preset not in tiers:
            close = difflib.get_close_matches(self.preset, list(tiers), n=1)
            raise bad(f"unknown sizing preset {self.preset}", "one of " + ", ".join(sorted(tiers))
                      + (f"; did you mean {close[0]}?" if close else ""), at=("preset",))
        if tiers[self.preset] != self.tier:
            raise bad(f"preset {self.preset} is a {tiers[self.preset]} preset but tier is {self.tier}",
                      f"tier: {tiers[self.preset]}, or a {self.tier} preset (or no tier: the preset's is used)",
                      at=("tier",))
        return self


class Phases(Section):
    jenkins: bool = expect("true or false", default=False)
    monitoring: bool | None = expect("true or false (default: on for tier prod)", default=None)


class Jenkins(Section):
    """DIGIT's CI (``phases.jenkins: true``): the Job Builder's repositories and who logs in."""

    repositories: list[GitUrl] = expect("a list of git URLs the Job Builder reads build-config.yml from", min_length=1)
    deploy_repository: GitUrl = expect("the DevOps repository with the deployment config",
                                       default="git@github.com:egovernments/DIGIT-DevOps.git")
    admin_user: UnixUser = "admin"
    # The git read key (a deploy key); default: the secrets file's git-sync key.
    git_key_file: SshKey | None = None
    namespace: KubeName = "jenkins"


class Engine(Section):
    # Unset: the engine's own limits (one computing task per core, 32 that wait on the cluster).
    concurrency: int | None = expect("an integer 1-32, or leave it out", default=None, ge=1, le=32)
    network_wait: float | None = expect("seconds (0 or more), or null to wait forever", default=3600.0, ge=0, allow_inf_nan=False)


# --------------------------------------------------------------------------- the file


class Answers(Section):
    version: Literal[1] = expect("1 (the only answers file version)", default=1)
    environment: EnvName = expect("an environment name such as sdc-prod")
    target: Target = expect("a mapping with provider and, for a real cluster, kubeconfig")
    network: Network = Field(default_factory=Network)
    hosts: list[Host] = expect("a list of hosts, each with name, address, user, ssh_key and roles", default_factory=list)
    cluster: Cluster = Field(default_factory=Cluster)
    terraform: Terraform | None = None
    digit: Digit = expect("a mapping with at least domain")
    database: Database = Field(default_factory=Database)
    storage: Storage = Field(default_factory=Storage)
    ingress: Ingress = Field(default_factory=Ingress)
    sizing: Sizing = Field(default_factory=Sizing)
    phases: Phases = Field(default_factory=Phases)
    jenkins: Jenkins | None = None
    engine: Engine = Field(default_factory=Engine)

    # ------------------------------------------------------------------ derived values

    @property
    def monitoring_enabled(self) -> bool:
        if self.phases.monitoring is not None:
            return self.phases.monitoring
        # DIGIT's docs enable Prometheus/Jaeger on production only.
        return MONITORING_BUILT and self.sizing.tier == "prod"

    def hosts_with(self, role: str) -> list[Host]:
        return [h for h in self.hosts if role in h.roles]

    @property
    def database_host(self) -> str | None:
        """Where Postgres is: given, the db VM for mode vm, None for in-cluster."""
        if self.database.host is not None:
            return self.database.host
        if self.database.mode == "vm":
            primary = self.database_primary
            return primary.address if primary is not None else None
        return None

    @property
    def database_primary(self) -> Host | None:
        """Mode vm: the database VM, the first host with role db that is not ``database.standby``."""
        return next((h for h in self.hosts_with("db") if h.name != self.database.standby), None)

    @property
    def database_standby(self) -> Host | None:
        return next((h for h in self.hosts if h.name == self.database.standby), None)

    # ------------------------------------------------------------------ cross-section rules

    def _standby_rule(self) -> None:
        name = self.database.standby
        if name is None:
            return
        at = ("database", "standby")
        if self.database.mode != "vm":
            raise bad("standby is only used with mode vm (digit-tui sets up both VMs over SSH)",
                      "mode: vm, or remove standby", at=at)
        standby = self.database_standby
        if standby is None:
            raise bad(f"no host is named {name}", "the name of a hosts entry with role db: "
                      + (", ".join(h.name for h in self.hosts_with("db")) or "(none has role db)"), at=at)
        if "db" not in standby.roles:
            raise bad(f"host {name} has no role db", f"add db to the roles of {name}", at=at)
        primary = self.database_primary
        if primary is None:
            raise bad(f"{name} is the only host with role db: the primary needs one too",
                      "a second hosts entry with roles: [db] for the primary", at=at)
        if self.database.host is not None and self.database.host == standby.address:
            raise bad(f"database.host {self.database.host} is the standby's address", "the primary's address in "
                      f"database.host (or leave it out: {primary.name}'s)", at=at)

    @model_validator(mode="after")
    def _cross_rules(self, info: ValidationInfo) -> Answers:
        seen_names: dict[str, int] = {}
        seen_addr: dict[tuple[str, int], int] = {}
        for i, host in enumerate(self.hosts):
            if host.name in seen_names:
                raise bad(f"host name {host.name} is used twice (also hosts[{seen_names[host.name]}])",
                          "a unique name per host", at=("hosts", i, "name"))
            seen_names[host.name] = i
            if (host.address, host.port) in seen_addr:
                raise bad(f"{host.address}:{host.port} is listed twice (also hosts[{seen_addr[(host.address, host.port)]}])",
                          "one entry per machine", at=("hosts", i, "address"))
            seen_addr[(host.address, host.port)] = i

        provider, mode = self.target.provider, self.cluster.mode
        if mode == "kubeadm":
            if provider == "sandbox":
                raise bad("the sandbox cannot be built with kubeadm", "cluster.mode: existing for provider sandbox",
                          at=("cluster", "mode"))
            if not self.hosts_with("master"):
                raise bad("kubeadm needs at least one host with role master", "hosts: [{name, address, user, ssh_key, roles: [master]}, ...]",
                          at=("cluster", "mode"))
            masters = self.hosts_with("master")
            lbs = self.hosts_with("lb")
            if len(masters) > 1 and not lbs and self.cluster.api_endpoint is None:
                raise bad(f"{len(masters)} masters need a load balancer in front of their API servers",
                          "cluster.api_endpoint: the load balancer's host:6443, or a host with role lb",
                          at=("cluster", "mode"))
            for i, host in enumerate(self.hosts):
                if "lb" in host.roles and "master" in host.roles:
                    raise bad(f"host {host.name} has roles lb and master: HAProxy and the API server would both "
                              "listen on 6443", "the load balancer on a host of its own (or a worker)",
                              at=("hosts", i, "roles"))
            pods = ipaddress.ip_network(self.cluster.pod_cidr)
            for i, host in enumerate(self.hosts):
                try:
                    ip = ipaddress.ip_address(host.address)
                except ValueError:
                    continue
                if ip in pods:
                    raise bad(f"host {host.name} ({ip}) lies inside pod_cidr {pods}", "a pod_cidr that does not contain any host address",
                              at=("cluster", "pod_cidr"))
        else:
            for key in ("pod_cidr", "service_cidr", "api_endpoint", "kubernetes_version", "package_repository",
                        "package_key_file", "package_repository_trusted", "image_repository", "cni_manifest",
                        "cni_daemonset", "lb_install", "api_allow"):
                if key in self.cluster.model_fields_set:
                    raise bad(f"cluster.{key} is only used with cluster.mode: kubeadm",
                              f"mode: kubeadm, or no {key} (an existing cluster keeps its own)", at=("cluster", key))
        if mode == "terraform":
            if provider == "sandbox":
                raise bad("the sandbox cannot be built with terraform", "cluster.mode: existing for provider sandbox",
                          at=("cluster", "mode"))
            if self.terraform is None:
                raise bad("cluster.mode: terraform needs a terraform section", "terraform: {dir: PATH, variables: {...}}",
                          at=("cluster", "mode"))
            if self.target.kubeconfig is not None:
                raise bad("target.kubeconfig is written by the terraform phase", "no target.kubeconfig with "
                          "cluster.mode: terraform (the kubeconfig comes from the terraform output)", at=("target",))
        elif self.terraform is not None:
            raise bad("the terraform section is only used with cluster.mode: terraform",
                      "cluster: {mode: terraform}, or remove the terraform section", at=("terraform",))
        if mode == "existing" and provider != "sandbox" and self.target.kubeconfig is None:
            raise bad(f"provider {provider} with an existing cluster needs a kubeconfig",
                      "kubeconfig: PATH of the cluster's kubeconfig", at=("target",))
        if self.phases.jenkins and self.jenkins is None:
            raise bad("true needs a jenkins section", "jenkins: {repositories: [GIT_URL, ...]}",
                      at=("phases", "jenkins"))
        if self.jenkins is not None and not self.phases.jenkins:
            raise bad("the jenkins section is only used with phases.jenkins: true",
                      "phases: {jenkins: true}, or remove the jenkins section", at=("jenkins",))
        st = self.storage
        if st.outputs and mode != "terraform":
            raise bad("storage.outputs names terraform outputs, and no terraform phase runs",
                      "cluster.mode: terraform, or storage.disks", at=("storage", "outputs"))
        if st.outputs and st.disks is not None:
            raise bad("storage.disks and storage.outputs both say where the disks are", "one of them",
                      at=("storage", "outputs"))
        if st.mode == "static" and st.disks is None and mode != "terraform" and not (
                st.provider == "iscsi" and st.iscsi is not None and st.iscsi.iqn_prefix):
            raise bad(f"static {st.provider} volumes need the disks", "storage.disks: {kafka: [ID, ...], ...} as the "
                      "disks' owner handed them over, or cluster.mode: terraform (its outputs list them)"
                      + (", or iscsi.iqn_prefix (targets <prefix>:<service>-<i>)" if st.provider == "iscsi" else ""),
                      at=("storage", "mode"))
        self._standby_rule()
        if self.database.mode == "vm" and self.database_host is None:
            raise bad("database mode vm needs host or a host with role db", "database.host, or a hosts entry with roles: [db]",
                      at=("database", "mode"))
        # Last: a file that is consistent but asks for what no phase does yet. A recorded
        # configuration (answers/config.py) was refused or accepted when it was first validated.
        if (info.context or {}).get("recorded"):
            return self
        for unbuilt in NOT_AVAILABLE_YET:
            hit = unbuilt.used(self)
            if hit is not None:
                at, value = hit
                raise bad(f"{value} is not available yet ({unbuilt.why})", unbuilt.instead, at=at)
        return self


# --------------------------------------------------------------------------- not available yet
#
# Keys only a phase that is not built yet would act on. Accepting them would let an operator
# believe they were honoured (a kubeadm cluster built, TLS set up, Jenkins installed), so
# validation refuses them, naming the key. The schema above keeps them: when a phase is built,
# its keys leave this list, and nothing else changes.


Use = Callable[["Answers"], "tuple[tuple[str, ...], str] | None"]


@dataclass(frozen=True)
class Unbuilt:
    """One key no phase acts on yet."""

    used: Use                   # (where, what the file asks for) when it uses the key
    why: str                    # which phase is missing
    instead: str                # what to write today


def _given(section: str, key: str) -> Use:
    """The key whenever the file sets it (leaving it out asks for nothing)."""
    def used(answers: Answers) -> tuple[tuple[str, ...], str] | None:
        return ((section, key), "this key") if key in getattr(answers, section).model_fields_set else None
    return used


def _when(section: str, key: str, test: Callable[[Any], bool]) -> Use:
    """The key when its value asks for the missing phase."""
    def used(answers: Answers) -> tuple[tuple[str, ...], str] | None:
        value = getattr(getattr(answers, section), "class_" if key == "class" else key)
        if not test(value):
            return None
        return (section, key), ("true" if value else "false") if isinstance(value, bool) else str(value)
    return used


NOT_AVAILABLE_YET: tuple[Unbuilt, ...] = (
    Unbuilt(_when("ingress", "class", lambda v: v != "nginx"),
            "the release deploys nginx-ingress; no other ingress controller is set up", "class: nginx"),
    Unbuilt(_when("ingress", "tls", lambda v: v != "none"), "the TLS phase (cert-manager, certificate secrets) "
            "is not built", "tls: none (terminate TLS in front of the cluster for now)"),
)
# The monitoring phase exists: tier prod turns it on unless phases.monitoring says otherwise.
MONITORING_BUILT = True
