{{/*
Names and labels. The helpers that an application chart may call (the
sidecar's) work in either chart's context: the chart's name is spelled out
rather than taken from .Chart, and values are .Values.ferry in a chart
that depends on this one (Helm puts this chart's defaults there), else
.Values.
*/}}
{{- define "ferry.fullname" -}}
{{- if contains "ferry" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-ferry" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ferry.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ferry.image" -}}
{{- $v := .Values.ferry | default .Values -}}
{{ $v.image.repository }}:{{ $v.image.tag }}
{{- end -}}

{{/* Options given in extraConfig, one `name value` line each. */}}
{{- define "ferry.extraConfig" -}}
{{- range $name, $value := .Values.extraConfig }}
{{ $name }} {{ $value }}
{{- end }}
{{- end -}}

{{/* The sidecar's ferry.conf. */}}
{{- define "ferry.sidecar.config" -}}
{{- $s := .Values.sidecar -}}
{{- if ne $s.phase "redis" -}}
{{- fail (printf "sidecar.phase: %q does not run yet; only redis does (mirror, read-raft and raft need the group on the network)" $s.phase) -}}
{{- end -}}
{{- if and $s.adminTLS.enabled (not $s.adminTLS.secret) -}}
{{- fail "sidecar.adminTLS.secret: a kubernetes.io/tls Secret (tls.crt, tls.key) is required with sidecar.adminTLS.enabled" -}}
{{- end -}}
# The application reaches ferry on the pod's loopback only.
bind 127.0.0.1
port {{ $s.port }}
{{- if $s.unixSocket }}
# And on a unix socket in the pod's shared emptyDir (sidecar.unixSocket).
unixsocket /run/ferry/ferry.sock
unixsocketperm 770
{{- end }}
phase {{ $s.phase }}
upstream {{ required "sidecar.upstream: host:port of the existing Redis is required" $s.upstream }}
{{- with $s.upstreamTLS }}
{{- if .enabled }}
# TLS to the upstream (sidecar.upstreamTLS), certificates from Secrets.
upstream-tls yes
{{- if .caSecret.name }}
upstream-tls-ca-cert-file /etc/ferry-tls/ca/{{ .caSecret.key }}
{{- end }}
{{- if .clientSecret }}
upstream-tls-cert-file /etc/ferry-tls/client/tls.crt
upstream-tls-key-file /etc/ferry-tls/client/tls.key
{{- end }}
{{- if .serverName }}
upstream-tls-server-name {{ .serverName }}
{{- end }}
{{- end }}
{{- end }}
# The kubelet probes the pod's IP.
admin-bind 0.0.0.0
admin-port {{ $s.adminPort }}
{{- if $s.adminTLS.enabled }}
# Over HTTPS (sidecar.adminTLS), the certificate from its Secret.
tls-cert-file /etc/ferry-tls/admin/tls.crt
tls-key-file /etc/ferry-tls/admin/tls.key
admin-tls yes
{{- end }}
shutdown-timeout {{ $s.shutdownTimeout }}
{{- include "ferry.extraConfig" . }}
{{- end -}}

{{/* Secrets become options on the command line, through the environment,
     so that they stay out of the ConfigMap. */}}
{{- define "ferry.secretArgs" -}}
{{- if .upstream.name }}
- --upstream-password
- $(FERRY_UPSTREAM_PASSWORD)
{{- end }}
{{- if .requirepass.name }}
- --requirepass
- $(FERRY_REQUIREPASS)
{{- end }}
{{- end -}}

{{- define "ferry.secretEnv" -}}
{{- if .upstream.name }}
- name: FERRY_UPSTREAM_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .upstream.name | quote }}, key: {{ .upstream.key | quote }}}
{{- end }}
{{- if .requirepass.name }}
- name: FERRY_REQUIREPASS
  valueFrom:
    secretKeyRef: {name: {{ .requirepass.name | quote }}, key: {{ .requirepass.key | quote }}}
{{- end }}
{{- end -}}

{{- /* The probes on the admin port; the argument is their scheme. */ -}}
{{- define "ferry.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: admin, scheme: {{ . }}}
  periodSeconds: 1
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /healthz, port: admin, scheme: {{ . }}}
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: admin, scheme: {{ . }}}
  periodSeconds: 5
  failureThreshold: 2
{{- end -}}

{{/*
The sidecar container, for an application's pod template (in a chart
that depends on this one, with ferry.sidecar.upstream set):

  containers:
    - name: app
      ...
    {{- include "ferry.sidecar" . | nindent 4 }}
  volumes:
    {{- include "ferry.sidecar.volume" . | nindent 4 }}

With sidecar.unixSocket, the application container also mounts the
socket's directory, and finds ferry at /run/ferry/ferry.sock:

      volumeMounts:
        {{- include "ferry.sidecar.socketMount" . | nindent 8 }}

With sidecar.native it belongs in initContainers instead (it carries
restartPolicy: Always). Its ConfigMap is this chart's, rendered whenever
sidecar.upstream is set. The pod should run as a non-root user
(podSecurityContext here).
*/}}
{{- define "ferry.sidecar" -}}
{{- $v := .Values.ferry | default .Values -}}
- name: ferry
  image: {{ include "ferry.image" . }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if $v.sidecar.native }}
  restartPolicy: Always
  {{- end }}
  {{- $secrets := dict "upstream" $v.sidecar.upstreamPasswordSecret "requirepass" $v.sidecar.requirepassSecret }}
  args:
    - /etc/ferry/ferry.conf
    {{- with include "ferry.secretArgs" $secrets | trim }}
    {{- . | nindent 4 }}
    {{- end }}
  {{- with include "ferry.secretEnv" $secrets | trim }}
  env:
    {{- . | nindent 4 }}
  {{- end }}
  ports:
    - {name: admin, containerPort: {{ $v.sidecar.adminPort }}}
  {{- include "ferry.probes" (ternary "HTTPS" "HTTP" $v.sidecar.adminTLS.enabled) | nindent 2 }}
  resources:
    {{- toYaml $v.sidecar.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  volumeMounts:
    - {name: ferry-config, mountPath: /etc/ferry, readOnly: true}
    {{- with $v.sidecar.upstreamTLS }}
    {{- if and .enabled .caSecret.name }}
    - {name: ferry-tls-ca, mountPath: /etc/ferry-tls/ca, readOnly: true}
    {{- end }}
    {{- if and .enabled .clientSecret }}
    - {name: ferry-tls-client, mountPath: /etc/ferry-tls/client, readOnly: true}
    {{- end }}
    {{- end }}
    {{- if $v.sidecar.adminTLS.enabled }}
    - {name: ferry-tls-admin, mountPath: /etc/ferry-tls/admin, readOnly: true}
    {{- end }}
    {{- if $v.sidecar.unixSocket }}
    {{- include "ferry.sidecar.socketMount" . | nindent 4 }}
    {{- end }}
{{- end -}}

{{- define "ferry.sidecar.volume" -}}
{{- $v := .Values.ferry | default .Values -}}
- name: ferry-config
  configMap:
    name: {{ include "ferry.fullname" . }}-sidecar
{{- if $v.sidecar.unixSocket }}
- name: ferry-socket
  emptyDir: {}
{{- end }}
{{- with $v.sidecar.upstreamTLS }}
{{- if and .enabled .caSecret.name }}
- name: ferry-tls-ca
  secret:
    secretName: {{ .caSecret.name | quote }}
    items: [{key: {{ .caSecret.key | quote }}, path: {{ .caSecret.key | quote }}}]
{{- end }}
{{- if and .enabled .clientSecret }}
- name: ferry-tls-client
  secret:
    secretName: {{ .clientSecret | quote }}
    items: [{key: tls.crt, path: tls.crt}, {key: tls.key, path: tls.key}]
{{- end }}
{{- end }}
{{- if $v.sidecar.adminTLS.enabled }}
- name: ferry-tls-admin
  secret:
    secretName: {{ $v.sidecar.adminTLS.secret | quote }}
    items: [{key: tls.crt, path: tls.crt}, {key: tls.key, path: tls.key}]
{{- end }}
{{- end -}}

{{/* With sidecar.unixSocket, the application container's mount of the
     socket's directory (its volumeMounts); ferry.sock is in it. */}}
{{- define "ferry.sidecar.socketMount" -}}
- {name: ferry-socket, mountPath: /run/ferry}
{{- end -}}
