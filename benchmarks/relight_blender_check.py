"""Check envmap orientation and --rotation against Cycles (needs bpy; a one-off, not a test).

Renders a mirror sphere and a white diffuse sphere with Blender's orthographic front-view camera
(looking along world +Y) under an HDRI on an Environment Texture fed by a Mapping node
(type Point, rotation Z = ROT), and compares them with our lookups of the same analytic sphere:
envmap.sample along the reflection vector, and the irradiance map / pi. Candidate conventions
(our rotation = +ROT, -ROT, ROT + 180, 180 - ROT) are all scored; ours is the first one.

    python benchmarks/relight_blender_check.py [--hdri sunset] [--size 96]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from photonormals.relight import envmap, shading


def render(
    hdri_path: Path, rotation: float, material: str, size: int, samples: int, out: Path
) -> np.ndarray:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 0 if material == "diffuse" else 1
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.filter_size = 0.01  # no pixel filter: compare pixel centres
    scene.view_settings.view_transform = "Standard"

    world = bpy.data.worlds.new("World")
    scene.world = world
    world.use_nodes = True
    nodes, links = world.node_tree.nodes, world.node_tree.links
    coords = nodes.new("ShaderNodeTexCoord")
    mapping = nodes.new("ShaderNodeMapping")
    mapping.vector_type = "POINT"
    mapping.inputs["Rotation"].default_value = (0.0, 0.0, np.radians(rotation))
    texture = nodes.new("ShaderNodeTexEnvironment")
    texture.image = bpy.data.images.load(str(hdri_path))
    texture.interpolation = "Linear"
    background = nodes["Background"]
    links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    links.new(mapping.outputs["Vector"], texture.inputs["Vector"])
    links.new(texture.outputs["Color"], background.inputs["Color"])

    bpy.ops.mesh.primitive_uv_sphere_add(segments=256, ring_count=128, radius=1.0)
    sphere = bpy.context.object
    bpy.ops.object.shade_smooth()
    mat = bpy.data.materials.new(material)
    mat.use_nodes = True
    tree = mat.node_tree
    tree.nodes.remove(tree.nodes["Principled BSDF"])
    if material == "mirror":
        bsdf = tree.nodes.new("ShaderNodeBsdfGlossy")
        bsdf.inputs["Roughness"].default_value = 0.0
    else:
        bsdf = tree.nodes.new("ShaderNodeBsdfDiffuse")
    bsdf.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    tree.links.new(bsdf.outputs["BSDF"], tree.nodes["Material Output"].inputs["Surface"])
    sphere.data.materials.append(mat)

    cam_data = bpy.data.cameras.new("cam")
    cam_data.type = "ORTHO"
    cam_data.ortho_scale = 2.0
    camera = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(camera)
    camera.location = (0.0, -10.0, 0.0)
    camera.rotation_euler = (np.pi / 2, 0.0, 0.0)  # Blender's front view: looking along +Y
    scene.camera = camera

    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.render.filepath = str(out)
    bpy.ops.render.render(write_still=True)
    import OpenEXR

    with OpenEXR.File(str(out)) as exr:
        channels = exr.channels()
        key = "RGBA" if "RGBA" in channels else "RGB"
        return np.asarray(channels[key].pixels)[..., :3].astype(np.float32)


def sphere_normals(size: int):
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    x = (cols - size / 2) / (size / 2)  # ortho_scale 2 -> the image spans [-1, 1]
    y = -(rows - size / 2) / (size / 2)
    r2 = x**2 + y**2
    n = np.stack([x, y, np.sqrt(np.clip(1 - r2, 0, None))], axis=-1)
    return n.astype(np.float32), r2 < 0.85**2  # stay off the silhouette


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hdri", default="sunset")
    parser.add_argument("--size", type=int, default=96)
    args = parser.parse_args()
    path = envmap.resolve_hdri(args.hdri)
    env = envmap.load_hdri(path)
    irradiance = shading.irradiance_map(env)
    normals, inside = sphere_normals(args.size)
    reflected = 2 * normals[..., 2:3] * normals - np.float32([0, 0, 1])
    with tempfile.TemporaryDirectory() as tmp:
        for rot in (0.0, 90.0, 30.0):
            for material, samples in (("mirror", 16), ("diffuse", 512)):
                cycles = render(
                    path, rot, material, args.size, samples, Path(tmp) / f"{material}_{rot}.exr"
                )
                scores = []
                for ours in (rot, -rot, rot + 180, 180 - rot):
                    if material == "mirror":
                        mine = envmap.sample(env, reflected, ours)
                    else:
                        mine = envmap.sample(irradiance, normals, ours) / np.pi
                    # median relative difference: robust to the few pixels a sun edge aliases
                    rel = np.abs(mine[inside] - cycles[inside]) / np.maximum(cycles[inside], 1e-3)
                    scores.append(f"ours({ours:+.0f})={np.median(rel) * 100:.1f}%")
                print(
                    f"{args.hdri} {material:8s} mapping Z={rot:+.0f}: median rel. diff "
                    + "  ".join(scores),
                    flush=True,
                )


if __name__ == "__main__":
    main()
