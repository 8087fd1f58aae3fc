"""Protocol plugins: one package per protocol, each over the core interfaces only."""
