"""Scene work as plain functions taking bpy data blocks: textures, photo plane, material,
HDRI world, bake. The operators and the headless batch both call these."""
