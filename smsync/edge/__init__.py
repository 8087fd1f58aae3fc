"""The front door: what every protocol needs at its edge and must not copy.

* ``logins`` -- one ``Logins.login`` for every protocol (portal, protocol policy,
  failed-login line, the limiter's hook), HTTP Basic with its verified-credentials
  cache (``basic``), SASL PLAIN/LOGIN decoding (``sasl``);
* ``tls`` -- the server TLS context from the config, for every listener;
* ``devices`` -- naming a client (``Client``) and recording it (``Devices.record``);
* ``outbound`` -- the ``Submitter`` and relay queue, run once per server;
* ``policy`` -- which protocols an account may use.

A protocol's builder receives one ``Edge`` carrying them with the store, portal and
config (``smsync.tap`` makes it once per server); a protocol factory embedded on its
own makes one from its store and portal (``edge_for``). The edge imports only the
core: never a protocol, never a concrete store.
"""

from smsync.edge.services import Edge, edge_for, make_edge

__all__ = ["Edge", "edge_for", "make_edge"]
