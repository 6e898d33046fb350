{{/*
Names and labels the `helm create` way. Every define takes the calling chart's context (or a dict
with it as "ctx"), so .Chart, .Values and .Release are the subchart's own.
*/}}

{{/* Chart name, cut to 63 characters (a DNS label). */}}
{{- define "spark-stack-common.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* release-chart, or the release name alone when it already contains the chart name; 63 max. */}}
{{- define "spark-stack-common.fullname" -}}
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

{{/* Chart name and version for the helm.sh/chart label. */}}
{{- define "spark-stack-common.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: the immutable subset (a Deployment's selector cannot change after creation).
Call with (dict "ctx" $ "component" C); C is added only when "selectComponent" is true, because
api-service's selectors have never held it and cannot gain it on upgrade.
*/}}
{{- define "spark-stack-common.selectorLabelsDict" -}}
{{- $out := dict "app.kubernetes.io/name" (include "spark-stack-common.name" .ctx) "app.kubernetes.io/instance" .ctx.Release.Name }}
{{- if and .component .selectComponent }}
{{- $_ := set $out "app.kubernetes.io/component" .component }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{- define "spark-stack-common.selectorLabels" -}}
{{- include "spark-stack-common.selectorLabelsDict" . }}
{{- end }}

{{/*
Every object's labels: the recommended app.kubernetes.io set, helm.sh/chart and the chart's
commonLabels (which cannot override the recommended ones: the schema refuses that, and they
would lose here anyway). Call with (dict "ctx" $ "component" C ["selectComponent" true]).
*/}}
{{- define "spark-stack-common.labels" -}}
{{- $ctx := .ctx }}
{{- $out := deepCopy ($ctx.Values.commonLabels | default dict) }}
{{- $own := dict "helm.sh/chart" (include "spark-stack-common.chart" $ctx) "app.kubernetes.io/part-of" "spark-stack" "app.kubernetes.io/managed-by" $ctx.Release.Service }}
{{- if $ctx.Chart.AppVersion }}
{{- $_ := set $own "app.kubernetes.io/version" (toString $ctx.Chart.AppVersion) }}
{{- end }}
{{- if .component }}
{{- $_ := set $own "app.kubernetes.io/component" .component }}
{{- end }}
{{- $own = merge (include "spark-stack-common.selectorLabelsDict" . | fromYaml) $own }}
{{- toYaml (merge $own $out) }}
{{- end }}

{{/* A pod template's labels: labels plus podLabels (which cannot override selector labels). */}}
{{- define "spark-stack-common.podLabels" -}}
{{- $labels := include "spark-stack-common.labels" . | fromYaml }}
{{- toYaml (merge $labels (deepCopy (.ctx.Values.podLabels | default dict))) }}
{{- end }}
