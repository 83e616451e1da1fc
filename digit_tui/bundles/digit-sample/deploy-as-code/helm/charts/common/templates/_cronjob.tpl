{{- define "common.cronjob" -}}
{{- include "common.call" (list . "common.cronjob.body") -}}
{{- end -}}

{{/* A CronJob running the service image; rendered only when cronjob.schedule is set. */}}
{{- define "common.cronjob.body" -}}
{{- $v := .Values -}}
{{- $cj := $v.cronjob | default dict -}}
{{- if $cj.schedule -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ $v.name }}
  namespace: {{ include "common.namespace" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  schedule: {{ $cj.schedule | quote }}
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 1
  failedJobsHistoryLimit: 3
  jobTemplate:
    spec:
      backoffLimit: 2
      template:
        metadata:
          labels:
            {{- include "common.labels" . | nindent 12 }}
        spec:
          restartPolicy: OnFailure
          containers:
          - name: {{ $v.name }}
            image: {{ include "common.image" (dict "image" $v.image "root" . "repository" $v.name) }}
            {{- with $cj.args }}
            args:
              {{- toYaml . | nindent 14 }}
            {{- end }}
            env:
              {{- include "common.env" . | indent 14 }}
            resources:
              {{- include "common.resources" . | nindent 14 }}
{{- end -}}
{{- end -}}
