"""Scenario tests (``voxflow test``): scripted or AI callers hold whole conversations with a flow.

Owns the scenario file format, the caller that replaces a flow's microphone, the per-turn
assertions, repeats and pass rates, and the reports (JUnit XML, HTML, JSON). It runs flows
through :mod:`flow` and knows ``audio``; never imports ``textual``.
"""
