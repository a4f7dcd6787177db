"""Echo handling."""
