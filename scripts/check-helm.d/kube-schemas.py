#!/usr/bin/env python3
"""kube-schemas: builds the offline JSON schemas kubeconform validates the Helm chart with.

kubeconform normally fetches schemas from GitHub; here they come from package registries only:

- Kubernetes kinds: the PyPI wheel `kubernetes-validate` ships one schema folder per
  Kubernetes version (`v1.30.0-local-strict/deployment-apps-v1.json`, ...). Its files point
  at `_definitions.json` through an absolute `$id` on kubernetes.io, which kubeconform would
  try to download; the `$id`s are dropped and the references made relative, so they resolve
  to the sibling file on disk.
- Custom resources (HTTPRoute, ServiceMonitor, PrometheusRule, ScaledObject): the CRD YAML
  files inside the Go modules of Gateway API, prometheus-operator and KEDA, fetched with
  `go mod download` and converted by kubeconform's own `scripts/openapi2jsonschema.py`
  (from the kubeconform module) into `crds/{kind}-{group}-{version}.json`.

Usage: kube-schemas.py OUT_DIR. Versions come from the environment (pinned in
scripts/ensure-test-tools): KUBERNETES_VALIDATE_VERSION, KUBECONFORM_VERSION,
GATEWAY_API_VERSION, PROMETHEUS_OPERATOR_VERSION, KEDA_VERSION. A stamp file records them, so
a second run with the same pins does nothing. Downloads are cached by pip and the Go module
cache; the wheel itself is kept next to OUT_DIR in `downloads/`.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

STAMP = ".sources.json"
WHEEL_PREFIX = "kubernetes_validate/kubernetes-json-schema/"


def log(message):
    print(f"kube-schemas: {message}", file=sys.stderr)


def pins():
    names = [
        "KUBERNETES_VALIDATE_VERSION",
        "KUBECONFORM_VERSION",
        "GATEWAY_API_VERSION",
        "PROMETHEUS_OPERATOR_VERSION",
        "KEDA_VERSION",
    ]
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        sys.exit(f"kube-schemas: set {', '.join(missing)} (see scripts/ensure-test-tools)")
    return {n: os.environ[n] for n in names}


def fetch_wheel(version, downloads):
    name = f"kubernetes_validate-{version}-py3-none-any.whl"
    wheel = downloads / name
    if not wheel.exists():
        log(f"downloading kubernetes-validate {version} from PyPI")
        downloads.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--dest", str(downloads), f"kubernetes-validate=={version}"],
            check=True,
        )
    if not wheel.exists():
        sys.exit(f"kube-schemas: pip did not produce {wheel}")
    return wheel


def relative_refs(node):
    """Drops `$id` and turns `/api/_definitions.json#...` into `_definitions.json#...`."""
    if isinstance(node, dict):
        node.pop("$id", None)
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("/api/_definitions.json"):
                node[key] = value[len("/api/"):]
            else:
                relative_refs(value)
    elif isinstance(node, list):
        for item in node:
            relative_refs(item)


def extract_core(wheel, out):
    """Every `vX.Y.Z-local-strict` folder of the wheel, made loadable from disk."""
    count = 0
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if not name.startswith(WHEEL_PREFIX) or not name.endswith(".json"):
                continue
            folder, _, file = name[len(WHEEL_PREFIX):].partition("/")
            # Only the strict variants: kubeconform -strict asks for `...-local-strict/`.
            if not folder.endswith("-local-strict") or "/" in file:
                continue
            schema = json.loads(z.read(name))
            relative_refs(schema)
            target = out / folder / file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(schema, separators=(",", ":")))
            count += 1
    return count


def go_module_dir(module, version):
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        check=True, capture_output=True, text=True,
        # Outside any module: the download needs no go.mod of ours.
        cwd=tempfile.gettempdir(),
    )
    info = json.loads(result.stdout)
    if info.get("Error"):
        sys.exit(f"kube-schemas: go mod download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def convert_crds(p, out):
    kubeconform = go_module_dir("github.com/yannh/kubeconform", p["KUBECONFORM_VERSION"])
    script = kubeconform / "scripts" / "openapi2jsonschema.py"
    sources = [
        (go_module_dir("sigs.k8s.io/gateway-api", p["GATEWAY_API_VERSION"]),
         ["config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"]),
        (go_module_dir("github.com/prometheus-operator/prometheus-operator", p["PROMETHEUS_OPERATOR_VERSION"]),
         ["example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
          "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"]),
        (go_module_dir("github.com/kedacore/keda/v2", p["KEDA_VERSION"]),
         ["config/crd/bases/keda.sh_scaledobjects.yaml"]),
    ]
    files = []
    for root, names in sources:
        for name in names:
            path = root / name
            if not path.exists():
                sys.exit(f"kube-schemas: {path} is missing from its module")
            files.append(str(path))
    crds = out / "crds"
    crds.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        # kubeconform's KindSuffix is `-<first part of the group>-<version>`.
        "FILENAME_FORMAT": "{kind}-{group}-{version}",
        # Reject unknown fields at the root too, as the core schemas do under -strict.
        "DENY_ROOT_ADDITIONAL_PROPERTIES": "1",
    }
    subprocess.run([sys.executable, str(script), *files], check=True, cwd=crds, env=env,
                   stdout=subprocess.DEVNULL)
    return sorted(f.name for f in crds.iterdir())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: kube-schemas.py OUT_DIR")
    out = Path(sys.argv[1])
    p = pins()
    stamp = out / STAMP
    if stamp.exists() and json.loads(stamp.read_text()) == p:
        return
    log(f"building schemas in {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target and renamed into place, so an interrupted run leaves no half set.
    work = Path(tempfile.mkdtemp(prefix=".kube-schemas-", dir=out.parent))
    try:
        core = extract_core(fetch_wheel(p["KUBERNETES_VALIDATE_VERSION"], out.parent / "downloads"), work)
        crds = convert_crds(p, work)
        (work / STAMP).write_text(json.dumps(p, indent=2, sort_keys=True))
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    finally:
        if work.exists():
            shutil.rmtree(work)
    log(f"{core} Kubernetes schemas, CRD schemas: {', '.join(crds)}")


if __name__ == "__main__":
    main()
