"""PhotoNormals: photos to camera-space normal, albedo, shading and mask maps.

Camera frame everywhere: x right, y up, z toward the camera (OpenGL). Lights use the same frame.
"""

__version__ = "0.1.0"
