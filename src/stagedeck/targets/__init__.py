"""Platforms stagedeck can watch and act on; see ``base.Target``."""

from __future__ import annotations

from stagedeck.recipe.model import Recipe
from stagedeck.targets.base import Target, TargetSink


def make_target(recipe: Recipe, sink: TargetSink, *, attach: bool = False) -> Target:
    """The target the recipe asks for; imported lazily so a local demo never loads the SDKs.

    ``attach`` watches local services that another process runs instead of starting them.
    """
    kind = recipe.environment.target
    if kind == "local" and attach:
        from stagedeck.targets.local.attached import AttachedTarget

        return AttachedTarget(recipe, sink)
    if kind == "local":
        from stagedeck.targets.local.target import LocalTarget

        return LocalTarget(recipe, sink)
    if kind == "docker":
        from stagedeck.targets.docker.target import DockerTarget

        return DockerTarget(recipe, sink)
    if kind == "kubernetes":
        from stagedeck.targets.kubernetes import require_sdk

        require_sdk()  # a clear "install stagedeck[kubernetes]" rather than an ImportError
        from stagedeck.targets.kubernetes.target import KubernetesTarget

        return KubernetesTarget(recipe, sink)
    raise ValueError(f"unknown target {kind!r}")
