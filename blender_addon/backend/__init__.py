"""Talking to the PhotoNormals backend: the HTTP client, the local server process, jobs.

Nothing in this folder imports bpy, so it runs the same inside Blender, in the headless batch
and in plain tests.
"""
