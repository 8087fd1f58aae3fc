"""The front door: what every protocol needs at its edge and must not copy.

* ``logins`` -- one ``Logins.login`` for every protocol (portal, protocol policy,
  failed-login line, the limiter's hook), HTTP Basic with its verified-credentials
  cache (``basic``), SASL PLAIN/LOGIN decoding (``sasl``);
* ``tls`` -- the server TLS context from the config, for every listener;
* ``devices`` -- naming a client (``Client``) and recording it (``Devices.record``);
* ``policy`` -- which protocols an account may use.

The edge imports only the core: never a protocol, never a concrete store.
"""
