{{- define "common.ingress" -}}
{{- include "common.call" (list . "common.ingress.body") -}}
{{- end -}}

{{/* Exposes /<contextPath> on global.domain; rendered only when ingress.enabled. */}}
{{- define "common.ingress.body" -}}
{{- $v := .Values -}}
{{- $ing := $v.ingress | default dict -}}
{{- if $ing.enabled -}}
{{- $global := $v.global | default dict -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ $v.name }}
  namespace: {{ include "common.namespace" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
  annotations:
    nginx.ingress.kubernetes.io/proxy-body-size: {{ $ing.bodySize | default "8m" | quote }}
spec:
  ingressClassName: {{ $ing.className | default "nginx" }}
  rules:
  - host: {{ required "global.domain is mandatory for an ingress" $global.domain }}
    http:
      paths:
      - path: {{ $ing.path | default (printf "/%s" (include "common.contextPath" .)) }}
        pathType: Prefix
        backend:
          service:
            {{- /* DIGIT routes API paths through the zuul gateway, which checks the token. */}}
            name: {{ ternary "zuul" $v.name (eq (toString $ing.zuul) "true") }}
            port:
              number: {{ ($v.service | default dict).port | default 8080 }}
{{- end -}}
{{- end -}}
