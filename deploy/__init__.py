"""Deployment: lower an integer graph to C, build it for a target, run it, check it bit for bit.

Public API: `deploy.api.deploy`, `deploy.lower.lower`, `deploy.codegen.generate`,
`deploy.targets.TARGETS`. See deploy/README.md.
"""

from __future__ import annotations

__all__ = ["deploy"]


def deploy(*args, **kwargs):
    """Lazy alias of `deploy.api.deploy`."""
    from deploy.api import deploy as _deploy

    return _deploy(*args, **kwargs)
