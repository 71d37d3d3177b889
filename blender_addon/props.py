"""Per-scene settings saved in the .blend: the photo set, mode, result options, HDRI, bake."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .scene import material, world

_HDRI_ITEMS: list = []  # Blender needs the dynamic enum items kept alive


def hdri_items(self, context):
    if not _HDRI_ITEMS:
        _HDRI_ITEMS.extend((name, name.title(), f"Blender's bundled {name} HDRI")
                           for name in world.studio_hdris())
        _HDRI_ITEMS.append(("FILE", "File...", "An HDRI file of your own"))
    return _HDRI_ITEMS


def _update_strength(self, context):
    if self.last_material is not None:
        material.set_strength(self.last_material, self.normal_strength)


def _update_tiling(self, context):
    if self.last_material is not None:
        material.set_tiling(self.last_material, self.tiling)


def _update_world(self, context):
    scene_world = context.scene.world
    if scene_world is not None and scene_world.get(world.TAG):
        world.set_rotation(scene_world, self.hdri_rotation)
        world.set_strength(scene_world, self.hdri_strength)


class PhotoNormalsPhoto(bpy.types.PropertyGroup):
    filepath: StringProperty(name="Photo", subtype="FILE_PATH")


class PhotoNormalsSettings(bpy.types.PropertyGroup):
    photos: CollectionProperty(type=PhotoNormalsPhoto)
    photo_index: IntProperty()
    mode: EnumProperty(
        name="Mode",
        items=[("auto", "Auto", "One photo: portrait; several: multi-light"),
               ("single", "Single Portrait", "One photo of a face"),
               ("multi", "Multi-Light", "Several photos from one viewpoint, one light each"),
               ("material", "Surface / Material", "A wall, floor or fabric, one photo or several "
                "under different lamps: a tileable material (normal, height, albedo, roughness)")],
        default="auto",
    )
    input_colorspace: EnumProperty(
        name="Photos Hold",
        items=[("auto", "Auto", "8-bit files are sRGB; 16-bit, EXR and HDR are linear"),
               ("srgb", "sRGB", "Every photo is sRGB-encoded (camera JPEGs)"),
               ("linear", "Linear", "Every photo holds linear values, 8-bit ones too (many "
                "photometric-stereo data sets): read them so, or every light comes out wrong")],
        default="auto",
    )
    seamless: BoolProperty(name="Seamless", default=True,
                           description="Material: make the maps tile without a visible seam")
    light_from: EnumProperty(
        name="Light Comes From",
        items=[("auto", "Auto", "Detect the side the photo's light comes from"),
               ("top", "Top", "The photo's light comes from its top (as most walls are lit)"),
               ("left", "Left", "The photo's light comes from its left side"),
               ("right", "Right", "The photo's light comes from its right side"),
               ("bottom", "Bottom", "The photo's light comes from its bottom")],
        default="auto",
        description="Material, one photo: the side of the photo its light comes from, or Auto "
                    "(detected from the photo). The model reads relief lit from the top, so the "
                    "photo is turned for it and the maps turned back",
    )
    tiling: FloatProperty(name="Tiling", default=1.0, min=0.01, soft_max=16.0,
                          description="Material: how many times the texture repeats across the "
                                      "plane", update=_update_tiling)
    light_file: StringProperty(
        name="Light File", subtype="FILE_PATH",
        description="light_directions.txt (one x y z per photo, in order) or lights.json; "
                    "without it the lights are estimated",
    )
    intensities_file: StringProperty(
        name="Intensities", subtype="FILE_PATH",
        description="light_intensities.txt (one r g b per photo, in order; needs the light "
                    "file); without it all lights are taken as equally bright",
    )
    mask_file: StringProperty(
        name="Mask", subtype="FILE_PATH",
        description="The object's mask (white inside, the photos' size); without it the "
                    "backend finds the object itself",
    )
    target: EnumProperty(
        name="Apply To",
        items=[("PLANE", "Photo Plane", "A plane with the photo's aspect, facing the front view"),
               ("ACTIVE", "Active Object", "The selected mesh (needs a UV map)")],
        default="PLANE",
    )
    normal_strength: FloatProperty(name="Normal Strength", default=1.0, min=0.0, soft_max=3.0,
                                   update=_update_strength)
    use_displacement: BoolProperty(name="Displacement", description="Displace with the height map "
                                   "when the backend returns one", default=False)
    displacement_scale: FloatProperty(name="Scale", default=0.1, min=0.0, soft_max=1.0)
    hdri: EnumProperty(name="HDRI", items=hdri_items)
    hdri_file: StringProperty(name="HDRI File", subtype="FILE_PATH")
    hdri_rotation: FloatProperty(name="Rotation", description="Degrees about the vertical axis",
                                 default=0.0, soft_min=-180, soft_max=180, update=_update_world)
    hdri_strength: FloatProperty(name="Strength", default=1.0, min=0.0, soft_max=5.0,
                                 update=_update_world)
    bake_type: EnumProperty(
        name="Bake",
        items=[("combined", "Combined", ""), ("diffuse", "Diffuse", ""),
               ("albedo", "Albedo", "Diffuse colour pass only"), ("normal", "Normal", "")],
        default="combined",
    )
    bake_size: IntProperty(name="Size", default=1024, min=16, max=16384,
                           description="The long side in pixels; the other follows the photo")
    bake_margin: IntProperty(name="Margin", default=16, min=0, max=256)
    bake_samples: IntProperty(name="Samples", default=16, min=1, max=4096)
    bake_format: EnumProperty(
        name="Format",
        items=[("AUTO", "Auto", "16-bit PNG for Normal, 8-bit PNG for the others"),
               ("PNG8", "PNG 8-bit", ""), ("PNG16", "PNG 16-bit", ""),
               ("EXR", "OpenEXR", "32-bit float, linear")],
        default="AUTO",
    )
    last_object: PointerProperty(type=bpy.types.Object)
    last_material: PointerProperty(type=bpy.types.Material)


CLASSES = (PhotoNormalsPhoto, PhotoNormalsSettings)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.photonormals = PointerProperty(type=PhotoNormalsSettings)


def unregister():
    del bpy.types.Scene.photonormals
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
