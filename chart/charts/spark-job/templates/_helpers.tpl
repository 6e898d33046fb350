{{/*
Every define is prefixed with "spark-job." because defines are global across the umbrella and
its subcharts.
*/}}

{{/* Names and labels: the library chart (spark-stack-common) holds the logic. */}}
{{- define "spark-job.name" -}}{{ include "spark-stack-common.name" . }}{{- end }}

{{/* Objects shared by the master and workers (ServiceAccount): release-chart, 63 max. */}}
{{- define "spark-job.fullname" -}}{{ include "spark-stack-common.fullname" . }}{{- end }}

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


{{/*
Common labels (recommended set + commonLabels). Selector labels are a separate, immutable subset
(a Deployment's selector cannot change after creation, so it must not hold the version).
*/}}
{{- define "spark-job.labels" -}}
{{ include "spark-stack-common.labels" (dict "ctx" .) }}
{{- end }}

{{- define "spark-job.selectorLabels" -}}
{{ include "spark-stack-common.selectorLabels" (dict "ctx" .) }}
{{- end }}

{{/* Labels and selector labels of one component: call with (dict "ctx" $ "component" "master"). */}}
{{- define "spark-job.componentLabels" -}}
{{ include "spark-stack-common.labels" (dict "ctx" .ctx "component" .component "selectComponent" true) }}
{{- end }}

{{/* A component's pod template labels: its labels plus podLabels. */}}
{{- define "spark-job.componentPodLabels" -}}
{{ include "spark-stack-common.podLabels" (dict "ctx" .ctx "component" .component "selectComponent" true) }}
{{- end }}

{{- define "spark-job.componentSelectorLabels" -}}
{{ include "spark-stack-common.selectorLabels" (dict "ctx" .ctx "component" .component "selectComponent" true) }}
{{- end }}

{{/* ServiceAccount name. */}}
{{- define "spark-job.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spark-job.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference (registry, repository, tag or digest; see the library chart). */}}
{{- define "spark-job.image" -}}
{{ include "spark-stack-common.image" (dict "image" .Values.image "ctx" .) }}
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
{{ include "spark-stack-common.scheduling" . }}
{{- end }}
