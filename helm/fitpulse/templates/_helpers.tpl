{{/*
Names, labels and the values every template derives from: the server's config file, the
signing-key files, the bus, the termination grace period, and the checks that refuse
combinations which would deploy a broken cluster.
*/}}

{{- define "fitpulse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name; the release name alone when it already contains the chart's. */}}
{{- define "fitpulse.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fitpulse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fitpulse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fitpulse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fitpulse.labels" -}}
helm.sh/chart: {{ include "fitpulse.chart" . }}
{{ include "fitpulse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "fitpulse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fitpulse.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "fitpulse.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Where the config file, the signing keys and the App Store root certificate are mounted. */}}
{{- define "fitpulse.configDir" -}}/etc/fitpulse/config{{- end -}}
{{- define "fitpulse.keysDir" -}}/etc/fitpulse/keys{{- end -}}
{{- define "fitpulse.appstoreDir" -}}/etc/fitpulse/appstore{{- end -}}

{{/* The App Store root certificate's file in the pod; empty when none is configured. */}}
{{- define "fitpulse.appstoreRootCertFile" -}}
{{- with .Values.appstoreRootCert -}}
{{- if or .existingSecret .existingConfigMap -}}
{{- printf "%s/%s" (include "fitpulse.appstoreDir" $) .key -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fitpulse.pushDir" -}}/etc/fitpulse/push{{- end -}}

{{/* Whether push credentials are mounted (push.existingSecret with at least one key). */}}
{{- define "fitpulse.pushMounted" -}}
{{- with .Values.push -}}
{{- if and .existingSecret (or .apnsKey .fcmServiceAccount) -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Environment of every container that loads the settings (server and migrate job): the
secret settings, each from its key of secrets.existingSecret (and the CQL password). The
migrate job loads and validates the same settings, so it gets them too: a username without
its password, for one, is refused.
*/}}
{{- define "fitpulse.secretEnv" -}}
{{- if .Values.store.scylla.passwordSecret.name }}
- name: FITPULSE__STORE__SCYLLA__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.store.scylla.passwordSecret.name }}
      key: {{ .Values.store.scylla.passwordSecret.key }}
{{- end }}
{{- $secret := .Values.secrets.existingSecret }}
{{- range $setting := list
    (list "FITPULSE__COMMERCE__PAYMENTS_SECRET" .Values.secrets.keys.paymentsSecret)
    (list "FITPULSE__COMMERCE__GOOGLEPLAY_PUSH_TOKEN" .Values.secrets.keys.googleplayPushToken)
    (list "FITPULSE__EMAIL__SMTP__PASSWORD" .Values.secrets.keys.smtpPassword) }}
{{- if index $setting 1 }}
- name: {{ index $setting 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ index $setting 1 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The bus the pods use: the bundled NATS turns it on. */}}
{{- define "fitpulse.busKind" -}}
{{- if .Values.nats.enabled -}}nats{{- else -}}{{ .Values.bus.kind }}{{- end -}}
{{- end -}}

{{- define "fitpulse.natsUrl" -}}
{{- if .Values.bus.nats.url -}}
{{- .Values.bus.nats.url -}}
{{- else if .Values.nats.enabled -}}
{{- printf "nats://%s-nats:%d" .Release.Name (int (.Values.nats.clientPort | default 4222)) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the signing keys; empty when each pod generates its own. */}}
{{- define "fitpulse.signingKeysSecret" -}}
{{- if .Values.signingKeys.existingSecret -}}
{{- .Values.signingKeys.existingSecret -}}
{{- else if .Values.signingKeys.generate -}}
{{- printf "%s-signing-keys" (include "fitpulse.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The pod count can exceed one (replicas or any autoscaler). */}}
{{- define "fitpulse.multiPod" -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled .Values.keda.enabled -}}true{{- end -}}
{{- end -}}

{{/* One TOML value: strings through JSON escaping (valid TOML), integers without exponents. */}}
{{- define "fitpulse.tomlValue" -}}
{{- if kindIs "string" . -}}
{{- toJson . -}}
{{- else if kindIs "bool" . -}}
{{- . -}}
{{- else if kindIs "slice" . -}}
[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ include "fitpulse.tomlValue" $v }}{{ end }}]
{{- else if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) -}}
{{- int64 . -}}
{{- else -}}
{{- fail (printf "cannot render %v (%s) in config.toml" . (kindOf .)) -}}
{{- end -}}
{{- end -}}

{{/* A TOML table: its plain keys first, then its sub-tables (TOML's order); null keys are left to the server's defaults. */}}
{{- define "fitpulse.tomlTable" -}}
{{- $table := .table -}}
[{{ .path }}]
{{- range $key, $value := $table }}
{{- if not (or (kindIs "map" $value) (kindIs "invalid" $value)) }}
{{ $key }} = {{ include "fitpulse.tomlValue" $value }}
{{- end }}
{{- end }}
{{- range $key, $value := $table }}
{{- if kindIs "map" $value }}

{{ include "fitpulse.tomlTable" (dict "path" (printf "%s.%s" $.path $key) "table" $value) }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The server's config file. Keys are exactly those of src/config/settings.rs, which rejects
unknown ones (deny_unknown_fields): the `config` values pass through under the schema that
mirrors those structs (and leaves out settings holding secrets: see fitpulse.secretEnv),
the rest is built here.
*/}}
{{- define "fitpulse.configToml" -}}
{{- $sections := deepCopy (.Values.config | default dict) -}}
{{- $http := get $sections "http" | default dict -}}
{{- $_ := set $http "bind" (printf "0.0.0.0:%d" (int .Values.containerPort)) -}}
{{- $_ := set $sections "http" $http -}}
{{- $scylla := dict
    "nodes" .Values.store.scylla.nodes
    "keyspace" .Values.store.scylla.keyspace
    "replication_factor" .Values.store.scylla.replication_factor
    "consistency" .Values.store.scylla.consistency
    "connect_timeout_ms" .Values.store.scylla.connect_timeout_ms
    "request_timeout_ms" .Values.store.scylla.request_timeout_ms
    "background_appends_in_flight" .Values.store.scylla.background_appends_in_flight -}}
{{- if not .Values.store.scylla.nodes -}}
{{- $_ := unset $scylla "nodes" -}}
{{- end -}}
{{- if .Values.store.scylla.username -}}
{{- $_ := set $scylla "username" .Values.store.scylla.username -}}
{{- end -}}
{{- $store := dict "kind" .Values.store.kind -}}
{{- if eq .Values.store.kind "scylla" -}}
{{- $_ := set $store "scylla" $scylla -}}
{{- end -}}
{{- $_ := set $sections "store" $store -}}
{{- $bus := dict "kind" (include "fitpulse.busKind" .) -}}
{{- with include "fitpulse.natsUrl" . -}}
{{- $_ := set $bus "nats" (dict "url" .) -}}
{{- end -}}
{{- $_ := set $sections "bus" $bus -}}
{{- if include "fitpulse.signingKeysSecret" . -}}
{{- $auth := get $sections "auth" | default dict -}}
{{- $files := list -}}
{{- range .Values.signingKeys.keys -}}
{{- $files = append $files (printf "%s/%s" (include "fitpulse.keysDir" $) .) -}}
{{- end -}}
{{- $_ := set $auth "signing_key_files" $files -}}
{{- $_ := set $sections "auth" $auth -}}
{{- end -}}
{{- if include "fitpulse.pushMounted" . -}}
{{- $push := get $sections "push" | default dict -}}
{{- if .Values.push.apnsKey -}}
{{- $apns := get $push "apns" | default dict -}}
{{- $_ := set $apns "key_file" (printf "%s/%s" (include "fitpulse.pushDir" .) .Values.push.apnsKey) -}}
{{- $_ := set $push "apns" $apns -}}
{{- end -}}
{{- if .Values.push.fcmServiceAccount -}}
{{- $fcm := get $push "fcm" | default dict -}}
{{- $_ := set $fcm "service_account_file" (printf "%s/%s" (include "fitpulse.pushDir" .) .Values.push.fcmServiceAccount) -}}
{{- $_ := set $push "fcm" $fcm -}}
{{- end -}}
{{- $_ := set $sections "push" $push -}}
{{- end -}}
{{- with include "fitpulse.appstoreRootCertFile" . -}}
{{- $commerce := get $sections "commerce" | default dict -}}
{{- $_ := set $commerce "appstore_root_cert_file" . -}}
{{- $_ := set $sections "commerce" $commerce -}}
{{- end -}}
# fitpulse server configuration, rendered by the Helm chart (keys: README "Configuration").
# FITPULSE__* environment variables of the pod override it.
data_dir = {{ include "fitpulse.tomlValue" .Values.dataDir }}
{{- range $section, $table := $sections }}

{{ include "fitpulse.tomlTable" (dict "path" $section "table" $table) }}
{{- end }}
{{ end -}}

{{/*
Shutdown timing. After SIGTERM the server stays up unready for shutdown.drain_delay_ms, then
spends up to shutdown.grace_seconds closing sockets and persisting sessions, and up to
grace_seconds again finishing in-flight requests (src/startup.rs). The preStop pause comes
before SIGTERM and counts against the same period.
*/}}
{{- define "fitpulse.minTerminationGracePeriodSeconds" -}}
{{- $shutdown := .Values.config.shutdown | default dict -}}
{{- $drainMs := int64 (get $shutdown "drain_delay_ms" | default 0) -}}
{{- $grace := int64 (get $shutdown "grace_seconds" | default 30) -}}
{{- $drain := div (add $drainMs 999) 1000 -}}
{{- add (int64 .Values.preStopSleepSeconds) $drain (mul 2 $grace) -}}
{{- end -}}

{{- define "fitpulse.terminationGracePeriodSeconds" -}}
{{- $min := int64 (include "fitpulse.minTerminationGracePeriodSeconds" .) -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $min 5 -}}
{{- else if lt (int64 .Values.terminationGracePeriodSeconds) $min -}}
{{- fail (printf "terminationGracePeriodSeconds=%d is shorter than preStop + drain delay + 2 x grace = %d s: the kubelet would kill pods before their sessions are persisted" (int64 .Values.terminationGracePeriodSeconds) $min) -}}
{{- else -}}
{{- int64 .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* Combinations that render fine but would not work; checked once, from the Deployment. */}}
{{- define "fitpulse.validate" -}}
{{- if include "fitpulse.multiPod" . -}}
{{- if eq .Values.store.kind "embedded" -}}
{{- fail "more than one pod (replicaCount > 1, autoscaling or keda) needs store.kind=scylla: the embedded store is a file inside one pod" -}}
{{- end -}}
{{- if ne (include "fitpulse.busKind" .) "nats" -}}
{{- fail "more than one pod needs bus.kind=nats (or nats.enabled): with the local bus, events never reach users connected to another pod" -}}
{{- end -}}
{{- if not (include "fitpulse.signingKeysSecret" .) -}}
{{- fail "more than one pod needs shared signing keys: set signingKeys.existingSecret or signingKeys.generate=true" -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.store.kind "scylla") (not .Values.store.scylla.nodes) -}}
{{- fail "store.kind=scylla needs store.scylla.nodes (host:port contact points)" -}}
{{- end -}}
{{- if and (eq (include "fitpulse.busKind" .) "nats") (not (include "fitpulse.natsUrl" .)) -}}
{{- fail "bus.kind=nats needs bus.nats.url (or nats.enabled for the bundled server)" -}}
{{- end -}}
{{- if and .Values.persistence.enabled (ne .Values.store.kind "embedded") -}}
{{- fail "persistence is for the embedded store; with scylla the pods keep nothing on disk" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas is above autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) -}}
{{- fail "httpRoute.enabled needs httpRoute.parentRefs (the Gateway to attach to)" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) -}}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" -}}
{{- end -}}
{{- $keys := .Values.secrets.keys -}}
{{- $anyKey := or $keys.paymentsSecret $keys.googleplayPushToken $keys.smtpPassword -}}
{{- if and $anyKey (not .Values.secrets.existingSecret) -}}
{{- fail "secrets.keys name keys of secrets.existingSecret: set its name" -}}
{{- end -}}
{{- if and .Values.secrets.existingSecret (not $anyKey) -}}
{{- fail "secrets.existingSecret is set but secrets.keys names none of its keys" -}}
{{- end -}}
{{- $email := .Values.config.email | default dict -}}
{{- $smtp := get $email "smtp" | default dict -}}
{{- if ne (empty (get $smtp "username")) (empty $keys.smtpPassword) -}}
{{- fail "config.email.smtp.username and secrets.keys.smtpPassword go together or not at all (the server refuses one without the other)" -}}
{{- end -}}
{{- $outbox := .Values.config.outbox | default dict -}}
{{- if and (hasKey $outbox "backoff_base_ms") (hasKey $outbox "backoff_max_ms") -}}
{{- if lt (int64 $outbox.backoff_max_ms) (int64 $outbox.backoff_base_ms) -}}
{{- fail "config.outbox.backoff_max_ms must be at least config.outbox.backoff_base_ms" -}}
{{- end -}}
{{- end -}}
{{- if and (or .Values.push.apnsKey .Values.push.fcmServiceAccount) (not .Values.push.existingSecret) -}}
{{- fail "push: apnsKey and fcmServiceAccount name keys of push.existingSecret, which is not set" -}}
{{- end -}}
{{- if and .Values.appstoreRootCert.existingSecret .Values.appstoreRootCert.existingConfigMap -}}
{{- fail "appstoreRootCert: set existingSecret or existingConfigMap, not both" -}}
{{- end -}}
{{- $_ := include "fitpulse.terminationGracePeriodSeconds" . -}}
{{- end -}}
