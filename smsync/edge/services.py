"""The one object every protocol's builder receives: the front door's services over one
store, portal and config, built once per server."""

from __future__ import annotations

import time
from typing import Optional

import attrs

from smsync.edge.autodiscover import AutodiscoverRouter
from smsync.edge.devices import Devices
from smsync.edge.gate import Gate, GateSettings
from smsync.edge.limiter import LimiterSettings, LoginLimiter
from smsync.edge.listening import Listening
from smsync.edge.logins import Logins
from smsync.edge.outbound import Outbound
from smsync.edge.policy import Policy
from smsync.edge.quota import Quotas
from smsync.edge.tls import server_context


@attrs.define
class Edge:
    """What a protocol needs at its edge.

    Attributes:
        store: the opened ``IStore``.
        portal: the ``twisted.cred`` portal over its accounts.
        config: the ``smsync.config.Config`` (or None: defaults everywhere).
        tls: the server TLS context from ``[tls]``, or None (then no TLS is offered).
        logins: ``Logins`` -- SASL/Basic logins, policy check, failed-login lines.
        policy: ``Policy`` -- which protocols an account may use.
        devices: ``Devices`` -- naming and recording clients.
        outbound: ``Outbound`` -- the submitter and relay queue; also the service the
            server runs once for all protocols (``service``).
        gate: ``Gate`` -- how many connections may wait before logging in.
        autodiscover: ``AutodiscoverRouter`` -- the one ``/autodiscover/autodiscover.xml``
            EAS and EWS share, each answering its own response schema.
        listening: ``Listening`` -- the ports this server listens on and the HTTP
            protocols its site serves, filled in by ``smsync.tap`` once they are bound
            (empty for a protocol factory embedded on its own).
        quotas: ``Quotas`` -- each account's storage limit, checked wherever mail is
            stored (None: no quotas, for an edge made by hand); ``outbound`` has the
            same one.
        started: when the server started (``time.time()``), for the status page.
    """

    store: object
    portal: object
    config: object
    tls: object
    logins: Logins
    policy: Policy
    devices: Devices
    outbound: Outbound
    gate: Gate = attrs.field(factory=Gate)
    autodiscover: AutodiscoverRouter = attrs.field(factory=AutodiscoverRouter)
    listening: Listening = attrs.field(factory=Listening)
    quotas: Optional[Quotas] = None
    started: float = attrs.field(factory=time.time)

    @property
    def service(self):
        """The edge's own ``IService`` (the relayer, once something sends): the server
        starts it before the protocols and stops it after them."""
        return self.outbound


def make_edge(store, portal, config=None, tls: Optional[object] = None, relay: bool = True,
              shared: bool = False) -> Edge:
    """The edge over ``store`` and ``portal`` as ``config`` sets it up; ``tls`` overrides
    the context ``config``'s ``[tls]`` would give (TLS files are read here, once).

    ``shared``: other processes serve the same store (the workers of ``smsync serve
    --workers N``); ``relay``: this one relays the mail they all queue."""
    if config is None:
        from smsync.config import Config

        config = Config()
    policy = Policy(store)
    quotas = Quotas(store)
    return Edge(
        store=store,
        portal=portal,
        config=config,
        tls=tls if tls is not None else server_context(config),
        logins=Logins(portal, policy, LoginLimiter(LimiterSettings.from_config(config)),
                      allow_cleartext=config.tls.allow_cleartext_passwords),
        policy=policy,
        devices=Devices(store),
        outbound=Outbound(store, config, relay=relay, shared=shared, quotas=quotas),
        gate=Gate(GateSettings.from_config(config)),
        quotas=quotas,
    )


def edge_for(store, portal, edge: Optional[Edge] = None) -> Edge:
    """``edge`` if given, else a new one over ``store`` and ``portal`` with a default
    config -- what a protocol factory embedded on its own uses."""
    return edge if edge is not None else make_edge(store, portal)
