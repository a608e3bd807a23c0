"""ArgoCD and the Jobs of the catalog: a hook Job runs in the Application of the service
it names; a Job that is not a hook is named after its content. No I/O.

A Job's pod template is immutable: ArgoCD cannot apply a changed Job over the one in the
cluster, so a Job that keeps its name fails to sync after its first change. One way out
for each use (docs/output.md, "Jobs and ArgoCD"):

- **A hook** (`job.hook`, a database migration before a rollout): every object of the
  instance becomes an ArgoCD hook of the phase it names. The Job has
  `hook-delete-policy: BeforeHookCreation`: the next sync deletes the previous run and
  creates the Job anew, so its immutability never matters, and the last run stays
  (with its logs) until then. Its ServiceAccount, ConfigMap, ExternalSecrets and
  NetworkPolicies are hooks of the same phase one wave earlier, with
  `BeforeHookCreation,HookSucceeded`: they exist before the Job starts (a PreSync hook
  runs before any ordinary object of the Application is applied, also on the first
  sync, when ordinary objects would not exist yet) and are deleted when the sync has
  succeeded, so nothing of the hook outlives it but the Job. The instance has no
  Application of its own: its folder is a resource of the folder of the service it
  runs for (`../<hook>` in that kustomization.yaml), so it runs at each sync of that
  service's Application, in order with it. A suspended customer's hook is `Skip`ped:
  its Job would wait, suspended, and hold the sync forever.
- **In one Application per customer** (`argocd.applications: per-customer`) the order
  between services is the waves of their objects (`in_waves`): a service's objects at
  `WAVE_STEP` times its depth, so that its PreSync hook, which would run before any
  object of the customer's Application (before the database it migrates exists, on the
  first sync), becomes a Sync hook in the two waves just before its service's.
- **A plain Job** (run once per content): its name gets `-` and 10 hex digits of a
  digest of its spec (without `suspend`, which changes in place), taken after patches:
  a changed Job is a new Job, which runs, and the old one is pruned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from compiler.catalog import JobHook

HOOK = "argocd.argoproj.io/hook"
DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
JOB_POLICY = "BeforeHookCreation"
COMPANION_POLICY = "BeforeHookCreation,HookSucceeded"


def as_hook(
    objects: Iterable[dict[str, Any]], service: str, hook: JobHook, suspended: bool
) -> list[dict[str, Any]]:
    """The objects of a hook instance, each annotated as a hook of `hook.phase`: its Job
    at `hook.wave`, everything else one wave before it; all `Skip` when suspended."""
    annotated = []
    for obj in objects:
        if suspended:
            ours = {HOOK: "Skip"}
        elif obj.get("kind") == "Job" and obj["metadata"].get("name") == service:
            ours = {HOOK: hook.phase, DELETE_POLICY: JOB_POLICY, SYNC_WAVE: str(hook.wave)}
        else:
            ours = {
                HOOK: hook.phase,
                DELETE_POLICY: COMPANION_POLICY,
                SYNC_WAVE: str(hook.wave - 1),
            }
        metadata = obj["metadata"]
        existing = metadata.get("annotations")
        annotations = {**(existing if isinstance(existing, dict) else {}), **ours}
        annotated.append({**obj, "metadata": {**metadata, "annotations": annotations}})
    return annotated


def is_hook(obj: dict[str, Any]) -> bool:
    annotations = obj.get("metadata", {}).get("annotations")
    return isinstance(annotations, dict) and HOOK in annotations


def content_named(objects: Iterable[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    """The objects with the service's own Job, unless it is a hook, named after a digest
    of its spec: `<service>-<10 hex digits>`."""
    named = []
    for obj in objects:
        if obj.get("kind") == "Job" and obj["metadata"].get("name") == service and not is_hook(obj):
            obj = {**obj, "metadata": {**obj["metadata"], "name": job_name(service, obj)}}
        named.append(obj)
    return named


def job_name(service: str, job: dict[str, Any]) -> str:
    """`<service>-<digest>`: the digest of the Job's spec, `suspend` left out (a suspended
    customer's Job is the same Job, paused in place)."""
    spec = job.get("spec")
    content = {k: v for k, v in spec.items() if k != "suspend"} if isinstance(spec, dict) else spec
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return f"{service}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


WAVE_STEP = 3  # per-customer: a service's wave, its PreSync hook's Job and companions


def in_waves(objects: Iterable[dict[str, Any]], wave: int) -> list[dict[str, Any]]:
    """The objects of one instance inside a customer's one Application, placed in the
    service order: ordinary objects at `wave` (the service's depth times `WAVE_STEP`,
    computed by the caller), a PreSync hook as a Sync hook just before it (its Job at
    `wave - 1`, its companions at `wave - 2`), a Sync hook at `wave` plus its own wave;
    PostSync hooks (after the whole Application) and `Skip`ped ones stay as they are."""
    placed = []
    for obj in objects:
        metadata = obj["metadata"]
        existing = metadata.get("annotations")
        annotations = dict(existing) if isinstance(existing, dict) else {}
        phase = annotations.get(HOOK)
        if phase is None:
            annotations[SYNC_WAVE] = str(wave)
        elif phase == "PreSync":
            job = annotations.get(DELETE_POLICY) == JOB_POLICY
            annotations[HOOK] = "Sync"
            annotations[SYNC_WAVE] = str(wave - 1 if job else wave - 2)
        elif phase == "Sync":
            own = str(annotations.get(SYNC_WAVE, "0"))
            annotations[SYNC_WAVE] = str(wave + (int(own) if own.lstrip("-").isdigit() else 0))
        placed.append({**obj, "metadata": {**metadata, "annotations": annotations}})
    return placed
