"""Node types: one module each, registered by type name in ``flow.nodes.registry``."""
