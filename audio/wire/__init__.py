"""The Realtime wire format."""
