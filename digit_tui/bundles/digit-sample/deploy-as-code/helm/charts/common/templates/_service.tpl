{{- define "common.service" -}}
{{- include "common.call" (list . "common.service.body") -}}
{{- end -}}

{{- define "common.service.body" -}}
{{- $v := .Values -}}
{{- $svc := $v.service | default dict -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ $v.name }}
  namespace: {{ include "common.namespace" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  type: {{ $svc.type | default "ClusterIP" }}
  selector:
    app: {{ $v.name }}
  ports:
  {{- if $svc.ports }}
  {{- toYaml $svc.ports | nindent 2 }}
  {{- else }}
  - name: http
    port: {{ $svc.port | default 8080 }}
    targetPort: {{ $v.httpPort | default 8080 }}
  {{- end }}
{{- end -}}
