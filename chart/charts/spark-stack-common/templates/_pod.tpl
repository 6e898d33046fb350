{{/*
Image references: [registry/]repository[:tag][@digest]. global.imageRegistry overrides the
image's own registry (a mirror for every image, as Bitnami's charts do); a digest pins the
image and the tag is then left out. Call with (dict "image" .Values.image "ctx" $); the tag
defaults to the chart's appVersion unless "defaultTag" is given.
*/}}
{{- define "spark-stack-common.image" -}}
{{- $image := .image }}
{{- $registry := default $image.registry ((.ctx.Values.global | default dict).imageRegistry) }}
{{- $ref := $image.repository }}
{{- with $registry }}{{ $ref = printf "%s/%s" (trimSuffix "/" .) $ref }}{{ end }}
{{- if $image.digest }}
{{- printf "%s@%s" $ref $image.digest }}
{{- else }}
{{- printf "%s:%s" $ref (toString (default (default .ctx.Chart.AppVersion .defaultTag) $image.tag)) }}
{{- end }}
{{- end }}

{{/*
imagePullSecrets: global.imagePullSecrets then the chart's imagePullSecrets, each an object
{name: x} or a plain name, deduplicated. Renders the whole key, or nothing.
*/}}
{{- define "spark-stack-common.imagePullSecrets" -}}
{{- $names := list }}
{{- range concat ((.Values.global | default dict).imagePullSecrets | default list) (.Values.imagePullSecrets | default list) }}
{{- $names = append $names (ternary .name . (kindIs "map" .)) }}
{{- end }}
{{- with uniq $names }}
imagePullSecrets:
{{- range . }}
  - name: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Probes of one container: (dict "probes" <values: startup/readiness/liveness, each with
enabled and timings> "handlers" (dict "startup" <handler> ...)). A probe renders when its
values say enabled and the container has a handler for it.
*/}}
{{- define "spark-stack-common.probes" -}}
{{- $handlers := .handlers }}
{{- range $kind := list "startup" "readiness" "liveness" }}
{{- $probe := index $.probes $kind | default dict }}
{{- $handler := index $handlers $kind }}
{{- if and $handler $probe.enabled }}
{{ $kind }}Probe:
  {{- toYaml (merge (omit $probe "enabled") $handler) | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Pod scheduling: nodeSelector, tolerations, affinity, topology spread, priority class. */}}
{{- define "spark-stack-common.scheduling" -}}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
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
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
