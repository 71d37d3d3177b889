"""The material engine: one photo of a nearly flat surface (brick, stone, bark, plaster, fabric,
wood...) with its normals, height, albedo, shading and roughness (`batches.MaterialBatches`),
and the fixed validation set per family (`validation.validation_set`).

Unlike the other engines it keeps no geometry bank: every relief is procedural (`geometry`) and
drawn afresh per step, with its colour (`appearance`), light (`lighting`) and camera (`camera`).
"""
