{{/*
Names and labels (the usual helpers of official charts).
*/}}
{{- define "analytics-mcp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "analytics-mcp.fullname" -}}
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

{{- define "analytics-mcp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "analytics-mcp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "analytics-mcp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The server pods (the Deployment's selector); job and test pods carry another component. */}}
{{- define "analytics-mcp.serverSelectorLabels" -}}
{{ include "analytics-mcp.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "analytics-mcp.labels" -}}
helm.sh/chart: {{ include "analytics-mcp.chart" . }}
{{ include "analytics-mcp.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | toString | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: analytics-mcp
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "analytics-mcp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "analytics-mcp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: registry/repository:tag[@digest]; the tag defaults to the appVersion. */}}
{{- define "analytics-mcp.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}{{ $repo = printf "%s/%s" .Values.image.registry $repo }}{{ end }}
{{- $tag := default .Chart.AppVersion .Values.image.tag | toString }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" $repo $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{/*
A setting value as the string the service parses: maps and lists as JSON, whole numbers without an
exponent (YAML numbers arrive as float64), everything else as text.
*/}}
{{- define "analytics-mcp.str" -}}
{{- $v := . }}
{{- if or (kindIs "map" $v) (kindIs "slice" $v) }}
{{- toJson $v }}
{{- else if kindIs "float64" $v }}
{{- if eq (float64 (int64 $v)) $v }}{{ int64 $v }}{{ else }}{{ $v }}{{ end }}
{{- else if not (kindIs "invalid" $v) }}
{{- toString $v }}
{{- end }}
{{- end }}

{{/* Numbers the chart derives values from. */}}
{{- define "analytics-mcp.sqlMaxTimeout" -}}
{{- int (include "analytics-mcp.str" (dig "MCP_SQL_MAX_TIMEOUT" 300 .Values.config)) }}
{{- end }}

{{/* Ingress and HTTPRoute timeouts: above the longest SQL timeout. */}}
{{- define "analytics-mcp.proxyTimeout" -}}
{{- add (int (include "analytics-mcp.sqlMaxTimeout" .)) 60 }}
{{- end }}

{{- define "analytics-mcp.shutdownTimeout" -}}
{{- int (include "analytics-mcp.str" (dig "MCP_SHUTDOWN_TIMEOUT" 10 .Values.config)) }}
{{- end }}

{{- define "analytics-mcp.maxRequestBytes" -}}
{{- int64 (include "analytics-mcp.str" (dig "MCP_MAX_REQUEST_BYTES" 1048576 .Values.config)) }}
{{- end }}

{{/* preStop sleep seconds actually rendered (0: none; lifecycle sleep needs Kubernetes 1.30+). */}}
{{- define "analytics-mcp.preStopSeconds" -}}
{{- if and .Values.lifecycle.preStopSleep.enabled (gt (int .Values.lifecycle.preStopSleep.seconds) 0) (semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version) }}
{{- int .Values.lifecycle.preStopSleep.seconds }}
{{- else }}0{{ end }}
{{- end }}

{{- define "analytics-mcp.minGracePeriod" -}}
{{- add (int (include "analytics-mcp.preStopSeconds" .)) (int (include "analytics-mcp.shutdownTimeout" .)) 5 }}
{{- end }}

{{- define "analytics-mcp.terminationGracePeriod" -}}
{{- $min := int (include "analytics-mcp.minGracePeriod" .) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- $min }}
{{- else }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* The catalog URL in effect (catalog.url, else config.MCP_CATALOG_URL). */}}
{{- define "analytics-mcp.catalogUrl" -}}
{{- default (include "analytics-mcp.str" (dig "MCP_CATALOG_URL" "" .Values.config)) .Values.catalog.url }}
{{- end }}

{{- define "analytics-mcp.postgresCatalog" -}}
{{- if regexMatch "^postgres(ql)?://" (include "analytics-mcp.catalogUrl" .) }}true{{ end }}
{{- end }}

{{/* Replicas that may run at once (for the SQLite check and the PDB). */}}
{{- define "analytics-mcp.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.minReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{/* The JWKS URI in effect. */}}
{{- define "analytics-mcp.jwksUri" -}}
{{- if .Values.auth.enabled }}
{{- default (include "analytics-mcp.str" (dig "MCP_JWKS_URI" "" .Values.config)) .Values.auth.jwt.jwksUri }}
{{- end }}
{{- end }}

{{/* Whether any credential is required on /mcp: JWTs (auth.enabled) or the built-in authorization server. */}}
{{- define "analytics-mcp.authOn" -}}
{{- if or .Values.auth.enabled .Values.auth.oauthServer.enabled }}true{{ end }}
{{- end }}

{{/*
The Secret and key feeding MCP_TOKEN_SIGNING_KEY, as JSON {name, key} ("" when none): the token
exchange's and the authorization server's (one key signs both kinds of token; the check in
"analytics-mcp.validate" refuses two different ones). Each counts only while its feature is on.
*/}}
{{- define "analytics-mcp.signingKeyRefs" -}}
{{- $v := .Values }}
{{- $refs := list }}
{{- $te := $v.auth.tokenExchange.existingSecret }}
{{- if and (include "analytics-mcp.authOn" .) $v.auth.tokenExchange.enabled $te.name }}
{{- $refs = append $refs (dict "from" "auth.tokenExchange.existingSecret" "name" $te.name "key" $te.key) }}
{{- end }}
{{- $os := $v.auth.oauthServer.signingKey.existingSecret }}
{{- if and $v.auth.oauthServer.enabled $os.name }}
{{- $refs = append $refs (dict "from" "auth.oauthServer.signingKey.existingSecret" "name" $os.name "key" $os.key) }}
{{- end }}
{{- toJson $refs }}
{{- end }}

{{/* Env var holding pre-registered client i's secret when it comes from clients[i].existingSecret. */}}
{{- define "analytics-mcp.oauthClientSecretEnv" -}}OAUTH_CLIENT_SECRET_{{ . }}{{- end }}

{{/* MCP_OAUTH_CLIENTS: the clients, existingSecret replaced by client_secret_env naming the env var it fills. */}}
{{- define "analytics-mcp.oauthClientsJson" -}}
{{- $out := list }}
{{- range $i, $client := .Values.auth.oauthServer.clients }}
{{- $entry := omit $client "existingSecret" }}
{{- if and $client.existingSecret $client.existingSecret.name }}
{{- $_ := set $entry "client_secret_env" (include "analytics-mcp.oauthClientSecretEnv" $i) }}
{{- end }}
{{- $out = append $out $entry }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
Paths the Ingress and HTTPRoute route (a list of {path, pathType}): the given ones, plus /oauth (the
authorization server) and /assets (its pages' styles) with auth.oauthServer.enabled when no given
Prefix path covers them. Argument: the given paths (Ingress entries or HTTPRoute strings), then root.
*/}}
{{- define "analytics-mcp.routedPaths" -}}
{{- $root := index . 1 }}
{{- $paths := list }}
{{- range index . 0 }}
{{- if kindIs "map" . }}{{ $paths = append $paths (dict "path" .path "pathType" (default "Prefix" .pathType)) }}
{{- else }}{{ $paths = append $paths (dict "path" . "pathType" "Prefix") }}{{ end }}
{{- end }}
{{- if $root.Values.auth.oauthServer.enabled }}
{{- range $extra := list "/oauth" "/assets" }}
{{- $covered := false }}
{{- range $paths }}
{{- $prefix := trimSuffix "/" .path }}
{{- if and (ne .pathType "Exact") (or (eq $prefix "") (eq $prefix $extra)) }}{{ $covered = true }}{{ end }}
{{- end }}
{{- if not $covered }}{{ $paths = append $paths (dict "path" $extra "pathType" "Prefix") }}{{ end }}
{{- end }}
{{- end }}
{{- toJson $paths }}
{{- end }}

{{/* Whether Redis is configured, and the URL the chart can see (not the one in redis.existingSecret). */}}
{{- define "analytics-mcp.redisConfigured" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret.name }}true{{ end }}
{{- end }}

{{- define "analytics-mcp.redisUrl" -}}
{{- if .Values.redis.url }}
{{- .Values.redis.url }}
{{- else if kindIs "map" (dig "MCP_STORE_CONFIG" nil .Values.config) }}
{{- dig "MCP_STORE_CONFIG" "CACHE_REDIS_URL" "" .Values.config | default "" }}
{{- end }}
{{- end }}

{{- define "analytics-mcp.urlHasCredentials" -}}
{{- if regexMatch "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@]*@" . }}true{{ end }}
{{- end }}

{{/* MCP_STORE_CONFIG as an object: config.MCP_STORE_CONFIG with redis.* on top. */}}
{{- define "analytics-mcp.storeConfig" -}}
{{- $store := dict }}
{{- $given := dig "MCP_STORE_CONFIG" nil .Values.config }}
{{- if kindIs "map" $given }}{{ $store = deepCopy $given }}{{ end }}
{{- if include "analytics-mcp.redisConfigured" . }}
{{- $_ := set $store "enabled" true }}
{{- if .Values.redis.url }}{{ $_ := set $store "CACHE_REDIS_URL" .Values.redis.url }}{{ end }}
{{- if .Values.redis.existingSecret.name }}{{ $_ := set $store "CACHE_REDIS_URL" "$(REDIS_URL)" }}{{ end }}
{{- if .Values.redis.keyPrefix }}{{ $_ := set $store "key_prefix" .Values.redis.keyPrefix }}{{ end }}
{{- end }}
{{- toJson $store }}
{{- end }}

{{/* Where the store config goes: configmap, secret, env (composed from redis.existingSecret) or none. */}}
{{- define "analytics-mcp.storeConfigPlace" -}}
{{- if .Values.redis.existingSecret.name }}env
{{- else if .Values.redis.url }}{{ if include "analytics-mcp.urlHasCredentials" .Values.redis.url }}secret{{ else }}configmap{{ end }}
{{- else if hasKey .Values.config "MCP_STORE_CONFIG" }}configmap
{{- else }}none{{ end }}
{{- end }}

{{/* Public URL: serviceUrl, else the first ingress host, else the first HTTPRoute hostname. */}}
{{- define "analytics-mcp.serviceUrl" -}}
{{- if .Values.serviceUrl }}
{{- .Values.serviceUrl | trimSuffix "/" }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- $host := first .Values.ingress.hosts }}
{{- $tls := false }}
{{- range .Values.ingress.tls }}{{ if has $host (default (list) .hosts) }}{{ $tls = true }}{{ end }}{{ end }}
{{- printf "%s://%s" (ternary "https" "http" $tls) $host }}
{{- else if and .Values.httpRoute.enabled .Values.httpRoute.hostnames }}
{{- printf "https://%s" (first .Values.httpRoute.hostnames) }}
{{- end }}
{{- end }}

{{/* MCP_ALLOWED_HOSTS default: the public names, the Service's in-cluster names and localhost (port-forward). */}}
{{- define "analytics-mcp.allowedHosts" -}}
{{- $fullname := include "analytics-mcp.fullname" . }}
{{- $hosts := list }}
{{- if .Values.ingress.enabled }}{{ $hosts = concat $hosts .Values.ingress.hosts }}{{ end }}
{{- if .Values.httpRoute.enabled }}{{ $hosts = concat $hosts .Values.httpRoute.hostnames }}{{ end }}
{{- $url := include "analytics-mcp.serviceUrl" . }}
{{- if $url }}{{ $hosts = append $hosts (regexReplaceAll ":[0-9]+$" (urlParse $url).host "") }}{{ end }}
{{- $ns := .Release.Namespace }}
{{- $hosts = concat $hosts (list $fullname (printf "%s.%s" $fullname $ns) (printf "%s.%s.svc" $fullname $ns) (printf "%s.%s.svc.%s" $fullname $ns .Values.clusterDomain) "localhost" "127.0.0.1") }}
{{- $hosts | uniq | join "," }}
{{- end }}

{{/* Mount paths of the password files. */}}
{{- define "analytics-mcp.catalogPasswordFile" -}}/var/run/secrets/analytics-mcp/catalog/password{{- end }}
{{- define "analytics-mcp.databasePasswordDir" -}}/var/run/secrets/analytics-mcp/databases{{- end }}

{{/* MCP_DATABASES entries with password_file pointing at the mounted existingSecret. */}}
{{- define "analytics-mcp.databasesJson" -}}
{{- $out := list }}
{{- range $i, $db := .Values.databases }}
{{- $entry := omit $db "existingSecret" }}
{{- if and $db.existingSecret $db.existingSecret.name }}
{{- $_ := set $entry "password_file" (printf "%s/%d/password" (include "analytics-mcp.databasePasswordDir" $) $i) }}
{{- end }}
{{- $out = append $out $entry }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
The ConfigMap's settings (a map rendered as YAML): config.* stringified, then the structured values.
*/}}
{{- define "analytics-mcp.configData" -}}
{{- $cfg := dict }}
{{- range $k, $v := .Values.config }}
{{- $_ := set $cfg $k (include "analytics-mcp.str" $v) }}
{{- end }}
{{- $_ := set $cfg "MCP_SERVICE_HOST" "0.0.0.0" }}
{{- $_ := set $cfg "MCP_SERVICE_PORT" "5008" }}
{{- $_ := set $cfg "MCP_DATA_DIR" "/data" }}
{{- with include "analytics-mcp.serviceUrl" . }}{{ $_ := set $cfg "MCP_SERVICE_URL" . }}{{ end }}
{{- if not (hasKey .Values.config "MCP_ALLOWED_HOSTS") }}
{{- $_ := set $cfg "MCP_ALLOWED_HOSTS" (include "analytics-mcp.allowedHosts" .) }}
{{- end }}
{{- if .Values.metrics.separatePort.enabled }}
{{- $_ := set $cfg "MCP_METRICS_PORT" (toString (int .Values.metrics.separatePort.port)) }}
{{- end }}
{{- with .Values.catalog.url }}{{ $_ := set $cfg "MCP_CATALOG_URL" . }}{{ end }}
{{- if or .Values.catalog.password .Values.catalog.existingSecret.name }}
{{- $_ := set $cfg "MCP_CATALOG_PASSWORD_FILE" (include "analytics-mcp.catalogPasswordFile" .) }}
{{- end }}
{{- if .Values.migrations.enabled }}{{ $_ := set $cfg "MCP_CATALOG_AUTO_UPGRADE" "false" }}{{ end }}
{{- $place := include "analytics-mcp.storeConfigPlace" . }}
{{- if eq $place "configmap" }}
{{- $_ := set $cfg "MCP_STORE_CONFIG" (include "analytics-mcp.storeConfig" .) }}
{{- else }}
{{- $_ := unset $cfg "MCP_STORE_CONFIG" }}
{{- end }}
{{- if include "analytics-mcp.authOn" . }}
{{- if .Values.auth.enabled }}
{{- $_ := set $cfg "MCP_AUTH_ENABLED" "true" }}
{{- $jwt := .Values.auth.jwt }}
{{- with $jwt.jwksUri }}{{ $_ := set $cfg "MCP_JWKS_URI" . }}{{ end }}
{{- with $jwt.issuer }}{{ $_ := set $cfg "MCP_JWT_ISSUER" . }}{{ end }}
{{- with $jwt.audience }}{{ $_ := set $cfg "MCP_JWT_AUDIENCE" (join "," .) }}{{ end }}
{{- with $jwt.algorithm }}{{ $_ := set $cfg "MCP_JWT_ALGORITHM" . }}{{ end }}
{{- with $jwt.publicKey }}{{ $_ := set $cfg "MCP_JWT_PUBLIC_KEY" . }}{{ end }}
{{- else }}
{{- /* the authorization server alone: its own tokens, no external JWTs (which would need auth.jwt.*) */}}
{{- $_ := set $cfg "MCP_AUTH_ENABLED" "false" }}
{{- end }}
{{- if .Values.auth.apiKeys.enabled }}{{ $_ := set $cfg "MCP_API_KEY_ENABLED" "true" }}{{ end }}
{{- if .Values.auth.tokenExchange.enabled }}{{ $_ := set $cfg "MCP_TOKEN_EXCHANGE_ENABLED" "true" }}{{ end }}
{{- $_ := unset $cfg "MCP_DEV_USERNAME" }}
{{- $_ := unset $cfg "MCP_ALLOW_UNAUTHENTICATED_REMOTE" }}
{{- else }}
{{- $_ := set $cfg "MCP_AUTH_ENABLED" "false" }}
{{- /* the pod binds 0.0.0.0: development mode needs this to start; exposure is guarded at render time */}}
{{- $_ := set $cfg "MCP_ALLOW_UNAUTHENTICATED_REMOTE" "true" }}
{{- with .Values.auth.devUser }}{{ $_ := set $cfg "MCP_DEV_USERNAME" . }}{{ end }}
{{- end }}
{{- /* auth.oauthServer.enabled is the switch: config.MCP_OAUTH_SERVER_ENABLED would bypass the render-time checks */}}
{{- with .Values.auth.oauthServer }}
{{- if .enabled }}
{{- $_ := set $cfg "MCP_OAUTH_SERVER_ENABLED" "true" }}
{{- $_ := set $cfg "MCP_OAUTH_UPSTREAM_ISSUER" .upstream.issuer }}
{{- $_ := set $cfg "MCP_OAUTH_UPSTREAM_CLIENT_ID" .upstream.clientId }}
{{- $_ := set $cfg "MCP_OAUTH_UPSTREAM_SCOPES" (join "," .upstream.scopes) }}
{{- $_ := set $cfg "MCP_OAUTH_UPSTREAM_ALLOW_HTTP" (toString .upstream.allowHttp) }}
{{- $_ := set $cfg "MCP_OAUTH_ACCESS_TOKEN_TTL" (include "analytics-mcp.str" .accessTokenTtl) }}
{{- $_ := set $cfg "MCP_OAUTH_REFRESH_TOKEN_TTL" (include "analytics-mcp.str" .refreshTokenTtl) }}
{{- $_ := set $cfg "MCP_OAUTH_CLIENTS" (include "analytics-mcp.oauthClientsJson" $) }}
{{- $_ := set $cfg "MCP_OAUTH_DCR_ENABLED" (toString .dcr.enabled) }}
{{- $_ := set $cfg "MCP_OAUTH_DCR_PER_HOUR" (include "analytics-mcp.str" .dcr.perHour) }}
{{- $_ := set $cfg "MCP_OAUTH_DCR_CLIENT_TTL" (include "analytics-mcp.str" .dcr.clientTtl) }}
{{- $_ := set $cfg "MCP_OAUTH_CIMD_ENABLED" (toString .cimd.enabled) }}
{{- $_ := set $cfg "MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES" (toString .cimd.allowPrivateAddresses) }}
{{- with .supportContact }}{{ $_ := set $cfg "MCP_OAUTH_SUPPORT_CONTACT" . }}{{ end }}
{{- else }}
{{- $_ := set $cfg "MCP_OAUTH_SERVER_ENABLED" "false" }}
{{- end }}
{{- end }}
{{- if .Values.databases }}
{{- $_ := set $cfg "MCP_DATABASES" (include "analytics-mcp.databasesJson" .) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* The chart's Secret data (plain text; only what values give inline). */}}
{{- define "analytics-mcp.secretData" -}}
{{- $sec := dict }}
{{- with .Values.catalog.password }}{{ $_ := set $sec "catalog-password" . }}{{ end }}
{{- with .Values.linkSecret.value }}{{ $_ := set $sec "MCP_LINK_SECRET" . }}{{ end }}
{{- if eq (include "analytics-mcp.storeConfigPlace" .) "secret" }}
{{- $_ := set $sec "MCP_STORE_CONFIG" (include "analytics-mcp.storeConfig" .) }}
{{- end }}
{{- if $sec }}{{ toYaml $sec }}{{ end }}
{{- end }}

{{/*
Container env (deployment and migration job). Argument: dict "root" $ "secretName" <chart Secret name>.
Order matters: REDIS_URL comes before MCP_STORE_CONFIG, which references it.
*/}}
{{- define "analytics-mcp.env" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $secret := include "analytics-mcp.secretData" $root | fromYaml }}
{{- if $v.redis.existingSecret.name }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.redis.existingSecret.name }}
      key: {{ $v.redis.existingSecret.key }}
- name: MCP_STORE_CONFIG
  value: {{ include "analytics-mcp.storeConfig" $root | quote }}
{{- end }}
{{- range $key := list "MCP_LINK_SECRET" "MCP_STORE_CONFIG" }}
{{- if hasKey $secret $key }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $.secretName }}
      key: {{ $key }}
{{- end }}
{{- end }}
{{- if $v.linkSecret.existingSecret.name }}
- name: MCP_LINK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $v.linkSecret.existingSecret.name }}
      key: {{ $v.linkSecret.existingSecret.key }}
{{- end }}
{{- if and $v.auth.enabled $v.auth.jwt.existingSecret.name }}
- name: MCP_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $v.auth.jwt.existingSecret.name }}
      key: {{ $v.auth.jwt.existingSecret.key }}
{{- end }}
{{- with first (include "analytics-mcp.signingKeyRefs" $root | fromJsonArray) }}
- name: MCP_TOKEN_SIGNING_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
{{- end }}
{{- if $v.auth.oauthServer.enabled }}
{{- with $v.auth.oauthServer.upstream.existingSecret }}
{{- if .name }}
- name: MCP_OAUTH_UPSTREAM_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- range $i, $client := $v.auth.oauthServer.clients }}
{{- if and $client.existingSecret $client.existingSecret.name }}
- name: {{ include "analytics-mcp.oauthClientSecretEnv" $i }}
  valueFrom:
    secretKeyRef:
      name: {{ $client.existingSecret.name }}
      key: {{ default "client-secret" $client.existingSecret.key }}
{{- end }}
{{- end }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* envFrom after the ConfigMap: the whole existingSecret, then extraEnvFrom. */}}
{{- define "analytics-mcp.envFromSecrets" -}}
{{- with .Values.existingSecret }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- with .Values.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod volumes. Argument: dict "root" $ "secretName" <chart Secret name>. */}}
{{- define "analytics-mcp.volumes" -}}
{{- $v := .root.Values }}
- name: data
  emptyDir:
    {{- with $v.persistence.data.medium }}
    medium: {{ . }}
    {{- end }}
    {{- with $v.persistence.data.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
- name: tmp
  emptyDir:
    {{- with $v.persistence.tmp.medium }}
    medium: {{ . }}
    {{- end }}
    {{- with $v.persistence.tmp.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
{{- if or $v.catalog.password $v.catalog.existingSecret.name }}
- name: catalog-password
  secret:
    secretName: {{ ternary $v.catalog.existingSecret.name .secretName (not (empty $v.catalog.existingSecret.name)) }}
    defaultMode: 288
    items:
      - key: {{ ternary $v.catalog.existingSecret.key "catalog-password" (not (empty $v.catalog.existingSecret.name)) }}
        path: password
{{- end }}
{{- range $i, $db := $v.databases }}
{{- if and $db.existingSecret $db.existingSecret.name }}
- name: db-password-{{ $i }}
  secret:
    secretName: {{ $db.existingSecret.name }}
    defaultMode: 288
    items:
      - key: {{ default "password" $db.existingSecret.key }}
        path: password
{{- end }}
{{- end }}
{{- with $v.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "analytics-mcp.volumeMounts" -}}
- name: data
  mountPath: /data
- name: tmp
  mountPath: /tmp
{{- if or .Values.catalog.password .Values.catalog.existingSecret.name }}
- name: catalog-password
  mountPath: {{ dir (include "analytics-mcp.catalogPasswordFile" .) }}
  readOnly: true
{{- end }}
{{- range $i, $db := .Values.databases }}
{{- if and $db.existingSecret $db.existingSecret.name }}
- name: db-password-{{ $i }}
  mountPath: {{ include "analytics-mcp.databasePasswordDir" $ }}/{{ $i }}
  readOnly: true
{{- end }}
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Render-time refusals of what cannot work. Included by the Deployment.
*/}}
{{- define "analytics-mcp.validate" -}}
{{- $v := .Values }}
{{- $pg := include "analytics-mcp.postgresCatalog" . }}
{{- if and (not $pg) (or (gt (int $v.replicaCount) 1) $v.autoscaling.enabled) }}
{{- fail "replicaCount > 1 or autoscaling.enabled needs a PostgreSQL catalog: set catalog.url (postgresql://user@host:5432/db?sslmode=verify-full). The embedded SQLite catalog lives on each pod's emptyDir and cannot be shared." }}
{{- end }}
{{- if and (not (include "analytics-mcp.authOn" .)) (or $v.ingress.enabled $v.httpRoute.enabled) (not $v.allowUnauthenticatedRemote) }}
{{- fail "auth.enabled=false (development mode: every call runs as the dev user) together with ingress.enabled or httpRoute.enabled would publish an unauthenticated analytics endpoint. Turn on auth (auth.enabled=true with auth.jwt.* or auth.apiKeys.enabled, or auth.oauthServer.enabled=true), or set allowUnauthenticatedRemote=true if that is really intended." }}
{{- end }}
{{- if and $v.auth.enabled (not (or $v.auth.jwt.jwksUri $v.auth.jwt.publicKey $v.auth.jwt.existingSecret.name $v.auth.apiKeys.enabled (hasKey $v.config "MCP_JWKS_URI") (hasKey $v.config "MCP_JWT_PUBLIC_KEY") $v.existingSecret)) }}
{{- fail "auth.enabled=true needs key material: auth.jwt.jwksUri, auth.jwt.publicKey or auth.jwt.existingSecret (HS*), or auth.apiKeys.enabled=true. For sign-in through the built-in authorization server alone, leave auth.enabled=false and set auth.oauthServer.enabled=true (it turns authentication on and checks its own tokens)" }}
{{- end }}
{{- if and $v.auth.enabled (or $v.auth.jwt.jwksUri $v.auth.jwt.publicKey $v.auth.jwt.existingSecret.name) (empty $v.auth.jwt.audience) (not (hasKey $v.config "MCP_JWT_AUDIENCE")) }}
{{- fail "auth.jwt needs auth.jwt.audience (MCP_JWT_AUDIENCE): the service refuses JWTs without an audience check, and would not start" }}
{{- end }}
{{- $podsAtLeast := ternary (int $v.autoscaling.minReplicas) (int $v.replicaCount) (and $v.autoscaling.enabled true) }}
{{- if and $v.podDisruptionBudget.enabled (or (kindIs "float64" $v.podDisruptionBudget.minAvailable) (kindIs "int64" $v.podDisruptionBudget.minAvailable) (kindIs "int" $v.podDisruptionBudget.minAvailable)) (ge (int $v.podDisruptionBudget.minAvailable) $podsAtLeast) (gt $podsAtLeast 1) }}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be below the number of replicas (%d), or no pod could ever be evicted and node drains would hang" (int $v.podDisruptionBudget.minAvailable) $podsAtLeast) }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%d) is larger than autoscaling.maxReplicas (%d)" (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- end }}
{{- if and (not (kindIs "invalid" $v.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" $v.podDisruptionBudget.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set only one of minAvailable and maxUnavailable" }}
{{- end }}
{{- $min := int (include "analytics-mcp.minGracePeriod" .) }}
{{- if lt (int (include "analytics-mcp.terminationGracePeriod" .)) $min }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least preStop sleep + MCP_SHUTDOWN_TIMEOUT + 5 = %d, or in-flight tool calls are killed on shutdown" (int $v.terminationGracePeriodSeconds) $min) }}
{{- end }}
{{- if and $v.migrations.enabled (not $pg) }}
{{- fail "migrations.enabled needs a PostgreSQL catalog (catalog.url): the SQLite catalog is on the pod's emptyDir, which a Job cannot reach" }}
{{- end }}
{{- range $key := list "MCP_JWT_SECRET" "MCP_LINK_SECRET" "MCP_CATALOG_PASSWORD" "MCP_TOKEN_SIGNING_KEY" "MCP_OAUTH_UPSTREAM_CLIENT_SECRET" }}
{{- if hasKey $v.config $key }}
{{- fail (printf "config.%s is a secret and would land in a ConfigMap: use the matching existingSecret value (auth.jwt.existingSecret, linkSecret.existingSecret, catalog.existingSecret, auth.tokenExchange.existingSecret or auth.oauthServer.signingKey.existingSecret, auth.oauthServer.upstream.existingSecret) or existingSecret" $key) }}
{{- end }}
{{- end }}
{{- $store := dig "MCP_STORE_CONFIG" nil $v.config }}
{{- if kindIs "map" $store }}
{{- if or (include "analytics-mcp.urlHasCredentials" (dig "CACHE_REDIS_URL" "" $store | default "")) (dig "sentinel_password" "" $store) }}
{{- fail "config.MCP_STORE_CONFIG holds Redis credentials and would land in a ConfigMap: use redis.url (rendered into the chart's Secret) or redis.existingSecret" }}
{{- end }}
{{- end }}
{{- if and $v.catalog.password $v.catalog.existingSecret.name }}
{{- fail "catalog: set catalog.password or catalog.existingSecret.name, not both" }}
{{- end }}
{{- if regexMatch "^[a-z]+://[^/@]*:[^/@]*@" (include "analytics-mcp.catalogUrl" .) }}
{{- fail "catalog.url must not hold a password: use catalog.existingSecret (mounted as MCP_CATALOG_PASSWORD_FILE)" }}
{{- end }}
{{- if and $v.linkSecret.value $v.linkSecret.existingSecret.name }}
{{- fail "linkSecret: set linkSecret.value or linkSecret.existingSecret.name, not both" }}
{{- end }}
{{- if and $v.redis.url $v.redis.existingSecret.name }}
{{- fail "redis: set redis.url or redis.existingSecret.name, not both" }}
{{- end }}
{{- if and (include "analytics-mcp.authOn" .) $v.auth.tokenExchange.enabled (not $v.auth.tokenExchange.existingSecret.name) (not (and $v.auth.oauthServer.enabled $v.auth.oauthServer.signingKey.existingSecret.name)) (not $v.existingSecret) }}
{{- fail "auth.tokenExchange.enabled needs auth.tokenExchange.existingSecret (the PEM key that signs exchanged tokens, MCP_TOKEN_SIGNING_KEY)" }}
{{- end }}
{{- include "analytics-mcp.validateOAuthServer" . }}
{{- range $i, $db := $v.databases }}
{{- if regexMatch "^[a-z]+://[^/@]*:[^/@]*@" $db.uri }}
{{- fail (printf "databases[%d] (%s): the uri must not hold a password; use databases[%d].existingSecret (mounted as password_file)" $i $db.name $i) }}
{{- end }}
{{- end }}
{{- if and $v.ingress.enabled (not $v.ingress.hosts) }}
{{- fail "ingress.enabled needs at least one host in ingress.hosts (they become MCP_SERVICE_URL and MCP_ALLOWED_HOSTS)" }}
{{- end }}
{{- if and $v.httpRoute.enabled (not $v.httpRoute.parentRefs) }}
{{- fail "httpRoute.enabled needs httpRoute.parentRefs (the Gateway to attach to)" }}
{{- end }}
{{- end }}

{{/*
Render-time refusals for auth.oauthServer: what the service would refuse at start-up, said in values.
One replica on SQLite or several on PostgreSQL is already enforced above; OAuth codes, grants, refresh
tokens and clients live in the catalog, which is what lets the browser redirect, the token call and the
next MCP call land on different replicas.
*/}}
{{- define "analytics-mcp.validateOAuthServer" -}}
{{- $v := .Values }}
{{- $os := $v.auth.oauthServer }}
{{- if $os.enabled }}
{{- if not $os.upstream.issuer }}
{{- fail "auth.oauthServer.enabled needs auth.oauthServer.upstream.issuer: the OpenID Connect provider users sign in at (MCP_OAUTH_UPSTREAM_ISSUER), e.g. https://keycloak.example.com/realms/analytics, https://login.microsoftonline.com/<tenant-id>/v2.0 or https://<org>.okta.com/oauth2/default" }}
{{- end }}
{{- if and (hasPrefix "http://" $os.upstream.issuer) (not $os.upstream.allowHttp) (not (regexMatch `^http://(localhost|127\.[0-9.]+|\[::1\])(:[0-9]+)?(/|$)` $os.upstream.issuer)) }}
{{- fail (printf "auth.oauthServer.upstream.issuer (%s) is plain http: sign-ins and ID tokens could be read or changed in transit. Use https, or set auth.oauthServer.upstream.allowHttp=true for an in-cluster provider behind the NetworkPolicy" $os.upstream.issuer) }}
{{- end }}
{{- if not $os.upstream.clientId }}
{{- fail "auth.oauthServer.enabled needs auth.oauthServer.upstream.clientId: the client registered for this service at the upstream provider (MCP_OAUTH_UPSTREAM_CLIENT_ID), with <serviceUrl>/oauth/callback as its redirect URI" }}
{{- end }}
{{- if not (has "openid" $os.upstream.scopes) }}
{{- fail "auth.oauthServer.upstream.scopes must include openid: sign-in reads the provider's ID token" }}
{{- end }}
{{- if not $v.serviceUrl }}
{{- fail "auth.oauthServer.enabled needs serviceUrl: the public https URL clients reach through the Ingress or HTTPRoute (e.g. https://mcp.example.com). It is the OAuth issuer written into every token and the base of the redirect URI <serviceUrl>/oauth/callback registered at the upstream provider, so it is set explicitly rather than derived from the ingress hosts" }}
{{- end }}
{{- if not (hasPrefix "https://" $v.serviceUrl) }}
{{- fail (printf "auth.oauthServer.enabled needs an https serviceUrl (%s is not): OAuth 2.1 requires the authorization server on https" $v.serviceUrl) }}
{{- end }}
{{- $refs := include "analytics-mcp.signingKeyRefs" . | fromJsonArray }}
{{- if gt (len $refs) 1 }}
{{- $a := index $refs 0 }}{{ $b := index $refs 1 }}
{{- if or (ne $a.name $b.name) (ne $a.key $b.key) }}
{{- fail (printf "auth.tokenExchange.existingSecret (%s/%s) and auth.oauthServer.signingKey.existingSecret (%s/%s) name different keys, but both feed MCP_TOKEN_SIGNING_KEY, the one key that signs exchanged tokens and the authorization server's access tokens: name the same Secret and key in both, or set only one" $a.name $a.key $b.name $b.key) }}
{{- end }}
{{- end }}
{{- range $i, $client := $os.clients }}
{{- if and $client.existingSecret $client.existingSecret.name $client.client_secret_env }}
{{- fail (printf "auth.oauthServer.clients[%d] (%s): set existingSecret or client_secret_env, not both" $i $client.client_id) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Port of a URL: the explicit one, else the given default. Argument: list URL defaultPort. */}}
{{- define "analytics-mcp.urlPort" -}}
{{- $url := index . 0 }}
{{- $host := (urlParse $url).host }}
{{- $m := regexFind ":[0-9]+$" $host }}
{{- if $m }}{{ trimPrefix ":" $m }}{{ else }}{{ index . 1 }}{{ end }}
{{- end }}

{{/* Selector matching the release's pods in PromQL. */}}
{{- define "analytics-mcp.promSelector" -}}
namespace="{{ .Release.Namespace }}",service="{{ include "analytics-mcp.fullname" . }}"
{{- end }}
