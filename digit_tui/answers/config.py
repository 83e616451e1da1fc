"""The one typed configuration of an install: the validated answers and the values derived from them.

``InstallConfig`` is what the task graph and every task receive. It is built
once from the validated answers (``install_config``), stored by the engine as a
JSON document in its journal (``to_document``) and rebuilt from that document
when a graph is built (``from_document``), so a resumed engine sees exactly the
choices the install started with. Derived values (the effective source and
release manifest, where the database is, whether monitoring is on, the
endpoints the network probe watches) are computed here and nowhere else.

The document carries the answers as the operator set them (``exclude_unset``):
rebuilding validates them again with ``recorded=True``, which skips what only a
first validation should do (reading files, refusing keys no phase acts on yet),
and keeps which keys the operator wrote, which later layering decisions use.
The document holds paths to secret files, never secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digit_tui.answers.model import BUNDLED_SOURCE, Answers, SourceGit, SourcePath
from digit_tui.answers.sizingplan import SizingPlan
from digit_tui.digit.selection import IN_CLUSTER_DB_HOST, SourceRef

if TYPE_CHECKING:
    from digit_tui.digit.envfile import Answered
    from digit_tui.digit.envinputs import EnvInputs
    from digit_tui.digit.operatorenv import OperatorFiles
    from digit_tui.digit.selection import Release
    from digit_tui.engine.task import Endpoint

DOCUMENT_VERSION = 1


@dataclass(frozen=True)
class PreflightOptions:
    """What the client that started the install asked of the prerequisites."""

    skip_checks: bool = False       # warnings acknowledged (`install --skip-checks`)
    tier: str | None = None         # thresholds: dev or prod (`preflight --tier`); else the answers'


@dataclass(frozen=True)
class InstallConfig:
    """Everything tasks know about the install; immutable."""

    answers: Answers
    answers_file: str | None
    source: SourceRef               # the DIGIT source, resolved (the bundled sample's absolute path)
    release: str | None             # the release manifest: given, or the only one a local source has
    database_host: str | None       # given, the db VM's address for mode vm, None in-cluster
    monitoring: bool
    endpoints: tuple[Endpoint, ...]
    state_dir: Path | None = None   # set by the engine (the document does not carry it)
    preflight: PreflightOptions = PreflightOptions()
    # The capacity plan of sizing.ulbs / preset / tier (answers/sizingplan.py), planned by the client
    # that starts the install (the planner is above this layer); None: nothing was planned, and the
    # phases keep their defaults (DIGIT's dev disk sizes, no node variables for terraform).
    sizing: SizingPlan | None = None

    # ------------------------------------------------------------------ building

    @classmethod
    def from_answers(cls, answers: Answers, answers_file: str | os.PathLike[str] | None = None, *,
                     state_dir: Path | None = None, preflight: PreflightOptions = PreflightOptions(),
                     sizing: SizingPlan | None = None) -> InstallConfig:
        from digit_tui.answers.settings import network_endpoints

        return cls(
            answers=answers,
            answers_file=os.path.abspath(answers_file) if answers_file is not None else None,
            source=_source(answers),
            release=answers.digit.release_file(),
            database_host=answers.database_host,
            monitoring=answers.monitoring_enabled,
            endpoints=tuple(network_endpoints(answers)),
            state_dir=state_dir,
            preflight=preflight,
            sizing=sizing,
        )

    def to_document(self) -> dict[str, Any]:
        """JSON data for the journal: the answers as set, the derived values, the engine's own keys."""
        return {
            "version": DOCUMENT_VERSION,
            "environment": self.answers.environment,
            "answers": self.answers.model_dump(mode="json", by_alias=True, exclude_unset=True),
            "answers_file": self.answers_file,
            "derived": {
                "source": {"kind": self.source.kind, "path": self.source.path, "git": self.source.git,
                           "ref": self.source.ref},
                "release": self.release,
                "database_host": self.database_host,
                "monitoring": self.monitoring,
                "sizing": self.sizing.to_dict() if self.sizing is not None else None,
            },
            "preflight": {"skip_checks": self.preflight.skip_checks, "tier": self.preflight.tier},
            # Read by the engine itself (engine/options.py), which knows nothing else of this document.
            "engine": {"concurrency": self.answers.engine.concurrency,
                       "network_wait": self.answers.engine.network_wait},
            "endpoints": [{"host": e.host, "port": e.port, "label": e.label, "scheme": e.scheme}
                          for e in self.endpoints],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any], state_dir: Path | str | None = None) -> InstallConfig:
        """The configuration a document (``to_document``) records; ValueError when it is not one."""
        from digit_tui.engine.task import Endpoint

        if not isinstance(document, Mapping) or document.get("version") != DOCUMENT_VERSION:
            raise ValueError("not an install configuration document of this digit-tui version")
        answers = Answers.model_validate(document["answers"], context={"check_files": False, "recorded": True})
        derived = document["derived"]
        src = derived["source"]
        options = document.get("preflight") or {}
        return cls(
            answers=answers,
            answers_file=document.get("answers_file"),
            source=SourceRef(kind=src["kind"], path=src.get("path"), git=src.get("git"), ref=src.get("ref")),
            release=derived.get("release"),
            database_host=derived.get("database_host"),
            monitoring=bool(derived.get("monitoring")),
            endpoints=tuple(Endpoint(str(e["host"]), int(e["port"]), str(e["label"]), scheme=str(e.get("scheme") or "tcp"))
                            for e in document.get("endpoints") or ()),
            state_dir=Path(state_dir) if state_dir is not None else None,
            preflight=PreflightOptions(skip_checks=bool(options.get("skip_checks")), tier=options.get("tier")),
            sizing=SizingPlan.from_dict(derived["sizing"]) if derived.get("sizing") else None,
        )

    def with_state_dir(self, state_dir: Path) -> InstallConfig:
        from dataclasses import replace

        return replace(self, state_dir=state_dir)

    def with_preflight(self, options: PreflightOptions) -> InstallConfig:
        from dataclasses import replace

        return replace(self, preflight=options)

    # ------------------------------------------------------------------ derived, for the tasks

    @property
    def environment(self) -> str:
        return self.answers.environment

    def require_state_dir(self) -> Path:
        from digit_tui.errors import PermanentError

        if self.state_dir is None:
            raise PermanentError("the engine gave no state directory to the install tasks",
                                 remedy="run through `digit-tui install`, which sets it")
        return self.state_dir

    def open_release(self, *, progress: Any = None, manifest: str | Path | None = None,
                     modules: list[str] | None = None, fetch: bool = True) -> Release:
        """The source, release manifest and resolved modules the answers name (InputError if bad)."""
        from digit_tui.digit.selection import open_release

        return open_release(self.source, manifest or self.release,
                            list(self.answers.digit.modules) if modules is None else modules,
                            state_dir=self.state_dir, progress=progress, fetch=fetch, answers_file=self.answers_file)

    def env_inputs(self, storage: Mapping[str, Any] | None = None, *, preview: bool = False) -> EnvInputs:
        """What the environment file is generated from. ``storage``: the volumes task's outputs
        (``storage_mode``, ``storage_provider``, ``storage_class``, ``volumes``, ``env_overrides``),
        which say what the ``persistence`` blocks hold; without them (a graph with no volumes phase,
        or ``preview`` before an install) the answers' storage class, with dynamic volumes."""
        from digit_tui.digit.envinputs import EnvInputs, is_ip

        a = self.answers
        db_host = self.database_host or ""
        db_ips: tuple[str, ...] = ()
        if a.database.mode == "in-cluster" or not db_host:
            db_host = IN_CLUSTER_DB_HOST
        elif is_ip(db_host):
            # DIGIT reaches an external database by IP through the db-service Service + manual Endpoints.
            db_host, db_ips = "", (db_host,)
        published = dict(storage or {}) if not preview else {}
        mode = str(published.get("storage_mode") or "dynamic")
        provider = str(published.get("storage_provider") or "none")
        inputs = EnvInputs(
            environment=a.environment,
            domain=a.digit.domain,
            state_tenant_id=a.digit.state_tenant,
            container_registry=a.digit.container_registry,
            db_host=db_host, db_ips=db_ips, db_port=a.database.port, db_name=a.database.name,
            storage_mode=mode,
            storage_provider=provider if provider != "none" else "iscsi",
            # The class the answers name, never the cluster default the task found: naming it now would
            # change the volumeClaimTemplates of StatefulSets already made without it (immutable).
            storage_class=a.storage.storage_class or "" if mode == "dynamic" else "",
            volumes=dict(published.get("volumes") or {}) if mode == "static" else {},
            service_overrides=dict(published.get("env_overrides") or {}),
        )
        inputs.validate()
        return inputs

    def operator_files(self) -> OperatorFiles:
        from digit_tui.digit.operatorenv import OperatorFiles

        return OperatorFiles(self.answers.digit.environment_file, self.answers.digit.secrets_file)

    def answered(self) -> Answered:
        """Which answers replace the values of the operator's own environment file: those that differ
        from the defaults (the operator's file keeps its value where the answers say nothing new)."""
        from digit_tui.digit.envfile import Answered

        a, defaults = self.answers, _DEFAULTS
        return Answered(
            tenant=a.digit.state_tenant != defaults.digit.state_tenant,
            registry=a.digit.container_registry != defaults.digit.container_registry,
            db_host=a.database.mode != "in-cluster",
            db_port=a.database.port != defaults.database.port,
            db_name=a.database.name != defaults.database.name,
        )

    def operator_env(self, inputs: EnvInputs) -> Any:
        from digit_tui.digit.operatorenv import OperatorEnv

        return OperatorEnv(self.operator_files(), self.answered(), inputs)

    @property
    def skip_services(self) -> tuple[str, ...]:
        return tuple(self.answers.digit.skip_services)

    @property
    def tags(self) -> dict[str, str]:
        """``digit.tags``: service (or ``<service>-db``) -> image tag."""
        return dict(self.answers.digit.tags)


class _Defaults:
    """The schema's own defaults, read from the model (one place for them: answers/model.py)."""

    def __init__(self) -> None:
        from digit_tui.answers.model import Database, Digit

        self.digit = Digit.model_construct()
        self.database = Database.model_construct()


_DEFAULTS = _Defaults()


def _source(answers: Answers) -> SourceRef:
    source = answers.digit.source
    if isinstance(source, SourceGit):
        return SourceRef("git", git=source.git, ref=source.ref)
    if isinstance(source, SourcePath):
        return SourceRef("path", path=str(source.path))
    return SourceRef("bundled", path=str(BUNDLED_SOURCE))


def set_preflight(document: dict[str, Any], options: PreflightOptions) -> None:
    """Record ``options`` in a document (``to_document``): the client that starts the install knows
    them (``install --skip-checks``) only after the answers were turned into the document."""
    document["preflight"] = {"skip_checks": options.skip_checks, "tier": options.tier}
