{{- define "common.statefulset" -}}
{{- include "common.call" (list . "common.statefulset.body") -}}
{{- end -}}

{{/*
The volume list of the one static provider named in persistence
(aws, azure, cinder or iscsi), as "<provider>" or "" for dynamic provisioning.
*/}}
{{- define "common.persistence.provider" -}}
{{- $p := .Values.persistence | default dict -}}
{{- $found := list -}}
{{- range $kind := list "aws" "azure" "cinder" "iscsi" -}}
{{- if index $p $kind -}}{{- $found = append $found $kind -}}{{- end -}}
{{- end -}}
{{- if gt (len $found) 1 -}}
{{- fail (printf "%s: persistence names several providers (%s); give volumes for one" .Values.name (join ", " $found)) -}}
{{- end -}}
{{- join "" $found -}}
{{- end -}}

{{/*
A StatefulSet with its headless Service. Storage is either static, one
PersistentVolume per replica from persistence.<provider> bound through claimRef
to the claim the StatefulSet will create (<template>-<statefulset>-<ordinal>),
reclaim policy Retain; or dynamic, claims from persistence.storageClassName (or
the cluster's default class).
*/}}
{{- define "common.statefulset.body" -}}
{{- $v := .Values -}}
{{- $ns := include "common.namespace" . -}}
{{- $p := $v.persistence | default dict -}}
{{- $persistent := not (eq (toString $p.enabled) "false") -}}
{{- $tmpl := $p.claimTemplateName | default "data" -}}
{{- $provider := include "common.persistence.provider" . -}}
{{- $replicas := int ($v.replicas | default 1) -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ $v.name }}-headless
  namespace: {{ $ns }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    app: {{ $v.name }}
  ports:
  {{- range $v.ports }}
  - name: {{ .name }}
    port: {{ .containerPort }}
  {{- end }}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $v.name }}
  namespace: {{ $ns }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  serviceName: {{ $v.name }}-headless
  replicas: {{ $replicas }}
  podManagementPolicy: {{ $v.podManagementPolicy | default "Parallel" }}
  selector:
    matchLabels:
      app: {{ $v.name }}
  template:
    metadata:
      labels:
        {{- include "common.labels" . | nindent 8 }}
    spec:
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds | default 60 }}
      {{- with $v.extraInitContainers }}
      initContainers:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
      - name: {{ $v.name }}
        image: {{ include "common.image" (dict "image" $v.image "root" . "repository" $v.name) }}
        {{- with $v.command }}
        command:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        ports:
          {{- toYaml $v.ports | nindent 10 }}
        env:
          {{- include "common.env" . | indent 8 }}
        resources:
          {{- include "common.resources" . | nindent 10 }}
        {{- include "common.probes" . | indent 8 }}
        volumeMounts:
        - name: {{ $tmpl }}
          mountPath: {{ $p.mountPath | default "/data" }}
      {{- if not $persistent }}
      volumes:
      - name: {{ $tmpl }}
        emptyDir: {}
      {{- end }}
  {{- if $persistent }}
  volumeClaimTemplates:
  - metadata:
      name: {{ $tmpl }}
      labels:
        app: {{ $v.name }}
    spec:
      accessModes: ["ReadWriteOnce"]
      {{- if $provider }}
      {{- /* Empty class: bind only to the pre-created PVs below, never to a default class. */}}
      storageClassName: ""
      {{- else if $p.storageClassName }}
      storageClassName: {{ $p.storageClassName }}
      {{- end }}
      resources:
        requests:
          storage: {{ $p.size | default "10Gi" }}
  {{- end }}
{{- if and $persistent $provider }}
{{- $vols := index $p $provider }}
{{- if lt (len $vols) $replicas }}
{{- fail (printf "%s: persistence.%s lists %d volumes for %d replicas; give one volume per replica" $v.name $provider (len $vols) $replicas) }}
{{- end }}
{{- range $i, $vol := $vols }}
{{- if lt $i $replicas }}
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: {{ printf "%s-%s-%s-%d" $ns $tmpl $v.name $i }}
  labels:
    app: {{ $v.name }}
spec:
  capacity:
    storage: {{ $vol.size | default $p.size | default "10Gi" }}
  accessModes: ["ReadWriteOnce"]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  volumeMode: Filesystem
  claimRef:
    apiVersion: v1
    kind: PersistentVolumeClaim
    namespace: {{ $ns }}
    name: {{ printf "%s-%s-%d" $tmpl $v.name $i }}
  {{- if eq $provider "aws" }}
  csi:
    driver: ebs.csi.aws.com
    volumeHandle: {{ required (printf "%s: persistence.aws[%d].volumeId is mandatory" $v.name $i) $vol.volumeId }}
    fsType: {{ $vol.fsType | default "ext4" }}
  {{- else if eq $provider "azure" }}
  csi:
    driver: disk.csi.azure.com
    volumeHandle: {{ required (printf "%s: persistence.azure[%d].diskUri is mandatory" $v.name $i) $vol.diskUri }}
    fsType: {{ $vol.fsType | default "ext4" }}
    volumeAttributes:
      diskName: {{ $vol.diskName | default "" | quote }}
  {{- else if eq $provider "cinder" }}
  csi:
    driver: cinder.csi.openstack.org
    volumeHandle: {{ required (printf "%s: persistence.cinder[%d].volumeId is mandatory" $v.name $i) $vol.volumeId }}
    fsType: {{ $vol.fsType | default "ext4" }}
  {{- else if eq $provider "iscsi" }}
  iscsi:
    targetPortal: {{ required (printf "%s: persistence.iscsi[%d].targetPortal is mandatory" $v.name $i) $vol.targetPortal }}
    iqn: {{ required (printf "%s: persistence.iscsi[%d].iqn is mandatory" $v.name $i) $vol.iqn }}
    lun: {{ $vol.lun | default 0 }}
    fsType: {{ $vol.fsType | default "ext4" }}
    readOnly: false
  {{- end }}
  {{- with $vol.zone }}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - key: topology.kubernetes.io/zone
          operator: In
          values: [{{ . | quote }}]
  {{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
