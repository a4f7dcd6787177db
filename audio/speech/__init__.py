"""Offline speech."""
