"""Learned photometric-stereo models, one family per file, built by name from one registry.

    from photonormals.models import create_model
    model = create_model("sdps_lite")
    out = model(images, mask)          # images (B, K, 3, H, W) -> out["normal"] (B, 3, H, W)
    rebuilt = create_model(model.config)

Families: ``sdps`` (SDPS-Net reference), ``sdps_lite`` (separable/residual, < 1/4 the size),
``fused`` (one network, shared encoder, trained end to end).
Single portrait: ``portrait`` (seed-2 network) and ``portrait_lite`` (separable, ~1/8 the size):
``model(image)`` (B, 3, H, W) -> normal, shading, log_shading, mask_logits.
"""

from . import fused, portrait, portrait_lite, sdps, sdps_lite  # noqa: F401  (imports register the families)
from .registry import create_model, list_models, model_config, register_model

__all__ = ["create_model", "list_models", "model_config", "register_model"]
