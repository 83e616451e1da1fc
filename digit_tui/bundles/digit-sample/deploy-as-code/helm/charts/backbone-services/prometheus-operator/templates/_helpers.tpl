{{/*
Like every DIGIT chart: the environment file's block for this chart (.Values.prometheus-operator)
is merged over the chart's values before a body template renders.
Called as: include "promop.call" (list . "<body template>")
*/}}
{{- define "promop.call" -}}
{{- $top := index . 0 -}}
{{- $vals := deepCopy $top.Values -}}
{{- $override := index $vals $top.Chart.Name -}}
{{- if kindIs "map" $override -}}
{{- $vals = mustMergeOverwrite $vals (deepCopy $override) -}}
{{- end -}}
{{- include (index . 1) (dict "Values" $vals "Chart" $top.Chart "Release" $top.Release "Capabilities" $top.Capabilities "Template" $top.Template) -}}
{{- end -}}

{{- define "promop.fullname" -}}
{{- .Values.fullnameOverride | default "prometheus" -}}
{{- end -}}

{{- define "promop.labels" -}}
app.kubernetes.io/part-of: prometheus-operator
group: monitoring
{{- end -}}

{{- define "promop.image" -}}
{{- printf "%s:%s" (required "an image repository is mandatory" .repository) (required "an image tag is mandatory" .tag) -}}
{{- end -}}
