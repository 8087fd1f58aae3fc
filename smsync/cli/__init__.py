"""The ``smsync`` admin command: one module per command group, dispatched by ``main``."""
