{{/*
The chart's values with the environment file's jenkins block merged over them (DIGIT's ci.yaml
configures its Jenkins there), as YAML: include "jenkins.values" . | fromYaml
*/}}
{{- define "jenkins.values" -}}
{{- $vals := deepCopy .Values -}}
{{- $override := index .Values .Chart.Name -}}
{{- if kindIs "map" $override -}}
{{- $vals = mustMergeOverwrite $vals (deepCopy $override) -}}
{{- end -}}
{{- if ($vals.oauth | default dict).enabled -}}
{{- fail "oauth.enabled: the sample's jenkins chart has no GitHub OAuth login (use DIGIT-DevOps' jenkins chart)" -}}
{{- end -}}
{{- toYaml $vals -}}
{{- end -}}

{{- define "jenkins.labels" -}}
app: jenkins
group: jenkins
{{- end -}}

{{/* Where deploy job <name>'s kubeconfig (Secret <name>-kube-config, key config) is mounted. */}}
{{- define "jenkins.kubeconfigPath" -}}
/var/jenkins_kube/{{ . }}/config
{{- end -}}
