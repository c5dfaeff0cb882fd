#!/usr/bin/env python3
"""check-render: checks on the chart and its rendered manifests that kubeconform cannot make.

Usage: check-render.py REPO_ROOT RENDER_DIR. RENDER_DIR holds one `<case>.yaml` per
`helm template` run; each ConfigMap's config.toml is also written beside it as
`<case>.<configmap>.toml`, so a server-side test can load the exact files the chart ships.

- Every key of every rendered config.toml is a field of the server's settings structs
  (src/config/settings.rs, which denies unknown fields), with a value of the field's type;
  enum values are among the variants.
- The Deployment's terminationGracePeriodSeconds covers the preStop pause, the drain delay
  and twice the grace period of the config it mounts (the server may spend the grace
  period persisting sessions and again finishing requests).
- A PrometheusRule carries exactly the groups of dashboards/alerts/fitpulse.rules.yml.
- KEDA and the chart's own HPA are never rendered together (KEDA owns an HPA of its own).
- values.schema.json closes every object (additionalProperties false, or a typed map) except
  the Kubernetes types it marks `x-passthrough`, its `config` keys are settings fields, and
  its `nats` section equals the subchart's schema.
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


def settings_model(source):
    """{struct: {field: type}} and {enum: [variants in config spelling]} of settings.rs."""
    structs = {}
    for name, body in re.findall(r"pub struct (\w+) \{(.*?)\n\}", source, re.S):
        structs[name] = dict(re.findall(r"^\s*pub (\w+): ([^\n]+?),\s*$", body, re.M))
    enums = {}
    for name, body in re.findall(r'#\[serde\(rename_all = "lowercase"\)\]\s*pub enum (\w+) \{(.*?)\}', source, re.S):
        enums[name] = [v.lower() for v in re.findall(r"^\s*(\w+),?\s*$", body, re.M)]
    if "Settings" not in structs:
        sys.exit("check-render: no `pub struct Settings` in src/config/settings.rs")
    return structs, enums


def check_value(path, value, rust_type, structs, enums):
    rust_type = rust_type.strip()
    option = re.fullmatch(r"Option<(.+)>", rust_type)
    if option:
        return check_value(path, value, option.group(1), structs, enums)
    vec = re.fullmatch(r"Vec<(.+)>", rust_type)
    if vec:
        if not isinstance(value, list):
            return fail(f"{path}: a list expected ({rust_type}), got {value!r}")
        for i, item in enumerate(value):
            check_value(f"{path}[{i}]", item, vec.group(1), structs, enums)
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
    if rust_type in STRING_TYPES:
        if not isinstance(value, str):
            fail(f"{path}: a string expected ({rust_type}), got {value!r}")
        return
    fail(f"{path}: field type {rust_type} is unknown to this check; teach check-render.py")


# --- the rendered manifests -----------------------------------------------------------------

def load_docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def check_config_maps(case, docs, structs, enums, out):
    configs = {}
    for doc in docs:
        if doc.get("kind") != "ConfigMap" or "config.toml" not in (doc.get("data") or {}):
            continue
        name = doc["metadata"]["name"]
        text = doc["data"]["config.toml"]
        (out / f"{case}.{name}.toml").write_text(text)
        try:
            config = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            fail(f"{case}: ConfigMap {name}: config.toml is not TOML: {err}")
            continue
        check_value(f"{case}:{name}", config, "Settings", structs, enums)
        configs[name] = config
    if not configs:
        fail(f"{case}: no ConfigMap with a config.toml")
    return configs


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


def check_schema_config(schema, structs):
    """The schema's `config` sections and keys are fields of the settings structs."""
    settings = structs["Settings"]
    for section, spec in schema["properties"]["config"]["properties"].items():
        struct = settings.get(section)
        if struct not in structs:
            fail(f"values.schema.json: config.{section} is not a section of Settings")
            continue
        for key in spec.get("properties", {}):
            if key not in structs[struct]:
                fail(f"values.schema.json: config.{section}.{key} is not a field of {struct}")


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
    structs, enums = settings_model((root / "src" / "config" / "settings.rs").read_text())
    rules_groups = yaml.safe_load((root / "dashboards" / "alerts" / "fitpulse.rules.yml").read_text())["groups"]
    check_chart(root, structs)
    cases = sorted(out.glob("*.yaml"))
    if not cases:
        sys.exit(f"check-render: nothing rendered in {out}")
    for path in cases:
        case = path.stem
        docs = load_docs(path)
        configs = check_config_maps(case, docs, structs, enums, out)
        check_grace(case, docs, configs)
        check_rules(case, docs, rules_groups)
        check_autoscalers(case, docs)
    for message in failures:
        print(f"check-render: {message}", file=sys.stderr)
    if failures:
        sys.exit(1)
    print(f"check-render: {len(cases)} renders: config keys match src/config/settings.rs, "
          f"grace periods cover the drain, rules match, schema closed")


if __name__ == "__main__":
    main()
