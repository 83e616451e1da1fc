{{- define "common.deployment" -}}
{{- include "common.call" (list . "common.deployment.body") -}}
{{- end -}}

{{- define "common.deployment.body" -}}
{{- $v := .Values -}}
{{- $m := ($v.initContainers | default dict).dbMigration | default dict -}}
{{- $git := $v.gitSync | default dict -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $v.name }}
  namespace: {{ include "common.namespace" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  replicas: {{ $v.replicas | default 1 }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      app: {{ $v.name }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "common.labels" . | nindent 8 }}
    spec:
      {{- with $v.serviceAccountName }}
      serviceAccountName: {{ . }}
      {{- end }}
      {{- if $m.enabled }}
      initContainers:
        {{- include "common.dbMigration" . | nindent 8 }}
      {{- end }}
      containers:
      - name: {{ $v.name }}
        image: {{ include "common.image" (dict "image" $v.image "root" . "repository" $v.name) }}
        {{- with $v.command }}
        command:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        {{- with $v.args }}
        args:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        ports:
        {{- if $v.ports }}
          {{- toYaml $v.ports | nindent 8 }}
        {{- else }}
        - name: http
          containerPort: {{ $v.httpPort | default 8080 }}
        {{- end }}
        env:
          {{- include "common.env" . | indent 8 }}
        resources:
          {{- include "common.resources" . | nindent 10 }}
        {{- include "common.probes" . | indent 8 }}
        {{- if $git.enabled }}
        volumeMounts:
        - name: git-data
          mountPath: /work-dir
          readOnly: true
      - name: git-sync
        image: {{ $git.image | default "registry.k8s.io/git-sync/git-sync:v3.6.9" }}
        env:
        - name: GIT_SYNC_REPO
          value: {{ $git.repo | default "git@github.com:egovernments/egov-mdms-data.git" | quote }}
        - name: GIT_SYNC_BRANCH
          value: {{ $git.branch | default "master" | quote }}
        - name: GIT_SYNC_ROOT
          value: /work-dir
        - name: GIT_SYNC_SSH
          value: "true"
        - name: GIT_SYNC_WAIT
          value: "30"
        resources:
          requests:
            cpu: 10m
            memory: 32Mi
          limits:
            memory: 128Mi
        volumeMounts:
        - name: git-data
          mountPath: /work-dir
        - name: git-secret
          mountPath: /etc/git-secret
          readOnly: true
      volumes:
      - name: git-data
        emptyDir: {}
      - name: git-secret
        secret:
          secretName: git-creds
          defaultMode: 0400
        {{- end }}
{{- end -}}
