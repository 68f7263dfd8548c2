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
