#!/usr/bin/env python3
"""check-render: checks on the chart and its rendered manifests that kubeconform cannot make.

Usage: check-render.py REPO_ROOT RENDER_DIR. RENDER_DIR holds one `<case>.yaml` per
`helm template` run; each ConfigMap's config.toml is also written beside it as
`<case>.<configmap>.toml`, so a server-side test can load the files the chart ships. The
pods read secret settings from Secrets as FITPULSE__* variables instead; the written file
has a placeholder for each of those (marked by a comment), so it holds what the server
loads in the pod, which must validate (a username without its password does not).

- Every key of every rendered config.toml is a field of the server's settings structs
  (src/config/settings.rs, which denies unknown fields), with a value of the field's type;
  enum values are among the variants. No setting of type Secret is in a ConfigMap.
- Every FITPULSE__* variable of a container that reads a rendered config names a settings
  field (`__` between sections, as the server splits them); one of type Secret comes from a
  secretKeyRef, never a plain value. Across the renders, every Secret setting outside a list
  is set that way somewhere, so the chart has a way to pass each.
- A rendered commerce.appstore_root_cert_file is a file the server's pod mounts.
- The Deployment's terminationGracePeriodSeconds covers the preStop pause, the drain delay
  and twice the grace period of the config it mounts (the server may spend the grace
  period persisting sessions and again finishing requests).
- A PrometheusRule carries exactly the groups of dashboards/alerts/fitpulse.rules.yml.
- KEDA and the chart's own HPA are never rendered together (KEDA owns an HPA of its own).
- values.schema.json closes every object (additionalProperties false, or a typed map) except
  the Kubernetes types it marks `x-passthrough`; its `config` keys are settings fields, none
  of type Secret or set by the chart, and every other settings field is among them (a
  setting the server grows must be exposed, or listed in CHART_OWNED); its `nats` section
  equals the subchart's schema.
- Chart.yaml's appVersion is the workspace version of Cargo.toml.
"""

import json
import re
import sys
import tomllib
from pathlib import Path

import yaml

failures = []


def fail(message):
    failures.append(message)


# --- the server's settings, read from its source -------------------------------------------

INTEGER_TYPES = {"u8", "u16", "u32", "u64", "usize", "i32", "i64"}
STRING_TYPES = {"String", "SocketAddr", "PathBuf", "Secret"}
ENV_PREFIX = "FITPULSE__"

# Settings the chart sets from its own values (or, for auth.clients, whose entries hold
# secrets, does not offer); values.schema.json must not accept them under `config`.
CHART_OWNED = {
    "http.bind", "http.metrics_bind", "data_dir", "store", "bus", "auth.signing_key_files",
    "auth.clients",
    "commerce.appstore_root_cert_file",
    # Mounted from the push section's Secret; extra roots (push.ca_file) are for tests and
    # proxies in front of the providers, which a cluster reaches directly.
    "push.apns.key_file", "push.fcm.service_account_file", "push.ca_file",
}


def settings_model(source):
    """{struct: {field: type}} and {enum: [variants in config spelling]} of settings.rs."""
    structs = {}
    for name, body in re.findall(r"pub struct (\w+) \{(.*?)\n\}", source, re.S):
        structs[name] = dict(re.findall(r"^\s*pub (\w+): ([^\n]+?),\s*$", body, re.M))
    enums = {}
    for name, body in re.findall(r'#\[serde\(rename_all = "lowercase"\)\]\s*pub enum (\w+) \{(.*?)\}', source, re.S):
        enums[name] = [v.lower() for v in re.findall(r"^\s*(\w+),?\s*$", body, re.M)]
    for name, body in re.findall(r'#\[serde\(rename_all = "snake_case"\)\]\s*pub enum (\w+) \{(.*?)\}', source, re.S):
        enums[name] = [re.sub(r"(?<!^)(?=[A-Z])", "_", v).lower() for v in re.findall(r"^\s*(\w+),?\s*$", body, re.M)]
    # Enums without a rename are spelled as their variants (`Production`, `Sandbox`).
    for name, body in re.findall(r'#\[derive\([^)]*Deserialize[^)]*\)\]\s*pub enum (\w+) \{(.*?)\}', source, re.S):
        enums.setdefault(name, re.findall(r"^\s*(\w+),?\s*$", body, re.M))
    if "Settings" not in structs:
        sys.exit("check-render: no `pub struct Settings` in src/config/settings.rs")
    return structs, enums


def strip_option(rust_type):
    rust_type = rust_type.strip()
    option = re.fullmatch(r"Option<(.+)>", rust_type)
    return option.group(1).strip() if option else rust_type


def field_type(structs, parts):
    """The type of the settings field at `parts` (Option stripped), or None."""
    rust_type = "Settings"
    for part in parts:
        fields = structs.get(rust_type)
        if fields is None or part not in fields:
            return None
        rust_type = strip_option(fields[part])
    return rust_type


def settings_fields(structs, rust_type="Settings", prefix=()):
    """(path, type) of every leaf field, not descending into lists."""
    for name, field in structs[rust_type].items():
        field = strip_option(field)
        if field in structs:
            yield from settings_fields(structs, field, prefix + (name,))
        else:
            yield prefix + (name,), field


def check_value(path, value, rust_type, structs, enums):
    rust_type = strip_option(rust_type)
    vec = re.fullmatch(r"Vec<(.+)>", rust_type)
    if vec:
        if not isinstance(value, list):
            return fail(f"{path}: a list expected ({rust_type}), got {value!r}")
        for i, item in enumerate(value):
            check_value(f"{path}[{i}]", item, vec.group(1), structs, enums)
        return
    string_map = re.fullmatch(r"(?:BTreeMap|HashMap)<String, (.+)>", rust_type)
    if string_map:
        if not isinstance(value, dict):
            return fail(f"{path}: a table expected ({rust_type}), got {value!r}")
        for key, item in value.items():
            check_value(f"{path}.{key}", item, string_map.group(1), structs, enums)
        return
    if rust_type in ("f32", "f64"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            fail(f"{path}: a number expected ({rust_type}), got {value!r}")
        return
    if rust_type in structs:
        if not isinstance(value, dict):
            return fail(f"{path}: a table expected ({rust_type}), got {value!r}")
        for key, item in value.items():
            if key not in structs[rust_type]:
                fail(f"{path}.{key}: not a field of {rust_type} (src/config/settings.rs)")
            else:
                check_value(f"{path}.{key}", item, structs[rust_type][key], structs, enums)
        return
    if rust_type in enums:
        if value not in enums[rust_type]:
            fail(f"{path}: {value!r} is not one of {enums[rust_type]}")
        return
    if rust_type in INTEGER_TYPES:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            fail(f"{path}: a non-negative integer expected ({rust_type}), got {value!r}")
        return
    if rust_type == "bool":
        if not isinstance(value, bool):
            fail(f"{path}: true or false expected, got {value!r}")
        return
    if rust_type == "Secret":  # only ConfigMaps are checked here
        return fail(f"{path}: a secret in a ConfigMap; it belongs in a Secret (chart value `secrets`)")
    if rust_type in STRING_TYPES:
        if not isinstance(value, str):
            fail(f"{path}: a string expected ({rust_type}), got {value!r}")
        return
    fail(f"{path}: field type {rust_type} is unknown to this check; teach check-render.py")


# --- the rendered manifests -----------------------------------------------------------------

def load_docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def config_readers(docs):
    """(kind, name, pod spec, container, config map name) of every container that mounts a
    rendered config file (the server and the migrate job)."""
    for doc in docs:
        if doc.get("kind") not in ("Deployment", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            for mount in container.get("volumeMounts", []):
                config_map = volumes.get(mount["name"], {}).get("configMap", {}).get("name")
                if config_map and mount["mountPath"] == "/etc/fitpulse/config":
                    yield doc["kind"], doc["metadata"]["name"], pod, container, config_map


def check_env(case, docs, structs, secret_paths_set):
    """FITPULSE__* variables name settings fields; secret ones come from secretKeyRef.
    Returns {config map: [settings paths its readers get from Secrets]}."""
    from_secrets = {}
    for kind, name, _, container, config_map in config_readers(docs):
        for env in container.get("env", []):
            if not env["name"].startswith(ENV_PREFIX):
                continue
            parts = env["name"][len(ENV_PREFIX):].lower().split("__")
            where = f"{case}: {kind} {name}: {env['name']}"
            rust_type = field_type(structs, parts)
            if rust_type is None:
                fail(f"{where}: no settings field {'.'.join(parts)} (src/config/settings.rs)")
                continue
            secret_ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if rust_type == "Secret":
                if not secret_ref:
                    fail(f"{where}: a secret setting must come from a secretKeyRef, not a value")
                    continue
                secret_paths_set.add(tuple(parts))
            if secret_ref:
                from_secrets.setdefault(config_map, set()).add(tuple(parts))
    return from_secrets


def with_placeholders(text, paths):
    """The config text with a placeholder string for each settings path read from a Secret,
    inserted under its table's header (the chart writes every table with one)."""
    lines = text.splitlines()
    appended = []
    for parts in sorted(paths):
        table, key = ".".join(parts[:-1]), parts[-1]
        line = f'{key} = "placeholder: {ENV_PREFIX}{"__".join(p.upper() for p in parts)} from a Secret"'
        header = f"[{table}]"
        if not table:
            lines.insert(0, line)
        elif header in lines:
            lines.insert(lines.index(header) + 1, line)
        else:
            appended += ["", header, line]
    note = "# check-render: placeholders below stand for settings the pods read from Secrets."
    return "\n".join([note] + lines + appended) + "\n"


def check_config_maps(case, docs, structs, enums, out, from_secrets):
    configs = {}
    for doc in docs:
        if doc.get("kind") != "ConfigMap" or "config.toml" not in (doc.get("data") or {}):
            continue
        name = doc["metadata"]["name"]
        text = doc["data"]["config.toml"]
        try:
            config = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            fail(f"{case}: ConfigMap {name}: config.toml is not TOML: {err}")
            continue
        check_value(f"{case}:{name}", config, "Settings", structs, enums)
        configs[name] = config
        secret_paths = from_secrets.get(name, set())
        if secret_paths:
            text = with_placeholders(text, secret_paths)
            try:
                tomllib.loads(text)
            except tomllib.TOMLDecodeError as err:
                fail(f"{case}: ConfigMap {name} with secret placeholders is not TOML: {err}")
        (out / f"{case}.{name}.toml").write_text(text)
    if not configs:
        fail(f"{case}: no ConfigMap with a config.toml")
    return configs


def check_mounted_files(case, docs, configs):
    """A rendered commerce.appstore_root_cert_file is a file of a volume the server mounts."""
    for kind, name, pod, container, config_map in config_readers(docs):
        if kind != "Deployment":
            continue  # the migrate job does not read the certificate
        path = configs.get(config_map, {}).get("commerce", {}).get("appstore_root_cert_file")
        if path is None:
            continue
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        found = False
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"], {})
            source = volume.get("secret") or volume.get("configMap") or {}
            for item in source.get("items", []):
                if f"{mount['mountPath'].rstrip('/')}/{item['path']}" == path:
                    found = True
        if not found:
            fail(f"{case}: {kind} {name}: commerce.appstore_root_cert_file {path} is no mounted Secret or ConfigMap item")


def check_grace(case, docs, configs):
    for doc in docs:
        if doc.get("kind") != "Deployment" or doc["metadata"]["name"].endswith("-nats"):
            continue
        pod = doc["spec"]["template"]["spec"]
        config_map = next(v["configMap"]["name"] for v in pod["volumes"] if v["name"] == "config")
        shutdown = configs.get(config_map, {}).get("shutdown", {})
        drain = -(-shutdown.get("drain_delay_ms", 0) // 1000)
        grace = shutdown.get("grace_seconds", 30)
        container = next(c for c in pod["containers"] if c["name"] == "fitpulse")
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        needed = pre_stop + drain + 2 * grace
        got = pod.get("terminationGracePeriodSeconds", 30)
        if got < needed:
            fail(f"{case}: terminationGracePeriodSeconds {got} < preStop {pre_stop} + drain {drain} + 2 x grace {grace}")


def check_rules(case, docs, rules_groups):
    for doc in docs:
        if doc.get("kind") == "PrometheusRule" and doc["spec"].get("groups") != rules_groups:
            fail(f"{case}: PrometheusRule groups differ from dashboards/alerts/fitpulse.rules.yml")


def check_autoscalers(case, docs):
    kinds = {d.get("kind") for d in docs}
    if {"ScaledObject", "HorizontalPodAutoscaler"} <= kinds:
        fail(f"{case}: both a ScaledObject and an HPA; KEDA creates the HPA itself")


# --- the chart's own files ------------------------------------------------------------------

def check_metrics_private(case, docs):
    """/metrics is served on its own listener, scraped there, and never routed publicly."""
    services = [d for d in docs if d["kind"] == "Service" and "nats" not in d["metadata"]["name"]]
    ports = {p["name"]: p["port"] for svc in services for p in svc["spec"]["ports"]}
    if "metrics" not in ports or "http" not in ports:
        return fail(f"{case}: the Service needs an `http` and a `metrics` port, has {sorted(ports)}")
    for doc in docs:
        if doc["kind"] == "Deployment" and "nats" not in doc["metadata"]["name"]:
            container = doc["spec"]["template"]["spec"]["containers"][0]
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            bind = env.get("FITPULSE__HTTP__METRICS_BIND", "")
            named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            if not bind.endswith(f":{named.get('metrics')}"):
                fail(f"{case}: FITPULSE__HTTP__METRICS_BIND {bind!r} is not the `metrics` container port")
        if doc["kind"] == "HTTPRoute":
            for rule in doc["spec"]["rules"]:
                for ref in rule.get("backendRefs", []):
                    if ref.get("port") != ports["http"]:
                        fail(f"{case}: the HTTPRoute sends traffic to port {ref.get('port')}, not `http`")
        if doc["kind"] == "Ingress":
            for rule in doc["spec"].get("rules", []):
                for path in rule.get("http", {}).get("paths", []):
                    port = path["backend"]["service"]["port"]
                    if port.get("number", ports["http"]) != ports["http"] and port.get("name", "http") != "http":
                        fail(f"{case}: the Ingress sends traffic to {port}, not `http`")
                    if port.get("name") == "metrics" or port.get("number") == ports["metrics"]:
                        fail(f"{case}: the Ingress routes the metrics port")
        if doc["kind"] == "ServiceMonitor":
            for endpoint in doc["spec"]["endpoints"]:
                if endpoint.get("port") != "metrics":
                    fail(f"{case}: the ServiceMonitor scrapes {endpoint.get('port')!r}, not `metrics`")


def check_schema_closed(node, where):
    if isinstance(node, dict):
        is_object = node.get("type") == "object" or "properties" in node
        if is_object and "x-passthrough" not in node:
            extra = node.get("additionalProperties")
            if extra is None or extra is True:
                fail(f"values.schema.json{where}: an object without additionalProperties false or a typed map")
            elif extra is not False and "properties" in node:
                fail(f"values.schema.json{where}: fixed properties and open extra keys at once")
        for key, value in node.items():
            check_schema_closed(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            check_schema_closed(item, f"{where}/{i}")


def schema_paths(spec, prefix=()):
    """Every key path of the schema's `config`, tables included."""
    for key, sub in spec.get("properties", {}).items():
        yield prefix + (key,)
        yield from schema_paths(sub, prefix + (key,))


def check_schema_config(schema, structs):
    """The schema's `config` keys are settings fields, none a secret or set by the chart, and
    every other settings field is among them."""
    offered = set(schema_paths(schema["properties"]["config"]))
    for parts in sorted(offered):
        dotted = ".".join(parts)
        rust_type = field_type(structs, parts)
        if rust_type is None:
            fail(f"values.schema.json: config.{dotted} is not a settings field")
        elif rust_type == "Secret":
            fail(f"values.schema.json: config.{dotted} holds a secret; it belongs in `secrets`")
        elif any(".".join(parts[:i]) in CHART_OWNED for i in range(1, len(parts) + 1)):
            fail(f"values.schema.json: config.{dotted} is set by the chart")
    for parts, rust_type in settings_fields(structs):
        dotted = ".".join(parts)
        owned = any(".".join(parts[:i]) in CHART_OWNED for i in range(1, len(parts) + 1))
        if rust_type == "Secret" or owned or parts in offered:
            continue
        fail(f"values.schema.json: the setting {dotted} is not offered under `config` "
             f"(add it with its type and range, or to CHART_OWNED in check-render.py)")


def check_chart(root, structs):
    chart_dir = root / "helm" / "fitpulse"
    schema = json.loads((chart_dir / "values.schema.json").read_text())
    check_schema_closed(schema, "")
    check_schema_config(schema, structs)
    nats = json.loads((chart_dir / "charts" / "nats" / "values.schema.json").read_text())
    check_schema_closed(nats, " (nats)")
    if schema["properties"]["nats"]["properties"] != nats["properties"]:
        fail("values.schema.json: `nats` differs from charts/nats/values.schema.json")
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    cargo = tomllib.loads((root / "Cargo.toml").read_text())
    version = cargo["workspace"]["package"]["version"]
    if str(chart.get("appVersion")) != version:
        fail(f"Chart.yaml appVersion {chart.get('appVersion')!r} is not Cargo.toml's version {version!r}")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check-render.py REPO_ROOT RENDER_DIR")
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    # settings.rs and the section files beside it (push.rs, ...).
    config_dir = root / "src" / "config"
    sources = [(config_dir / "settings.rs").read_text()] + [
        f.read_text() for f in sorted(config_dir.glob("*.rs")) if f.name not in ("settings.rs", "mod.rs")
    ]
    structs, enums = settings_model("\n".join(sources))
    rules_groups = yaml.safe_load((root / "dashboards" / "alerts" / "fitpulse.rules.yml").read_text())["groups"]
    check_chart(root, structs)
    cases = sorted(out.glob("*.yaml"))
    if not cases:
        sys.exit(f"check-render: nothing rendered in {out}")
    from_secret_refs = set()
    for path in cases:
        case = path.stem
        docs = load_docs(path)
        from_secrets = check_env(case, docs, structs, from_secret_refs)
        configs = check_config_maps(case, docs, structs, enums, out, from_secrets)
        check_mounted_files(case, docs, configs)
        check_grace(case, docs, configs)
        check_rules(case, docs, rules_groups)
        check_autoscalers(case, docs)
        check_metrics_private(case, docs)
    for parts, rust_type in settings_fields(structs):
        if rust_type == "Secret" and parts not in from_secret_refs:
            fail(f"no render sets the secret {'.'.join(parts)} from a Secret: the chart has no way "
                 f"to pass it (or no ci/ values use it)")
    for message in failures:
        print(f"check-render: {message}", file=sys.stderr)
    if failures:
        sys.exit(1)
    print(f"check-render: {len(cases)} renders: config keys match src/config/settings.rs, "
          f"secrets only from Secrets ({len(from_secret_refs)} settings), mounted files, "
          f"grace periods cover the drain, rules match, metrics never routed publicly, "
          f"schema closed and complete")


if __name__ == "__main__":
    main()
