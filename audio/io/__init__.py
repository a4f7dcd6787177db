"""Devices and files."""
