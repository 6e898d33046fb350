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
{{- if kindIs "map" . }}{{ $names = append $names .name }}{{ else }}{{ $names = append $names . }}{{ end }}
{{- end }}
{{- $secrets := list }}
{{- range uniq $names }}
{{- $secrets = append $secrets (dict "name" .) }}
{{- end }}
{{- with $secrets }}
{{- toYaml (dict "imagePullSecrets" .) }}
{{- end }}
{{- end }}

{{/*
Probes of one container: (dict "probes" <values: startup/readiness/liveness, each with
enabled and timings> "handlers" (dict "startup" <handler> ...)). A probe renders when its
values say enabled and the container has a handler for it.
*/}}
{{- define "spark-stack-common.probes" -}}
{{- $out := dict }}
{{- range $kind, $handler := .handlers }}
{{- $probe := index $.probes $kind | default dict }}
{{- if $probe.enabled }}
{{- $_ := set $out (printf "%sProbe" $kind) (merge (omit $probe "enabled") $handler) }}
{{- end }}
{{- end }}
{{- with $out }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* Pod scheduling: nodeSelector, tolerations, affinity, topology spread, priority class. */}}
{{- define "spark-stack-common.scheduling" -}}
{{- $out := dict }}
{{- range $key := list "priorityClassName" "nodeSelector" "tolerations" "affinity" "topologySpreadConstraints" }}
{{- with index $.Values $key }}
{{- $_ := set $out $key . }}
{{- end }}
{{- end }}
{{- with $out }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
A NetworkPolicy egress rule to DNS: (list of peers) -> one rule, UDP and TCP on 53 and on 5353
(OpenShift's DNS pods listen there behind the 53 Service; policies see the pod's port).
*/}}
{{- define "spark-stack-common.dnsEgressRule" -}}
- to:
    {{- toYaml . | nindent 4 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
    - {port: 5353, protocol: UDP}
    - {port: 5353, protocol: TCP}
{{- end }}
