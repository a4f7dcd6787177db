"""The Textual app and the ``voxflow`` command line."""
