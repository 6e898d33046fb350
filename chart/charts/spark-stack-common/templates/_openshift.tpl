{{/*
OpenShift detection, the one place that asks. Helm's Capabilities.APIVersions.Has matches
"group/version" and "group/version/Kind" as separate entries: a live cluster's discovery reports
both, `helm template --api-versions route.openshift.io/v1` only the first. Both are checked.
*/}}

{{/* "true" when the cluster serves the Route API (either spelling). Call with the chart's context. */}}
{{- define "spark-stack-common.hasRouteApi" -}}
{{- $apis := .Capabilities.APIVersions }}
{{- if or ($apis.Has "route.openshift.io/v1") ($apis.Has "route.openshift.io/v1/Route") }}true{{ else }}false{{ end }}
{{- end }}

{{/*
"true" when rendering for OpenShift. global.openshift "auto" (or unset) asks the cluster's APIs
(SecurityContextConstraints or Routes served); "true"/"false" (string or boolean) force it.
*/}}
{{- define "spark-stack-common.isOpenshift" -}}
{{- $global := .Values.global | default dict }}
{{- $mode := ternary (toString $global.openshift) "auto" (hasKey $global "openshift") }}
{{- $apis := .Capabilities.APIVersions }}
{{- if eq $mode "true" }}true
{{- else if eq $mode "false" }}false
{{- else if or ($apis.Has "security.openshift.io/v1") ($apis.Has "security.openshift.io/v1/SecurityContextConstraints") (eq (include "spark-stack-common.hasRouteApi" .) "true") }}true
{{- else }}false
{{- end }}
{{- end }}

{{/*
Security contexts from .Values.podSecurityContext / .Values.securityContext. On OpenShift the
restricted-v2 SCC assigns UID, GID and fsGroup from the namespace's range and refuses fixed
ones: they are left out there.
*/}}
{{- define "spark-stack-common.podSecurityContext" -}}
{{- $ctx := deepCopy .Values.podSecurityContext }}
{{- if eq (include "spark-stack-common.isOpenshift" .) "true" }}
{{- $ctx = omit $ctx "runAsUser" "runAsGroup" "fsGroup" }}
{{- end }}
{{- toYaml $ctx }}
{{- end }}

{{- define "spark-stack-common.containerSecurityContext" -}}
{{- $ctx := deepCopy .Values.securityContext }}
{{- if eq (include "spark-stack-common.isOpenshift" .) "true" }}
{{- $ctx = omit $ctx "runAsUser" "runAsGroup" }}
{{- end }}
{{- toYaml $ctx }}
{{- end }}
