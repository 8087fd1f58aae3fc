"""What the administration tools do, once, for the CLI and the web interface alike:
accounts (the admin flag, listing and searching), devices, policy. Each function works
over an opened ``IStore`` and raises ``smsync.errors`` exceptions; callers turn them into
their own answers (a CLI message, an HTTP problem)."""
