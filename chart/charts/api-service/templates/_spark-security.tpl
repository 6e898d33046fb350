{{/*
How the API proves itself to Spark (docs/security.md): the REST gateway key as a read-only FILE
(spark_api/rest_auth.py signs every REST call with it) and spark.authenticate on submissions.
The Secret is the spark-job chart's (`<release>-spark-security`) unless sparkSecurity.existingSecret
names another; only its `rest-jws-key` is mounted here, never the RPC secret.
*/}}
{{- define "api-service.sparkSecuritySecretName" -}}
{{- with .Values.sparkSecurity.existingSecret }}{{ tpl . $ }}{{ else }}{{ printf "%s-spark-security" .Release.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "api-service.sparkSecurityEnv" -}}
{{- if .Values.sparkSecurity.restAuth }}
- name: SPARK_API_REST_JWS_KEY_FILE
  value: "/etc/spark-security/rest-jws-key"
{{- end }}
- name: SPARK_API_SPARK_AUTHENTICATE
  value: {{ .Values.sparkSecurity.authenticate | toString | quote }}
{{- end }}

{{- define "api-service.sparkSecurityVolumeMounts" -}}
{{- if .Values.sparkSecurity.restAuth }}
- name: spark-security
  mountPath: "/etc/spark-security"
  readOnly: true
{{- end }}
{{- end }}

{{- define "api-service.sparkSecurityVolumes" -}}
{{- if .Values.sparkSecurity.restAuth }}
- name: spark-security
  secret:
    secretName: {{ include "api-service.sparkSecuritySecretName" . | quote }}
    defaultMode: 0444
    items:
      - key: "rest-jws-key"
        path: "rest-jws-key"
{{- end }}
{{- end }}
