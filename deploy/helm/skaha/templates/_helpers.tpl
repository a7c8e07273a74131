{{/* Names, labels and the rendered config.json. */}}

{{- define "skaha.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "skaha.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "skaha.selectorLabels" -}}
app.kubernetes.io/name: {{ include "skaha.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "skaha.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "skaha.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "skaha.serviceAccountName" -}}
{{- default (include "skaha.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Mount points inside the server's container. */}}
{{- define "skaha.dataDir" -}}/var/lib/skaha{{- end -}}
{{- define "skaha.resourcesFile" -}}/etc/skaha/resources/k8s-resources.json{{- end -}}
{{- define "skaha.containerPort" -}}8555{{- end -}}
{{- define "skaha.certificatePort" -}}8556{{- end -}}
{{- define "skaha.certificateDir" -}}/etc/skaha/tls{{- end -}}

{{- define "skaha.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl -}}
{{- else if .Values.ingress.enabled -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host -}}
{{- end -}}
{{- end -}}

{{/*
config.json: the `config` value with what the chart decides itself (listen address, data and
storage mounts, the workload namespace, the public and in-cluster URLs). Keys the chart owns are
refused in `config` rather than silently replaced.
*/}}
{{- define "skaha.config" -}}
{{- $c := deepCopy (.Values.config | default dict) -}}
{{- range $key := list "host" "port" "dataDir" "publicUrl" "backend" -}}
{{- if hasKey $c $key }}{{ fail (printf "config.%s is set by the chart; see the comments on `config` in values.yaml" $key) }}{{ end -}}
{{- end -}}
{{- $storage := get $c "storage" | default dict -}}
{{- if hasKey $storage "hostDir" }}{{ fail "config.storage.hostDir is set by the chart: use userStorage.mountPath" }}{{ end -}}
{{- $resources := get $c "resources" | default dict -}}
{{- if hasKey $resources "file" }}{{ fail "config.resources.file is set by the chart: use resourceContext" }}{{ end -}}
{{- $k := get $c "kubernetes" | default dict -}}
{{- range $key := list "kubeconfig" "namespace" "storage" "networkPolicy" -}}
{{- if hasKey $k $key }}{{ fail (printf "config.kubernetes.%s is set by the chart; see workloadNamespace, userStorage and networkPolicy" $key) }}{{ end -}}
{{- end -}}
{{- if kindIs "string" (get $c "registryHosts") -}}
{{- $_ := set $c "registryHosts" (regexSplit "\\s+" (trim $c.registryHosts) -1) -}}
{{- end -}}
{{- $_ := set $c "host" "0.0.0.0" -}}
{{- $_ := set $c "port" (include "skaha.containerPort" . | int) -}}
{{- $_ := set $c "dataDir" (include "skaha.dataDir" .) -}}
{{- $_ := set $c "publicUrl" (include "skaha.publicUrl" .) -}}
{{- $_ := set $c "backend" "kubernetes" -}}
{{- $_ := set $storage "hostDir" .Values.userStorage.mountPath -}}
{{- $_ := set $c "storage" $storage -}}
{{- if .Values.resourceContext -}}
{{- $_ := set $resources "file" (include "skaha.resourcesFile" .) -}}
{{- $_ := set $c "resources" $resources -}}
{{- end -}}
{{- $_ := set $k "namespace" .Values.workloadNamespace.name -}}
{{- if eq .Values.userStorage.kind "pvc" -}}
{{- $_ := set $k "storage" (dict "kind" "pvc" "claimName" .Values.userStorage.claimName) -}}
{{- else if eq .Values.userStorage.kind "hostPath" -}}
{{- if not .Values.userStorage.hostPath }}{{ fail "userStorage.hostPath: the node directory holding user storage" }}{{ end -}}
{{- $_ := set $k "storage" (dict "kind" "hostPath" "hostPath" .Values.userStorage.hostPath) -}}
{{- else -}}
{{- fail "userStorage.kind is pvc or hostPath" -}}
{{- end -}}
{{- if not (get $k "sessionsApiUrl") -}}
{{- $_ := set $k "sessionsApiUrl" (printf "http://%s.%s.svc:%d" (include "skaha.fullname" .) .Release.Namespace (int .Values.service.port)) -}}
{{- end -}}
{{- $_ := set $k "networkPolicy" (dict "enabled" .Values.networkPolicy.enabled "serverNamespace" .Release.Namespace "serverPodLabels" (include "skaha.selectorLabels" . | fromYaml) "blockedCidrs" .Values.networkPolicy.blockedCidrs) -}}
{{- if .Values.ingress.sessionsHost -}}
{{- if not (hasPrefix "*." .Values.ingress.sessionsHost) }}{{ fail "ingress.sessionsHost is a wildcard name: *.sessions.example.org" }}{{ end -}}
{{- $proxy := get $c "proxy" | default dict -}}
{{- $_ := set $proxy "sessionsDomain" (trimPrefix "*." .Values.ingress.sessionsHost) -}}
{{- $_ := set $c "proxy" $proxy -}}
{{- end -}}
{{- $_ := set $c "kubernetes" $k -}}
{{- $tls := get $c "tls" | default dict -}}
{{- range $key := list "port" "host" "certFile" "keyFile" "clientCaFile" -}}
{{- if hasKey $tls $key }}{{ fail (printf "config.tls.%s is set by the chart: use certificateListener" $key) }}{{ end -}}
{{- end -}}
{{- if .Values.certificateListener.enabled -}}
{{- if not .Values.certificateListener.secretName }}{{ fail "certificateListener.secretName: the Secret with tls.crt, tls.key and ca.crt" }}{{ end -}}
{{- $dir := include "skaha.certificateDir" . -}}
{{- $_ := set $tls "port" (include "skaha.certificatePort" . | int) -}}
{{- $_ := set $tls "host" "0.0.0.0" -}}
{{- $_ := set $tls "certFile" (printf "%s/tls.crt" $dir) -}}
{{- $_ := set $tls "keyFile" (printf "%s/tls.key" $dir) -}}
{{- $_ := set $tls "clientCaFile" (printf "%s/ca.crt" $dir) -}}
{{- $_ := set $c "tls" $tls -}}
{{- end -}}
{{- toPrettyJson $c -}}
{{- end -}}

{{/*
Several replicas must share the identity store and the keys in the data directory, and cannot
cull idle notebooks: each replica sees only the proxy traffic that reaches it, so one would
cull a notebook in use through another.
*/}}
{{- define "skaha.checkReplicas" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- if gt (int (dig "sessions" "idleCullSeconds" 0 (.Values.config | default dict))) 0 -}}
{{- fail "replicaCount > 1 cannot cull idle notebooks: each replica sees only the proxy traffic it carries; set config.sessions.idleCullSeconds to 0 or run one replica" -}}
{{- end -}}
{{- if not (or .Values.sharedIdentityStore (eq (toString (dig "identity" "store" "sqlite" (.Values.config | default dict))) "postgres")) -}}
{{- fail "replicaCount > 1 needs a shared identity store: the SQLite store in the data volume serves one replica; set config.identity.store to postgres (docs/operations.md)" -}}
{{- end -}}
{{- if not (and .Values.persistence.enabled (or .Values.persistence.existingClaim (has "ReadWriteMany" .Values.persistence.accessModes))) -}}
{{- fail "replicaCount > 1 needs one ReadWriteMany data volume (persistence.accessModes or an existingClaim): every replica needs the same keys for login cookies, registry credentials and desktop callbacks" -}}
{{- end -}}
{{- end -}}
{{- end -}}
