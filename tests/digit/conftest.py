"""A small DIGIT-shaped tree written by the tests: a common library chart, cluster-configs,
a shared elasticsearch chart (two services, with a CRD), and two core services."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


COMMON_CHART = """
apiVersion: v2
name: common
version: 0.1.0
type: library
"""

COMMON_HELPERS = """
{{- define "common.values" -}}
{{- $own := index .Values .Values.name | default dict -}}
{{- toYaml (mergeOverwrite (deepCopy .Values) $own) -}}
{{- end -}}

{{- define "common.image" -}}
{{- $reg := .global.containerRegistry | default "egovio" -}}
{{- printf "%s/%s:%s" $reg .image.repository (required "Tag is mandatory" .image.tag) -}}
{{- end -}}

{{- define "common.deployment" -}}
{{- $v := include "common.values" . | fromYaml -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $v.name }}
  namespace: {{ $v.namespace | default "egov" }}
spec:
  replicas: {{ $v.replicas | default 1 }}
  selector:
    matchLabels: {app: {{ $v.name }}}
  template:
    metadata:
      labels: {app: {{ $v.name }}}
    spec:
      {{- if $v.initContainers.dbMigration.enabled }}
      initContainers:
      - name: db-migration
        image: {{ include "common.image" (dict "global" $v.global "image" (dict "repository" (printf "%s-db" $v.name) "tag" $v.initContainers.dbMigration.image.tag)) }}
      {{- end }}
      containers:
      - name: {{ $v.name }}
        image: {{ include "common.image" $v }}
        resources:
          requests: {memory: {{ $v.memory | default "256Mi" | quote }}}
{{- end -}}

{{- define "common.service" -}}
{{- $v := include "common.values" . | fromYaml -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ $v.name }}
  namespace: {{ $v.namespace | default "egov" }}
spec:
  selector: {app: {{ $v.name }}}
  ports:
  - port: 8080
{{- end -}}
"""


def service_chart(root: Path, group: str, name: str, *, db: bool = True, extra_values: str = "") -> Path:
    chart = root / "charts" / group / name
    write(chart / "Chart.yaml", f"""
        apiVersion: v2
        name: {name}
        version: 0.1.0
        dependencies:
        - name: common
          version: 0.1.0
          repository: file://../../common
        """)
    write(chart / "values.yaml", f"""
        namespace: egov
        image:
          repository: {name}
        initContainers:
          dbMigration:
            enabled: {str(db).lower()}
            image:
              repository: {name}-db
        """ + textwrap.dedent(extra_values))
    write(chart / "templates" / "deployment.yaml", '{{- include "common.deployment" . }}\n')
    write(chart / "templates" / "service.yaml", '{{- include "common.service" . }}\n')
    return chart


MANIFEST = """
version: v0.1
modules:
  - name: backbone
    services:
      - elasticsearch-data-v1
      - elasticsearch-master-v1
  - name: core
    dependencies: [backbone]
    services:
      - "egovio/egov-mdms-service:v1.3.2-abc1234-7"
      - "egovio/egov-user:v1.2.0-def5678-3"
      - "egovio/egov-user-db:v1.2.0-def5678-4"
  - name: business
    dependencies: [core]
  - name: m_pgr
    dependencies: [core, business]
    services:
      - "pgr-services:v1.1.0-0a1b2c3-1"
"""

ENV = """
global:
  domain: demo.example.org
  containerRegistry: egovio
cluster-configs:
  namespaces:
    create: true
    values: [egov, es-cluster]
  configmaps:
    egov-config:
      data:
        db-url: jdbc:postgresql://db-service.egov:5432/egov
egov-user:
  replicas: 2
  memory: 512Mi
"""

SECRETS = """
cluster-configs:
  secrets:
    db:
      username: egov
      password: s3cret-db-password
"""


@dataclass
class Tree:
    root: Path
    charts: Path
    manifest: Path
    env_file: Path
    secrets_file: Path


def make_tree(root: Path, *, classic: bool = True) -> Tree:
    base = root / "deploy-as-code" / "helm" if classic else root
    write(base / "charts" / "common" / "Chart.yaml", COMMON_CHART)
    write(base / "charts" / "common" / "templates" / "_helpers.tpl", COMMON_HELPERS)

    cc = base / "charts" / "cluster-configs"
    write(cc / "Chart.yaml", "apiVersion: v2\nname: cluster-configs\nversion: 0.1.0\n")
    write(cc / "values.yaml", "namespaces:\n  create: false\n")
    write(cc / "templates" / "namespaces.yaml", """
        {{- $cc := index .Values "cluster-configs" }}
        {{- if $cc.namespaces.create }}
        {{- range $cc.namespaces.values }}
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: {{ . }}
        {{- end }}
        {{- end }}
        """)
    write(cc / "templates" / "configmap.yaml", """
        {{- $cc := index .Values "cluster-configs" }}
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: egov-config
          namespace: egov
        data:
          {{- toYaml (index $cc.configmaps "egov-config").data | nindent 2 }}
        """)
    write(cc / "templates" / "secret-db.yaml", """
        {{- $db := (index .Values "cluster-configs").secrets.db }}
        apiVersion: v1
        kind: Secret
        metadata:
          name: db
          namespace: egov
        type: Opaque
        data:
          username: {{ $db.username | b64enc }}
          password: {{ $db.password | b64enc }}
        """)

    es = base / "charts" / "backbone" / "elasticsearch"
    write(es / "Chart.yaml", """
        apiVersion: v2
        name: elasticsearch
        version: 0.1.0
        dependencies:
        - name: common
          version: 0.1.0
          repository: file://../../common
        """)
    for role, replicas in (("data", 3), ("master", 3)):
        write(es / f"elasticsearch-{role}-v1-values.yaml", f"""
            namespace: es-cluster
            replicas: {replicas}
            role: {role}
            image:
              repository: elasticsearch
              tag: 6.6.2
            """)
    write(es / "templates" / "statefulset.yaml", """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata:
          name: {{ .Values.name }}
          namespace: {{ .Values.namespace }}
        spec:
          replicas: {{ .Values.replicas }}
          serviceName: {{ .Values.name }}
          selector:
            matchLabels: {app: {{ .Values.name }}}
          template:
            metadata:
              labels: {app: {{ .Values.name }}, role: {{ .Values.role }}}
            spec:
              containers:
              - name: es
                image: {{ include "common.image" .Values }}
        """)
    write(es / "crds" / "snapshots.yaml", """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: snapshots.es.example.org
        spec:
          group: es.example.org
          names: {kind: Snapshot, plural: snapshots}
          scope: Namespaced
          versions:
          - name: v1
            served: true
            storage: true
            schema:
              openAPIV3Schema: {type: object}
        """)

    service_chart(base, "core", "egov-user")
    service_chart(base, "core", "egov-mdms-service")
    service_chart(base, "m-pgr", "pgr-services")

    manifest = write(base / "product-release-charts" / "DIGIT" / "dependancy_chart-digit-v0.1.yaml", MANIFEST)
    env_file = write(base / "environments" / "dev.yaml", ENV)
    secrets_file = write(base / "environments" / "dev-secrets.yaml", SECRETS)
    return Tree(root=root, charts=base / "charts", manifest=manifest, env_file=env_file, secrets_file=secrets_file)


@pytest.fixture
def digit_tree(tmp_path: Path) -> Tree:
    return make_tree(tmp_path / "DIGIT-DevOps")
