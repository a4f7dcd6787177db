"""Audio layer: registry, edge data, devices, files, codecs, aiortc tracks and the realtime core.

Never imports ``flow`` or ``textual`` (a test walks the imports to keep it so).
"""
