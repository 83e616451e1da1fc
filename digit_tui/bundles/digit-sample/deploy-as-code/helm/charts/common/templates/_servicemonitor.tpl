{{- define "common.servicemonitor" -}}
{{- include "common.call" (list . "common.servicemonitor.body") -}}
{{- end -}}

{{/* A Prometheus Operator ServiceMonitor; rendered only when serviceMonitor.enabled. */}}
{{- define "common.servicemonitor.body" -}}
{{- $v := .Values -}}
{{- $sm := $v.serviceMonitor | default dict -}}
{{- if $sm.enabled -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ $v.name }}
  namespace: {{ include "common.namespace" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  selector:
    matchLabels:
      app: {{ $v.name }}
  endpoints:
  - port: {{ $sm.port | default "http" }}
    path: {{ $sm.path | default (printf "/%s/prometheus" (include "common.contextPath" .)) }}
    interval: {{ $sm.interval | default "30s" }}
{{- end -}}
{{- end -}}
