"""The front door: what every protocol needs at its edge and must not copy.

* ``sasl`` -- SASL PLAIN/LOGIN decoding;
* ``basic`` -- HTTP Basic and the verified-credentials cache;
* ``tls`` -- the server TLS context from the config, for every listener;
* ``policy`` -- which protocols an account may use.

The edge imports only the core: never a protocol, never a concrete store.
"""
