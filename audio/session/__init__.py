"""The client session core."""
