"""Whether the room's display, camera and microphone work: pure analysis and the capture tool.

``display`` decodes what the kernel publishes about monitors (DRM connectors,
EDID, the HDMI/DP audio ELD) without opening a device; ``frames`` and ``audio``
judge raw frames and PCM samples; ``capture`` runs ffmpeg to get them.
"""
