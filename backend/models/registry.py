"""One registry for every model family (timm style).

A family file registers builders: ``@register_model("name") def name(**overrides) -> nn.Module``.
Each builder merges the overrides into an explicit default config (see `resolve_config`) and
builds the network from it. The registry stamps the result with ``model.config``: a plain,
JSON-serialisable dict that includes the registry name, so weights saved next to their config
(e.g. as safetensors metadata) can be rebuilt with ``create_model(config)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import UserError

Builder = Callable[..., nn.Module]
_REGISTRY: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register a builder under ``name``; the returned builder sets ``.config``."""

    def decorator(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")

        @functools.wraps(builder)
        def build(**overrides: Any) -> nn.Module:
            model = builder(**overrides)
            model.config = {"name": name, **getattr(model, "config", {})}
            return model

        _REGISTRY[name] = build
        return build

    return decorator


def resolve_config(name: str, defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict:
    """Defaults updated by overrides; unknown keys are a UserError naming the valid ones."""
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise UserError(
            f"model {name!r} has no option(s) {', '.join(unknown)}; valid: {', '.join(defaults)}"
        )
    return {**defaults, **overrides}


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str | Mapping[str, Any], **overrides: Any) -> nn.Module:
    """Build a registered model by name, or rebuild one from a saved ``model.config`` dict."""
    if isinstance(name, Mapping):
        config = dict(name)
        if "name" not in config:
            raise UserError("a model config needs a 'name' entry")
        name = config.pop("name")
        overrides = {**config, **overrides}
    if name not in _REGISTRY:
        raise UserError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _REGISTRY[name](**overrides)


def model_config(name: str | Mapping[str, Any], **overrides: Any) -> dict:
    """The full config ``create_model`` would use, without allocating weights (meta device)."""
    with torch.device("meta"):
        return create_model(name, **overrides).config
