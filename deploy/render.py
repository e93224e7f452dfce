"""Render the Kustomize overlays of deploy/k8s without kubectl, for CI (kustomize is not on PyPI).

It implements exactly the Kustomize features the overlays use, and refuses any other key, so a feature added
to an overlay cannot be silently ignored here:
- `resources`: files (multi-document YAML) and directories holding a kustomization.yaml (rendered first);
- `components`: directories holding a `kind: Component` kustomization, applied after `resources` and before
  this kustomization's own transformers, their resources added and their patches applied to everything
  accumulated so far (Kustomize's order);
- `patches` entries with only `path`, each file a strategic-merge patch targeting the resource of the same
  apiVersion/kind/name (lists merge by Kubernetes' patch merge keys: containers, env, volumes by `name`,
  volumeMounts by `mountPath`, container ports by `containerPort`, service ports by `port`, the patch's
  items first and then the base's others, as kustomize orders them; other lists are replaced; a `null` value
  deletes the key); the older `patchesStrategicMerge` list likewise;
- `images`: `name` → `newName` / `newTag` / `digest` on every container and init container of a pod template;
- `namespace`: set on every namespaced resource and on ServiceAccount subjects of (Cluster)RoleBindings
  that have none.
Where kubectl is installed, tests/unit/test_deploy_manifests.py checks the output equals `kubectl kustomize`.

    python -m deploy.render prod            # the overlay's manifests as one multi-document YAML stream
    python -m deploy.render --all DIR       # every overlay to DIR/<overlay>.yaml
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

DEPLOY_DIR = Path(__file__).resolve().parent
K8S_DIR = DEPLOY_DIR / "k8s"
OVERLAYS_DIR = K8S_DIR / "overlays"

Manifest = dict[str, Any]

SUPPORTED_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "components",
    "namespace",
    "images",
    "patches",
    "patchesStrategicMerge",
}
KUSTOMIZATION, COMPONENT = "Kustomization", "Component"
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}
# Kubernetes' patchMergeKey per list field (the subset these manifests use).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
}


class RenderError(ValueError):
    """An overlay uses something this renderer does not implement, or a patch matches no resource."""


def overlay_names() -> list[str]:
    return sorted(p.parent.name for p in OVERLAYS_DIR.glob("*/kustomization.yaml"))


def load_documents(path: Path) -> list[Manifest]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "metadata" not in d:
            raise RenderError(f"{path}: every document must be a Kubernetes object with kind and metadata")
    return docs


def resource_id(m: Manifest) -> tuple[str, str, str]:
    return (str(m.get("apiVersion")), str(m["kind"]), str(m["metadata"].get("name")))


def render(directory: Path, accumulated: list[Manifest] | None = None) -> list[Manifest]:
    """The manifests of the kustomization in `directory`, with its transformers applied. A Component is
    rendered onto `accumulated` (the resources of the kustomization that lists it), a Kustomization alone."""
    kfile = directory / "kustomization.yaml"
    if not kfile.is_file():
        raise RenderError(f"{directory}: no kustomization.yaml")
    spec = yaml.safe_load(kfile.read_text(encoding="utf-8")) or {}
    unknown = set(spec) - SUPPORTED_KEYS
    if unknown:
        raise RenderError(f"{kfile}: keys {sorted(unknown)} are not implemented by deploy/render.py")
    kind = spec.get("kind", KUSTOMIZATION)
    if (kind == COMPONENT) != (accumulated is not None):
        where = "listed under `components`" if accumulated is not None else "listed under `resources`"
        raise RenderError(f"{kfile}: a {kind} cannot be {where}")
    out: list[Manifest] = [] if accumulated is None else accumulated
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        out.extend(render(target) if target.is_dir() else load_documents(target))
    _check_unique(out, kfile)
    for entry in spec.get("components", []):
        out = render((directory / entry).resolve(), out)
        _check_unique(out, kfile)
    patch_files = list(spec.get("patchesStrategicMerge", []))
    for p in spec.get("patches", []):
        if set(p) != {"path"}:
            raise RenderError(f"{kfile}: only `patches: - path: FILE` is implemented, got {p}")
        patch_files.append(p["path"])
    for name in patch_files:
        for patch in load_documents(directory / name):
            _apply_patch(out, patch, directory / name)
    for image in spec.get("images", []):
        _set_image(out, image)
    if "namespace" in spec:
        _set_namespace(out, str(spec["namespace"]))
    return out


def _check_unique(manifests: list[Manifest], kfile: Path) -> None:
    seen: set[tuple[str, str, str]] = set()
    for m in manifests:
        rid = resource_id(m)
        if rid in seen:
            raise RenderError(f"{kfile}: resource {rid} is defined twice")
        seen.add(rid)


def _apply_patch(manifests: list[Manifest], patch: Manifest, source: Path) -> None:
    for i, m in enumerate(manifests):
        if resource_id(m) == resource_id(patch):
            manifests[i] = strategic_merge(m, patch)
            return
    raise RenderError(f"{source}: patch target {resource_id(patch)} is not among the resources")


def strategic_merge(base: Any, patch: Any, field: str | None = None) -> Any:
    """`patch` merged into `base` the way `kubectl patch --type strategic` does, for the merge keys above."""
    if isinstance(base, dict) and isinstance(patch, dict):
        if any(isinstance(k, str) and k.startswith("$") for k in patch):
            raise RenderError(f"patch directives ({[k for k in patch if str(k).startswith('$')]}) are not implemented")
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value, key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list):
        key = _merge_key(field, base + patch)
        if key is None:
            return copy.deepcopy(patch)
        # kustomize's order: the patch's items first, in the patch's order (each merged into the base item of
        # its key, if any), then the base items the patch does not name, in the base's order
        by_key = {b.get(key): b for b in base}
        named = {item.get(key) for item in patch}
        merged_list = [
            strategic_merge(by_key[item.get(key)], item) if item.get(key) in by_key else copy.deepcopy(item)
            for item in patch
        ]
        return merged_list + [copy.deepcopy(b) for b in base if b.get(key) not in named]
    return copy.deepcopy(patch)


def _merge_key(field: str | None, items: list[Any]) -> str | None:
    if field is None or not items or not all(isinstance(i, dict) for i in items):
        return None
    if field == "ports":
        return "containerPort" if all("containerPort" in i for i in items) else "port"
    return MERGE_KEYS.get(field)


def _pod_specs(m: Manifest) -> Iterable[dict[str, Any]]:
    kind, spec = m["kind"], m.get("spec") or {}
    if kind == "Pod":
        yield spec
    elif kind == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        yield spec["template"]["spec"]


def _image_name(image: str) -> str:
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _set_image(manifests: list[Manifest], image: dict[str, Any]) -> None:
    unknown = set(image) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise RenderError(f"images: keys {sorted(unknown)} are not implemented")
    for m in manifests:
        for pod in _pod_specs(m):
            for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
                if _image_name(container["image"]) != image["name"]:
                    continue
                new = str(image.get("newName", image["name"]))
                if "digest" in image:
                    container["image"] = f"{new}@{image['digest']}"
                elif "newTag" in image:
                    container["image"] = f"{new}:{image['newTag']}"
                else:
                    old = container["image"]
                    container["image"] = new + old[len(_image_name(old)) :]


def _set_namespace(manifests: list[Manifest], namespace: str) -> None:
    for m in manifests:
        if m["kind"] not in CLUSTER_SCOPED_KINDS:
            m["metadata"]["namespace"] = namespace
        if m["kind"] in {"RoleBinding", "ClusterRoleBinding"}:
            for subject in m.get("subjects", []):
                if subject.get("kind") == "ServiceAccount" and not subject.get("namespace"):
                    subject["namespace"] = namespace


def to_yaml(manifests: list[Manifest]) -> str:
    return yaml.safe_dump_all(manifests, sort_keys=True, default_flow_style=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.render", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("overlay", nargs="?", help=f"one of {overlay_names()}")
    parser.add_argument("--all", metavar="DIR", help="write every overlay to DIR/<overlay>.yaml")
    args = parser.parse_args(argv)
    try:
        if args.all:
            out_dir = Path(args.all)
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in overlay_names():
                (out_dir / f"{name}.yaml").write_text(to_yaml(render(OVERLAYS_DIR / name)), encoding="utf-8")
            return 0
        if args.overlay not in overlay_names():
            parser.error(f"overlay must be one of {overlay_names()}, got {args.overlay!r}")
        sys.stdout.write(to_yaml(render(OVERLAYS_DIR / args.overlay)))
        return 0
    except RenderError as exc:
        print(f"deploy/render.py: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
