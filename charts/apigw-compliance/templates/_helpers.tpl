{{/* The chart's name (nameOverride wins). */}}
{{- define "apigw-compliance.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of every resource: <release>-<chart>, or the release name when it
already contains the chart name, or fullnameOverride. */}}
{{- define "apigw-compliance.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "apigw-compliance.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "apigw-compliance.selectorLabels" -}}
app.kubernetes.io/name: {{ include "apigw-compliance.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "apigw-compliance.labels" -}}
helm.sh/chart: {{ include "apigw-compliance.chart" . }}
{{ include "apigw-compliance.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: apigw-compliance
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "apigw-compliance.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "apigw-compliance.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* "true" when the operator takes part in leader election: asked for, or needed
because more than one replica runs. */}}
{{- define "apigw-compliance.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ else }}false{{ end }}
{{- end }}

{{/* The Lease's name (in the release namespace). */}}
{{- define "apigw-compliance.leaseName" -}}
{{- include "apigw-compliance.fullname" . }}
{{- end }}

{{- define "apigw-compliance.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The tenancy file the operator reads with --tenancy-config. */}}
{{- define "apigw-compliance.tenancy" -}}
{{- toYaml (dict "namespaces" .Values.tenancy.namespaces) }}
{{- end }}
