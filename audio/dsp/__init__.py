"""PCM frames, formats and buffers."""
