{{/*
Every define is prefixed with "api-service." because defines are global across the umbrella and
its subcharts.
*/}}

{{/* Names and labels: the library chart (spark-stack-common) holds the logic. */}}
{{- define "api-service.name" -}}{{ include "spark-stack-common.name" . }}{{- end }}

{{/* release-chart, or the release name alone when it already contains the chart name; 63 max. */}}
{{- define "api-service.fullname" -}}{{ include "spark-stack-common.fullname" . }}{{- end }}

{{/*
Common labels (component "api"); selector labels are the immutable subset and never held the
component, so they still do not (a Deployment's selector cannot change on upgrade).
*/}}
{{- define "api-service.labels" -}}
{{ include "spark-stack-common.labels" (dict "ctx" . "component" "api") }}
{{- end }}

{{/* The API pod template's labels: its labels plus podLabels. */}}
{{- define "api-service.podLabels" -}}
{{ include "spark-stack-common.podLabels" (dict "ctx" . "component" "api") }}
{{- end }}

{{- define "api-service.selectorLabels" -}}
{{ include "spark-stack-common.selectorLabels" (dict "ctx" .) }}
{{- end }}

{{/*
What the Service, PDB and NetworkPolicy select: the selector labels plus the component, so the
`helm test` pod (same name and instance, component "test") is never one of the API's pods.
These selectors may change on upgrade; the Deployment's may not, so it keeps the short one.
*/}}
{{- define "api-service.podSelectorLabels" -}}
{{ include "spark-stack-common.selectorLabels" (dict "ctx" . "component" "api" "selectComponent" true) }}
{{- end }}

{{- define "api-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "api-service.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference (registry, repository, tag or digest; see the library chart). */}}
{{- define "api-service.image" -}}
{{ include "spark-stack-common.image" (dict "image" .Values.image "ctx" .) }}
{{- end }}

{{/* The Spark master URL, templated (the umbrella passes "spark://{{ .Release.Name }}-spark-master:7077"). */}}
{{- define "api-service.sparkMasterUrl" -}}
{{- tpl .Values.env.sparkMasterUrl . }}
{{- end }}

{{/* "true" when the oauth-proxy sidecar fronts the API. */}}
{{- define "api-service.proxyEnabled" -}}
{{- if and .Values.oauth.enabled (eq .Values.oauth.mode "openshift-proxy") }}true{{ else }}false{{ end }}
{{- end }}

{{/* What SPARK_API_AUTH_MODE gets. */}}
{{- define "api-service.authMode" -}}
{{- if .Values.oauth.enabled }}{{ .Values.oauth.mode }}{{ else }}disabled{{ end }}
{{- end }}

{{/*
How the API is exposed: "route", "ingress" or "none". `auto` takes a Route where the cluster
serves the Route API, else an Ingress only when a host is configured (a host-less Ingress would
catch every request of the ingress controller), else nothing.
*/}}
{{- define "api-service.exposeType" -}}
{{- $type := .Values.expose.type }}
{{- if ne $type "auto" }}{{ $type }}
{{- else if eq (include "spark-stack-common.hasRouteApi" .) "true" }}route
{{- else if .Values.ingress.host }}ingress
{{- else }}none
{{- end }}
{{- end }}

{{/* Route name: fixed, because the oauth-proxy's redirect reference names it. */}}
{{- define "api-service.routeName" -}}
{{- include "api-service.fullname" . }}
{{- end }}

{{- define "api-service.ownerSecretName" -}}
{{- if .Values.ownerSecret.existingSecret }}
{{- tpl .Values.ownerSecret.existingSecret . }}
{{- else }}
{{- printf "%s-owner" (include "api-service.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Where the owner Secret is mounted (read-only) and the file SPARK_API_OWNER_SECRET_FILE names. */}}
{{- define "api-service.ownerSecretDir" -}}
/var/run/secrets/spark-api/owner
{{- end }}

{{- define "api-service.ownerSecretFile" -}}
{{- printf "%s/%s" (include "api-service.ownerSecretDir" .) .Values.ownerSecret.key }}
{{- end }}

{{- define "api-service.cookieSecretName" -}}
{{- if .Values.oauth.proxy.cookieSecret.existingSecret }}
{{- tpl .Values.oauth.proxy.cookieSecret.existingSecret . }}
{{- else }}
{{- printf "%s-proxy-cookie" (include "api-service.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "api-service.tlsSecretName" -}}
{{- printf "%s-tls" (include "api-service.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A generated secret value that survives upgrades: the value already in the cluster if the Secret
exists (lookup), else a fresh random one. Call with (dict "ctx" $ "name" NAME "key" KEY "length" N).
*/}}
{{- define "api-service.stableRandom" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .name }}
{{- if and $existing (index ($existing.data | default dict) .key) }}
{{- index $existing.data .key }}
{{- else }}
{{- randAlphaNum (int .length) | b64enc }}
{{- end }}
{{- end }}

{{/*
"true" when the API validates Kubernetes ServiceAccount tokens itself (oidc mode, issuer = the
cluster's API server): the pod then mounts its own token and the cluster CA for discovery/JWKS.
oauth.kubernetesIssuer "auto" recognises https://kubernetes.default[.svc[.<cluster domain>]].
*/}}
{{- define "api-service.kubernetesIssuer" -}}
{{- $mode := toString .Values.oauth.kubernetesIssuer }}
{{- $issuer := tpl .Values.oauth.issuerUrl . }}
{{- if not (and .Values.oauth.enabled (eq .Values.oauth.mode "oidc")) }}false
{{- else if eq $mode "false" }}false
{{- else if eq $mode "true" }}
{{- if not (hasPrefix "https://" $issuer) }}
{{- fail (printf "api-service.oauth.kubernetesIssuer=true needs an https issuerUrl (the pod's token is never sent over plain http), got %q: use the API server's https issuer or set kubernetesIssuer=false" $issuer) }}
{{- end }}true
{{- else if regexMatch "^https://kubernetes\\.default(\\.svc(\\.[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?)?/?$" $issuer }}true
{{- else }}false
{{- end }}
{{- end }}

{{/* Where the projected ServiceAccount token and cluster CA are mounted (read-only). */}}
{{- define "api-service.issuerAccessDir" -}}
/var/run/secrets/spark-api/issuer
{{- end }}

{{/* oauth.subjectScopes as the JSON SPARK_API_OIDC_SUBJECT_SCOPES reads, keys through tpl. */}}
{{- define "api-service.subjectScopes" -}}
{{- $out := dict }}
{{- range $pattern, $scopes := .Values.oauth.subjectScopes }}
{{- $_ := set $out (tpl $pattern $) $scopes }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* The Spark master's host, from env.sparkMasterUrl (the first of spark://h1:p1,h2:p2). */}}
{{- define "api-service.masterHost" -}}
{{- include "api-service.sparkMasterUrl" . | trimPrefix "spark://" | splitList "," | first | splitList ":" | first }}
{{- end }}

{{/*
The API's egress rule to the OAuth issuer (YAML of one NetworkPolicyEgressRule, or nothing when
no issuer is called). Peers: networkPolicy.issuerTo; else, for the cluster's own issuer, the
`kubernetes` Service's endpoints (lookup; empty under `helm template`); else the issuer's IP
literal; else any address. Ports: networkPolicy.issuerPorts, else the issuer URL's port (plus
6443, where the API server listens behind its 443 Service, for the cluster's issuer); in
openshift-proxy mode 443 and 6443 (the OpenShift API and OAuth server).
*/}}
{{- define "api-service.issuerEgress" -}}
{{- $np := .Values.networkPolicy }}
{{- $proxy := eq (include "api-service.proxyEnabled" .) "true" }}
{{- $oidc := and .Values.oauth.enabled (eq .Values.oauth.mode "oidc") }}
{{- if or $proxy $oidc }}
{{- $ports := list }}
{{- $to := $np.issuerTo | default list }}
{{- if $proxy }}
{{- $ports = list 443 6443 }}
{{- else }}
{{- $issuer := urlParse (tpl .Values.oauth.issuerUrl .) }}
{{- $hostPort := splitList ":" (trimPrefix "[" (regexReplaceAll "^\\[[^\\]]*\\]" $issuer.host "ipv6")) }}
{{- $port := ternary (last $hostPort) (ternary "443" "80" (eq $issuer.scheme "https")) (gt (len $hostPort) 1) }}
{{- $ports = list (int $port) }}
{{- if eq (include "api-service.kubernetesIssuer" .) "true" }}
{{- $ports = append $ports 6443 }}
{{- if not $to }}
{{- $endpoints := lookup "v1" "Endpoints" "default" "kubernetes" }}
{{- range ($endpoints.subsets | default list) }}
{{- range (.addresses | default list) }}
{{- $to = append $to (dict "ipBlock" (dict "cidr" (printf "%s/%s" .ip (ternary "128" "32" (contains ":" .ip))))) }}
{{- end }}
{{- end }}
{{- end }}
{{- else if and (not $to) (regexMatch "^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$" $issuer.hostname) }}
{{- $to = list (dict "ipBlock" (dict "cidr" (printf "%s/32" $issuer.hostname))) }}
{{- end }}
{{- end }}
{{- $rulePorts := list }}
{{- range (default $ports $np.issuerPorts | uniq) }}
{{- $rulePorts = append $rulePorts (dict "port" (int .) "protocol" "TCP") }}
{{- end }}
{{- $rule := dict "ports" $rulePorts }}
{{- with $to }}{{ $_ := set $rule "to" . }}{{ end }}
{{- toYaml $rule }}
{{- end }}
{{- end }}
