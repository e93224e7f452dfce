"""deploy/: every Kustomize overlay renders (deploy/render.py, no kubectl), every manifest passes
`kubernetes-validate --strict` against a current Kubernetes, a broken manifest fails it, and what the
manifests promise holds (dagster.yaml is a valid Dagster instance with K8sRunLauncher, every referenced
ConfigMap and Secret key exists, every container has requests, limits and probes, no real secret)."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy.render import K8S_DIR, OVERLAYS_DIR, Manifest, RenderError, overlay_names, render
from fidc_assets.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SECRET_EXAMPLE = K8S_DIR / "secrets" / "fidc-secrets.example.yaml"
HELM_VALUES = REPO / "deploy" / "helm" / "values-dagster-official.yaml"
#: The newest Kubernetes the pinned kubernetes-validate ships schemas for (1.25 … 1.37); also the oldest
#: minor a managed cluster commonly still runs.
K8S_VERSIONS = ("1.37.0", "1.33.0")
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    return {name: render(OVERLAYS_DIR / name) for name in overlay_names()}


def _by_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _pod_spec(m: Manifest) -> dict[str, Any]:
    if m["kind"] == "CronJob":
        return m["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return m["spec"]["template"]["spec"]


def _workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in LONG_RUNNING | {"CronJob", "Job"}]


def test_the_overlays_are_prod_prod_celery_and_staging_and_each_holds_every_component(rendered):
    assert sorted(rendered) == ["prod", "prod-celery", "staging"]
    for name, manifests in rendered.items():
        deployments = {"fidc-user-code", "fidc-webserver", "fidc-daemon", "fidc-metrics"}
        if name == "prod-celery":
            deployments.add("fidc-worker")
        assert set(_by_kind(manifests, "Deployment")) == deployments, name
        assert set(_by_kind(manifests, "CronJob")) == {"fidc-maintenance"}
        assert {"fidc-dagster-instance", "fidc-env", "fidc-funds", "fidc-dagster-workspace"} <= set(
            _by_kind(manifests, "ConfigMap")
        )
        namespace = "fidc-" + name.removesuffix("-celery")
        assert {m["metadata"].get("namespace") for m in manifests if m["kind"] != "Namespace"} == {namespace}


def test_the_celery_overlay_is_prod_plus_the_workers_and_the_executor(rendered):
    """prod-celery = prod + the component: the worker Deployment, the Service naming the external Redis and
    FIDC_EXECUTOR in fidc-env; every other object is prod's, unchanged."""
    prod = {(m["kind"], m["metadata"]["name"]): m for m in rendered["prod"]}
    celery = {(m["kind"], m["metadata"]["name"]): m for m in rendered["prod-celery"]}
    assert set(celery) - set(prod) == {("Deployment", "fidc-worker"), ("Service", "fidc-redis")}
    assert set(prod) <= set(celery)
    changed = {k for k in prod if prod[k] != celery[k]}
    assert changed == {("ConfigMap", "fidc-env"), ("Deployment", "fidc-user-code")}
    env = celery[("ConfigMap", "fidc-env")]["data"]
    assert {k: v for k, v in env.items() if k not in prod[("ConfigMap", "fidc-env")]["data"]} == {
        "FIDC_EXECUTOR": "celery",
        "FIDC_CELERY_VISIBILITY_TIMEOUT": "3600",
    }
    assert celery[("Service", "fidc-redis")]["spec"]["type"] == "ExternalName"


def _run_pod_resources(manifests: list[Manifest]) -> dict[str, Any]:
    """The resources of a run pod the K8sRunLauncher of these manifests starts: the launcher's run_k8s_config
    (the instance ConfigMap) with the code server's container context (DAGSTER_CONTAINER_CONTEXT, if set)
    merged onto it, by dagster_k8s's own merge (what `K8sContainerContext.create_for_run` does)."""
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import UserDefinedDagsterK8sConfig

    instance = yaml.safe_load(_by_kind(manifests, "ConfigMap")["fidc-dagster-instance"]["data"]["dagster.yaml"])
    launcher = instance["run_launcher"]["config"]
    context = K8sContainerContext(run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(launcher["run_k8s_config"]))
    (code_server,) = _pod_spec(_by_kind(manifests, "Deployment")["fidc-user-code"])["containers"]
    env = {e["name"]: e.get("value") for e in code_server.get("env", [])}
    if "DAGSTER_CONTAINER_CONTEXT" in env:
        served = K8sContainerContext.create_from_config(json.loads(env["DAGSTER_CONTAINER_CONTEXT"]))
        context = context.merge(served)
    return context.run_k8s_config.container_config["resources"]


def test_run_pods_under_celery_request_a_coordinators_share_and_otherwise_a_landings(rendered):
    """Under Celery a run pod only submits steps and waits (the workers land and build): it requests a
    quarter CPU, not the 1 CPU / 2 GiB a run that lands whole files itself needs."""
    from dagster._cli.code_server import start_command

    prod, celery = _run_pod_resources(rendered["prod"]), _run_pod_resources(rendered["prod-celery"])
    assert prod["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert celery["requests"] == {"cpu": "250m", "memory": "768Mi"}
    assert celery["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert _by_kind(rendered["prod-celery"], "Deployment")["fidc-worker"]  # the work went to the workers
    # `dagster code-server start` (the user-code container's command) reads the variable
    option = next(p for p in start_command.params if p.name == "container_context")
    assert option.envvar == "DAGSTER_CONTAINER_CONTEXT"


def test_the_worker_runs_fidc_lake_worker_and_its_probes_ping_that_worker(rendered):
    worker = _by_kind(rendered["prod-celery"], "Deployment")["fidc-worker"]
    (container,) = _pod_spec(worker)["containers"]
    command = container["command"]
    assert command[:2] == ["fidc-lake", "worker"]
    name = command[command.index("--name") + 1]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == ["fidc-lake", "worker", "--name", name, "--ping"], probe
    # the command line the probes run parses (and --ping needs --name, which the manifest gives)
    from fidc_assets.cli import build_parser

    args = build_parser().parse_args(container["livenessProbe"]["exec"]["command"][1:])
    assert args.ping and args.name == name
    assert {r["configMapRef"]["name"] for r in container["envFrom"] if "configMapRef" in r} == {"fidc-env"}
    assert {r["secretRef"]["name"] for r in container["envFrom"] if "secretRef" in r} == {"fidc-secrets"}
    # a dead worker's step waits FIDC_CELERY_VISIBILITY_TIMEOUT; a stopping one finishes its step first
    assert _pod_spec(worker)["terminationGracePeriodSeconds"] >= 600


def test_the_celery_overlay_settings_select_celery_with_the_broker_of_the_secret(rendered, tmp_path):
    """What a pod of prod-celery reads (fidc-env + the Secret template) is valid settings that select the
    Celery executor, its broker being the Service that names the external Redis."""
    from urllib.parse import urlsplit

    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())["stringData"]
    env = {**_by_kind(rendered["prod-celery"], "ConfigMap")["fidc-env"]["data"], **secret}
    env["FIDC_HOME"] = str(tmp_path / "home")
    env["FIDC_FUNDS"] = str(tmp_path / "funds.yaml")
    settings = Settings.from_env(env)
    assert settings.dagster.executor == "celery"
    celery = settings.dagster.celery
    assert celery is not None and celery.visibility_timeout_s == 3600
    assert urlsplit(celery.broker).hostname in _by_kind(rendered["prod-celery"], "Service")
    # without the component the same Secret leaves the executor in-process
    plain = {**_by_kind(rendered["prod"], "ConfigMap")["fidc-env"]["data"], **secret, "FIDC_HOME": env["FIDC_HOME"]}
    plain["FIDC_FUNDS"] = env["FIDC_FUNDS"]
    assert Settings.from_env(plain).dagster.executor == "in_process"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_passes_strict_validation(rendered, version):
    manifests = [m for ms in rendered.values() for m in ms] + list(yaml.safe_load_all(SECRET_EXAMPLE.read_text()))
    for m in manifests:
        kubernetes_validate.validate(m, version, strict=True)  # raises on the first error


def test_the_pinned_version_is_the_newest_the_validator_ships():
    assert kubernetes_validate.utils.latest_version() == K8S_VERSIONS[0]


def _cli_validate(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "kubernetes-validate"
    cmd = [str(exe), "--strict", "--quiet", "-k", K8S_VERSIONS[0], *map(str, paths)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_the_command_line_validator_passes_the_rendered_files_and_fails_a_broken_one(rendered, tmp_path):
    from deploy.render import to_yaml

    files = []
    for name, manifests in rendered.items():
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_text(to_yaml(manifests))
    good = _cli_validate([*files, SECRET_EXAMPLE])
    assert good.returncode == 0, good.stdout + good.stderr

    broken = copy.deepcopy(_by_kind(rendered["prod"], "Deployment")["fidc-webserver"])
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["livenesProbe"] = container.pop("livenessProbe")  # a typo strict validation must catch
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    bad = _cli_validate([tmp_path / "broken.yaml"])
    assert bad.returncode != 0
    assert "livenesProbe" in bad.stdout + bad.stderr


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda d: d["spec"].__setitem__("replicas", "two"), id="wrong-type"),
        pytest.param(lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"), id="missing-required"),
        pytest.param(lambda d: d["spec"]["template"]["spec"].__setitem__("restartPolicy", 3), id="wrong-enum-type"),
        pytest.param(lambda d: d["spec"].__setitem__("replica", 2), id="unknown-field"),
    ],
)
def test_a_broken_manifest_fails_validation(rendered, breakage):
    broken = copy.deepcopy(_by_kind(rendered["prod"], "Deployment")["fidc-user-code"])
    breakage(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed (CI renders with deploy/render.py)")
@pytest.mark.parametrize("overlay", overlay_names())
def test_the_renderer_equals_kubectl_kustomize(overlay):
    try:
        out = subprocess.run(
            ["kubectl", "kustomize", str(OVERLAYS_DIR / overlay)], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"kubectl kustomize could not run: {exc}")
    if out.returncode != 0:
        pytest.skip(f"kubectl kustomize failed here: {out.stderr.strip()[:200]}")

    def key(m: Manifest) -> tuple[str, str, str]:
        return (m["kind"], m["metadata"].get("namespace", ""), m["metadata"]["name"])

    theirs = {key(m): m for m in yaml.safe_load_all(out.stdout) if m}
    ours = {key(m): m for m in render(OVERLAYS_DIR / overlay)}
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert ours[k] == theirs[k], k


def test_the_renderer_orders_a_merged_list_as_kustomize_does():
    """The patch's items first, in its order (merged into the base's item of the same name), then the base's
    others: what `kubectl kustomize` printed for this very patch (env [A, B, C] patched with [C, X])."""
    from deploy.render import strategic_merge

    base = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]}
    patch = {"env": [{"name": "C", "value": "9"}, {"name": "X", "value": "x"}]}
    merged = strategic_merge(base, patch)
    assert merged["env"] == [
        {"name": "C", "value": "9"},
        {"name": "X", "value": "x"},
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
    ]


def test_the_renderer_refuses_a_feature_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(RenderError, match="commonLabels"):
        render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("patches:\n  - path: p.yaml\n")
    (tmp_path / "p.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nowhere}\n")
    with pytest.raises(RenderError, match="not among the resources"):
        render(tmp_path)


def test_the_renderer_applies_a_component_in_kustomizes_order_and_refuses_one_in_the_wrong_place(tmp_path):
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: env}\ndata: {A: base}\n"
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "cm.yaml").write_text(cm)
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    comp = tmp_path / "comp"
    comp.mkdir()
    (comp / "kustomization.yaml").write_text("kind: Component\nresources: [extra.yaml]\npatches:\n  - path: p.yaml\n")
    (comp / "extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n")
    (comp / "p.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: env}\ndata: {A: comp, B: comp}\n")
    over = tmp_path / "over"
    over.mkdir()
    (over / "kustomization.yaml").write_text(
        "namespace: ns\nresources: [../base]\ncomponents: [../comp]\npatches:\n  - path: p.yaml\n"
    )
    (over / "p.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: env}\ndata: {B: overlay}\n")
    out = {m["metadata"]["name"]: m for m in render(over)}
    # the component patched the base's resource; the overlay's own patch came after it; namespace on all
    assert out["env"]["data"] == {"A": "comp", "B": "overlay"}
    assert {m["metadata"]["namespace"] for m in out.values()} == {"ns"}
    (over / "kustomization.yaml").write_text("resources: [../comp]\n")
    with pytest.raises(RenderError, match="a Component cannot be listed under `resources`"):
        render(over)
    (over / "kustomization.yaml").write_text("components: [../base]\n")
    with pytest.raises(RenderError, match="a Kustomization cannot be listed under `components`"):
        render(over)


def test_the_instance_config_is_a_valid_dagster_instance_with_k8s_run_launcher(rendered, tmp_path, monkeypatch):
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres import DagsterPostgresStorage

    text = _by_kind(rendered["prod"], "ConfigMap")["fidc-dagster-instance"]["data"]["dagster.yaml"]
    (tmp_path / "dagster.yaml").write_text(text)
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "FIDC_DAGSTER_PG_URL"}

    monkeypatch.setenv("DAGSTER_K8S_JOB_NAMESPACE", "fidc-prod")
    monkeypatch.setenv("FIDC_DAGSTER_PG_URL", "postgresql+psycopg2://u:p@h:5432/d")
    launcher = process_config(K8sRunLauncher.config_type(), config["run_launcher"]["config"])
    assert launcher.success, launcher.errors
    assert launcher.value is not None and launcher.value["job_namespace"] == "fidc-prod"
    storage = process_config(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    assert storage.success, storage.errors
    # The names the launcher hands to run pods exist in the same overlay.
    names = set(_by_kind(rendered["prod"], "ConfigMap"))
    assert set(launcher.value["env_config_maps"]) <= names
    assert launcher.value["instance_config_map"] in names
    assert launcher.value["service_account_name"] in _by_kind(rendered["prod"], "ServiceAccount")


def test_every_workload_has_requests_limits_and_long_running_ones_have_probes(rendered):
    for manifests in rendered.values():
        for m in _workloads(manifests):
            for c in _pod_spec(m)["containers"]:
                where = f"{m['kind']}/{m['metadata']['name']}/{c['name']}"
                assert {"cpu", "memory"} <= set(c["resources"]["requests"]), where
                assert {"cpu", "memory"} <= set(c["resources"]["limits"]), where
                if m["kind"] in LONG_RUNNING:
                    assert "livenessProbe" in c and "readinessProbe" in c, where


def test_every_referenced_configmap_and_secret_exists(rendered):
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    for manifests in rendered.values():
        configmaps = _by_kind(manifests, "ConfigMap")
        for m in _workloads(manifests):
            pod = _pod_spec(m)
            for v in pod.get("volumes", []):
                if "configMap" in v:
                    assert v["configMap"]["name"] in configmaps
            for c in pod["containers"]:
                for ref in c.get("envFrom", []):
                    if "configMapRef" in ref:
                        assert ref["configMapRef"]["name"] in configmaps
                    if "secretRef" in ref:
                        assert ref["secretRef"]["name"] == secret["metadata"]["name"]
                mounts = {vm["name"] for vm in c.get("volumeMounts", [])}
                assert mounts <= {v["name"] for v in pod.get("volumes", [])}


def test_the_secret_template_holds_only_placeholders_and_nothing_else_holds_a_credential(rendered):
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    assert all("CHANGE-ME" in v for v in secret["stringData"].values()), secret["stringData"]
    assert not any(m["kind"] == "Secret" for ms in rendered.values() for m in ms), "secrets are applied out of band"
    for manifests in rendered.values():
        env = _by_kind(manifests, "ConfigMap")["fidc-env"]["data"]
        leaked = [k for k in env if re.search(r"SECRET|PASSWORD|CREDENTIAL|ACCESS_KEY|_DSN|PG_URL", k)]
        assert leaked == []


def test_the_variables_in_the_manifests_are_ones_the_product_reads(rendered):
    source = "\n".join(p.read_text() for p in (REPO / "fidc_assets").rglob("*.py"))
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    names = set(secret["stringData"])
    for manifests in rendered.values():
        names |= set(_by_kind(manifests, "ConfigMap")["fidc-env"]["data"])
    for name in sorted(n for n in names if n.startswith("FIDC_")):
        prefix = "FIDC_BI_PASSWORD_" if name.startswith("FIDC_BI_PASSWORD_") else name
        assert prefix in source, f"{name} is in the manifests but fidc_assets never reads it"


def test_run_pods_get_the_image_of_the_code_server(rendered):
    for name, manifests in rendered.items():
        pod = _pod_spec(_by_kind(manifests, "Deployment")["fidc-user-code"])
        (container,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["DAGSTER_CURRENT_IMAGE"] == container["image"], name
        assert container["image"].startswith("registry.example.com/fidc/fidc-lakehouse:")
        images = {c["image"] for m in _workloads(manifests) for c in _pod_spec(m)["containers"]}
        assert images == {container["image"]}, f"{name}: every component runs the one image"


def test_the_official_chart_values_agree_with_the_manifests():
    values = yaml.safe_load(HELM_VALUES.read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["port"] == 4000
    assert deployment["dagsterApiGrpcArgs"][:2] == ["--module-name", "fidc_assets.definitions"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert {"name": "fidc-secrets"} in deployment["envSecrets"]
    assert values["postgresql"]["enabled"] is False


def test_the_dockerfile_builds_from_the_lock_and_makes_the_manifest():
    text = (REPO / "deploy" / "Dockerfile").read_text()
    assert "uv sync --frozen" in text and "fidc-lake dbt-prepare" in text
    for src in re.findall(r"^COPY (.+) \S+$", text, flags=re.MULTILINE):
        for name in src.split():
            assert (REPO / name).exists(), f"Dockerfile copies {name}, which does not exist"
    assert "--extra deploy" in text
    assert os.path.exists(REPO / "deploy" / "Dockerfile.dockerignore")
