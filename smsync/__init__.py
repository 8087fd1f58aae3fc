"""smsync: one mail-and-collaboration store, reached through every protocol."""

__version__ = "0.1.0.dev0"
