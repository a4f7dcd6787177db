"""One module per CLI command (or command group), imported only when used."""
