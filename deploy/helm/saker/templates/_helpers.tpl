{{/* The chart's names and labels. */}}
{{- define "saker.labels" -}}
app.kubernetes.io/name: saker
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "saker.image" -}}
{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end -}}

{{- define "saker.admissionName" -}}
{{ printf "%s-admission" .Release.Name }}
{{- end -}}

{{- define "saker.authSecret" -}}
{{ .Values.admission.auth.tokenSecret | default (printf "%s-admission-auth" .Release.Name) }}
{{- end -}}

{{/* saker.yaml of the admission service (root: the chart's context, exempt: the exempt namespaces). */}}
{{- define "saker.admissionConfig" -}}
{{- $v := .root.Values -}}
# Written by the Saker chart. No rules_files: the built-in rules with the admission ones;
# admission.rulesConfigMaps replace them.
rules_files:
{{- range $v.admission.rulesConfigMaps }}
  - /etc/saker/rules.d/{{ . }}
{{- else }} []
{{- end }}
{{- with $v.config }}
{{ toYaml . }}
{{- end }}
admission:
  enabled: true
  listen: 0.0.0.0:{{ $v.admission.port }}
  path: /validate
  cert: /etc/saker/tls/tls.crt
  key: /etc/saker/tls/tls.key
  token_file: /etc/saker/auth/token
  {{- if $v.admission.auth.clientCAConfigMap }}
  client_ca: /etc/saker/client-ca/ca.crt
  {{- end }}
  exempt_namespaces: {{ toJson .exempt }}
  exempt_users: {{ toJson $v.admission.exemptUsers }}
  exempt_groups: {{ toJson $v.admission.exemptGroups }}
{{- if $v.audit.enabled }}
k8s_audit:
  enabled: true
  cluster_name: {{ $v.audit.clusterName | quote }}
  webhook:
    listen: 0.0.0.0:{{ $v.audit.port }}
    path: /k8s-audit
    tls:
      cert: /etc/saker/tls/tls.crt
      key: /etc/saker/tls/tls.key
      {{- if $v.admission.auth.clientCAConfigMap }}
      client_ca: /etc/saker/client-ca/ca.crt
      {{- end }}
    token_file: /etc/saker/auth/token
{{- end }}
{{- end -}}
