{{/*
Entry point shared by every public template: merge the environment file's
per-service block (.Values[<name>]) over the chart's values, then include the
body template with a root context whose .Values is the merged result.
Called as: include "common.call" (list . "common.deployment.body")
*/}}
{{- define "common.call" -}}
{{- $top := index . 0 -}}
{{- $body := index . 1 -}}
{{- $vals := deepCopy $top.Values -}}
{{- $name := required "name is mandatory (render with --set name=<service>)" $vals.name -}}
{{- $override := index $vals $name -}}
{{- if kindIs "map" $override -}}
{{- $vals = mustMergeOverwrite $vals (deepCopy $override) -}}
{{- end -}}
{{- $root := dict "Values" $vals "Release" $top.Release "Chart" $top.Chart "Capabilities" $top.Capabilities "Files" $top.Files "Template" $top.Template -}}
{{- include $body $root -}}
{{- end -}}

{{- define "common.namespace" -}}
{{- .Values.namespace | default "egov" -}}
{{- end -}}

{{- define "common.labels" -}}
app: {{ .Values.name }}
{{- with (.Values.labels | default dict).group }}
group: {{ . }}
{{- end }}
{{- end -}}

{{/*
Image reference <registry>/<repository>:<tag>. The registry is the image's own
(backbone images come from their vendors), else global.containerRegistry, else
egovio. Called with (dict "image" <map> "root" <root> "repository" <default>).
*/}}
{{- define "common.image" -}}
{{- $img := .image | default dict -}}
{{- $global := .root.Values.global | default dict -}}
{{- $registry := $img.registry | default $global.containerRegistry | default "egovio" -}}
{{- $repository := $img.repository | default .repository -}}
{{- if not $img.tag -}}
{{- fail (printf "Tag is mandatory for image %s/%s (render with --set image.tag=<tag>)" $registry $repository) -}}
{{- end -}}
{{- printf "%s/%s:%v" $registry $repository $img.tag -}}
{{- end -}}

{{- define "common.contextPath" -}}
{{- .Values.contextPath | default .Values.name -}}
{{- end -}}

{{/* Resources from .Values.resources, with DIGIT's memory_limits shorthand winning. */}}
{{- define "common.resources" -}}
{{- $res := deepCopy (.Values.resources | default dict) -}}
{{- if .Values.memory_limits -}}
{{- $limits := $res.limits | default dict -}}
{{- $_ := set $limits "memory" .Values.memory_limits -}}
{{- $_ := set $res "limits" $limits -}}
{{- end -}}
{{- if $res }}
{{- toYaml $res }}
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{- define "common.configRef" -}}
valueFrom:
  configMapKeyRef:
    name: {{ .map }}
    key: {{ .key }}
{{- end -}}

{{- define "common.secretRef" -}}
valueFrom:
  secretKeyRef:
    name: {{ .secret }}
    key: {{ .key }}
{{- end -}}

{{/*
Container environment: database settings from the egov-config ConfigMap and the
db Secret, Kafka brokers, egov-config keys, in-cluster service hosts from
egov-service-host, secret keys, literal values, then a raw list passed through tpl.
*/}}
{{- define "common.env" -}}
{{- $v := .Values -}}
{{- if eq ($v.appType | default "java") "java" }}
- name: JAVA_OPTS
  value: {{ $v.heap | default "-Xmx192m -Xms192m" | quote }}
- name: SERVER_PORT
  value: {{ $v.httpPort | default 8080 | quote }}
- name: SERVER_SERVLET_CONTEXT_PATH
  value: /{{ include "common.contextPath" . }}
- name: JAVA_TZ
  {{- include "common.configRef" (dict "map" "egov-config" "key" "timezone") | nindent 2 }}
{{- end }}
{{- if ($v.db | default dict).enabled }}
- name: SPRING_DATASOURCE_URL
  {{- include "common.configRef" (dict "map" "egov-config" "key" "db-url") | nindent 2 }}
- name: SPRING_DATASOURCE_USERNAME
  {{- include "common.secretRef" (dict "secret" "db" "key" "username") | nindent 2 }}
- name: SPRING_DATASOURCE_PASSWORD
  {{- include "common.secretRef" (dict "secret" "db" "key" "password") | nindent 2 }}
- name: SPRING_DATASOURCE_TOMCAT_MAX_ACTIVE
  {{- include "common.configRef" (dict "map" "egov-config" "key" "spring-datasource-tomcat-max-active") | nindent 2 }}
- name: SERVER_TOMCAT_MAX_THREADS
  {{- include "common.configRef" (dict "map" "egov-config" "key" "server-tomcat-max-threads") | nindent 2 }}
{{- end }}
{{- if ($v.kafka | default dict).enabled }}
- name: KAFKA_CONFIG_BOOTSTRAP_SERVER_CONFIG
  {{- include "common.configRef" (dict "map" "egov-config" "key" "kafka-brokers") | nindent 2 }}
{{- end }}
{{- range $env, $key := $v.configEnv }}
- name: {{ $env }}
  {{- include "common.configRef" (dict "map" "egov-config" "key" $key) | nindent 2 }}
{{- end }}
{{- range $env, $svc := $v.serviceHosts }}
- name: {{ $env }}
  {{- include "common.configRef" (dict "map" "egov-service-host" "key" $svc) | nindent 2 }}
{{- end }}
{{- range $env, $ref := $v.secretEnv }}
- name: {{ $env }}
  {{- include "common.secretRef" $ref | nindent 2 }}
{{- end }}
{{- range $env, $value := $v.extraEnv }}
- name: {{ $env }}
  value: {{ $value | quote }}
{{- end }}
{{- with $v.env }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end -}}

{{/* The Flyway migration init container: image <name>-db with the service's tag. */}}
{{- define "common.dbMigration" -}}
{{- $m := (.Values.initContainers | default dict).dbMigration | default dict -}}
- name: {{ .Values.name }}-db-migration
  image: {{ include "common.image" (dict "image" $m.image "root" . "repository" (printf "%s-db" .Values.name)) }}
  env:
  - name: DB_URL
    {{- include "common.configRef" (dict "map" "egov-config" "key" "db-url") | nindent 4 }}
  - name: SCHEMA_TABLE
    value: {{ $m.schemaTable | default (printf "%s_schema" (.Values.name | replace "-" "_")) | quote }}
  - name: FLYWAY_USER
    {{- include "common.secretRef" (dict "secret" "db" "key" "flyway-username") | nindent 4 }}
  - name: FLYWAY_PASSWORD
    {{- include "common.secretRef" (dict "secret" "db" "key" "flyway-password") | nindent 4 }}
  - name: FLYWAY_LOCATIONS
    {{- include "common.configRef" (dict "map" "egov-config" "key" "flyway-locations") | nindent 4 }}
  resources:
    requests:
      cpu: 10m
      memory: 64Mi
    limits:
      memory: 256Mi
{{- end -}}

{{/* Probes: HTTP GET /<contextPath>/health by default, TCP for non-HTTP services. */}}
{{- define "common.probes" -}}
{{- $h := .Values.healthChecks | default dict -}}
{{- if not (eq (toString $h.enabled) "false") -}}
{{- $port := .Values.httpPort | default 8080 -}}
{{- range $kind, $delay := dict "readinessProbe" ($h.readinessInitialDelay | default 30) "livenessProbe" ($h.livenessInitialDelay | default 60) }}
{{ $kind }}:
  {{- if $h.tcp }}
  tcpSocket:
    port: {{ $port }}
  {{- else }}
  httpGet:
    path: {{ $h.path | default (printf "/%s/health" (include "common.contextPath" $)) }}
    port: {{ $port }}
  {{- end }}
  initialDelaySeconds: {{ $delay }}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 5
{{- end }}
{{- end }}
{{- end -}}
