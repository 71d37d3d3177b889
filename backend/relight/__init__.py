"""Relighting under HDRIs: environment maps (envmap), SH9 irradiance (sh), pre-convolved
irradiance and reflection maps (shading), and the predict-folder relight (relight)."""
