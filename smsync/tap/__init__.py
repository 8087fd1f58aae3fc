"""twistd plumbing: plugin options, the protocol registry, the running service and the
shared HTTP site. ``twisted/plugins/smsync_services.py`` only points here."""
