"""The app's panels: header, nodes, connection, transcript."""
