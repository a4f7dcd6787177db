"""The realtime session core, its WebRTC transport, the token service and the local server."""
