"""Flows: the YAML model, validation, the engine, node types and the headless runner.

Knows ``audio``; never imports ``textual``.
"""
