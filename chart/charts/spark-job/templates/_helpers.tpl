{{/*
Every define is prefixed with "spark-job." because defines are global across the umbrella and
its subcharts.
*/}}

{{/* Chart name, cut to 63 characters (a DNS label). */}}
{{- define "spark-job.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name for objects shared by the master and workers (ServiceAccount, policies): release-chart,
or the release name alone when it already contains the chart name. Cut to 63 characters.
*/}}
{{- define "spark-job.fullname" -}}
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

{{/*
The master's name: exactly "<release>-spark-master". Its Service carries this name, so the job
API's default URL (spark://{{ .Release.Name }}-spark-master:7077) and external clients can rely
on it whatever the overrides.
*/}}
{{- define "spark-job.masterName" -}}
{{- $name := printf "%s-spark-master" .Release.Name }}
{{- if gt (len $name) 63 }}
{{- fail (printf "release name %q is too long to install Spark: the master Service must be named exactly %q, which is over 63 characters; use a release name of at most 50 characters" .Release.Name $name) }}
{{- end }}
{{- $name }}
{{- end }}

{{/* The workers' name: "<release>-spark-worker". */}}
{{- define "spark-job.workerName" -}}
{{- printf "%s-spark-worker" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The URL workers register with. */}}
{{- define "spark-job.masterUrl" -}}
{{- printf "spark://%s:%d" (include "spark-job.masterName" .) (int .Values.spark.master.port) }}
{{- end }}

{{/* Chart name and version for the helm.sh/chart label. */}}
{{- define "spark-job.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. Selector labels are a separate, immutable subset (a Deployment's selector
cannot change after creation, so it must not hold the version).
*/}}
{{- define "spark-job.labels" -}}
helm.sh/chart: {{ include "spark-job.chart" . }}
{{ include "spark-job.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/part-of: spark-stack
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "spark-job.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spark-job.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels and selector labels of one component: call with (dict "ctx" $ "component" "master"). */}}
{{- define "spark-job.componentLabels" -}}
{{ include "spark-job.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "spark-job.componentSelectorLabels" -}}
{{ include "spark-job.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* ServiceAccount name. */}}
{{- define "spark-job.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spark-job.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference; the tag defaults to the chart's appVersion. */}}
{{- define "spark-job.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
"true" when rendering for OpenShift. global.openshift "auto" asks the cluster's APIs (SCCs or
Routes served); "true"/"false" force the answer (`helm template` knows no cluster's APIs).
*/}}
{{- define "spark-job.isOpenshift" -}}
{{- $mode := toString (default "auto" (.Values.global).openshift) }}
{{- if eq $mode "true" }}true
{{- else if eq $mode "false" }}false
{{- else if or (.Capabilities.APIVersions.Has "security.openshift.io/v1/SecurityContextConstraints") (.Capabilities.APIVersions.Has "route.openshift.io/v1/Route") }}true
{{- else }}false
{{- end }}
{{- end }}

{{/*
Pod security context. On OpenShift the restricted-v2 SCC assigns UID, GID and fsGroup from the
namespace's range, and a fixed one would be refused: leave them out.
*/}}
{{- define "spark-job.podSecurityContext" -}}
{{- $ctx := deepCopy .Values.podSecurityContext }}
{{- if eq (include "spark-job.isOpenshift" .) "true" }}
{{- $ctx = omit $ctx "runAsUser" "runAsGroup" "fsGroup" }}
{{- end }}
{{- toYaml $ctx }}
{{- end }}

{{- define "spark-job.containerSecurityContext" -}}
{{- $ctx := deepCopy .Values.securityContext }}
{{- if eq (include "spark-job.isOpenshift" .) "true" }}
{{- $ctx = omit $ctx "runAsUser" "runAsGroup" }}
{{- end }}
{{- toYaml $ctx }}
{{- end }}

{{/*
Environment both roles share (docs/contracts.md, spark-job image). POD_IP is the bind and
advertise address, from the downward API.
*/}}
{{- define "spark-job.commonEnv" -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: HOME
  value: "/home/spark"
- name: SPARK_DAEMON_MEMORY
  value: {{ .Values.spark.daemonMemory | quote }}
- name: SPARK_JVM_FAST_START
  value: {{ .Values.spark.jvmFastStart | toString | quote }}
- name: SPARK_JOBS_DIR
  value: {{ .Values.spark.jobsDir | quote }}
{{- end }}

{{/* Writable emptyDirs the read-only root filesystem needs: /tmp and $HOME. SPARK_CDS_DIR is
left to the image: its AppCDS archives are made at build time in /opt/spark-stack/cds and only
read, so every pod starts fast from its first start (an emptyDir would start empty). */}}
{{- define "spark-job.commonVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: home
  mountPath: /home/spark
{{- end }}

{{- define "spark-job.commonVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
- name: home
  emptyDir:
    sizeLimit: 512Mi
{{- end }}

{{/* Scheduling settings shared by every Spark pod. */}}
{{- define "spark-job.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
