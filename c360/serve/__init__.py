"""The serving API (FastAPI over delta-rs snapshots; no Spark). ``create_app`` builds it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from c360.serve.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy: the registry imports c360.serve.audit for its table, without pulling in FastAPI.
    if name == "create_app":
        from c360.serve.app import create_app

        return create_app
    raise AttributeError(name)
