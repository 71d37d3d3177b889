"""Synthetic training data: one engine per task, on shared parts.

Shared: `rasterize` and `meshes` (geometry to pixel buffers), `faces` (the ICT-FaceKit model),
`materials` (albedo textures, BRDF parameters), `brdf` (the GGX lobe), `shadows` (cast shadows
over a height field), `imaging` (sRGB and 8-bit codes as our reader decodes them), `flips`
(mirrors that turn camera-frame vectors too), `random` and `cache`.

Engines, each with the same modules: ``geometry`` (what one sample's shape is), ``bank`` (the
cached geometry it draws from), ``camera``, ``batches`` (training samples drawn per step) and
``validation`` (the fixed set benchmarks score):

* `multilight`: K photos of one object under K directional lights (the multilight task);
* `portrait`: one photo of a person's head and shoulders (the portrait task).

An engine imports the shared parts, never another engine.
"""
