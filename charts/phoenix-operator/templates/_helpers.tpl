{{/* Names, labels and small computed values shared by every template. */}}

{{- define "phoenix-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: "<release>-phoenix-operator", or the release name when it already
contains the chart name (so `helm install phoenix-operator ...` does not repeat it). */}}
{{- define "phoenix-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "phoenix-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "phoenix-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "phoenix-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "phoenix-operator.labels" -}}
helm.sh/chart: {{ include "phoenix-operator.chart" . }}
{{ include "phoenix-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: phoenix-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "phoenix-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "phoenix-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "phoenix-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "phoenix-operator.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace -}}
{{- end -}}

{{/* klog-style verbosity for -v from the logLevel value. */}}
{{- define "phoenix-operator.verbosity" -}}
{{- $levels := dict "info" "0" "debug" "1" "trace" "2" -}}
{{- get $levels .Values.logLevel -}}
{{- end -}}
