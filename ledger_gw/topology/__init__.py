"""The embedded multi-organisation topology on one machine, as plain processes: a log
node, each agency's gateway appending through it over mutual TLS, members' witnesses.

Each process is given only its own party's directory (see ``layout``), so what runs
here is what runs when every member has its own machine, on loopback ports.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from ledger_gw.bootstrap import issue_log_client_certificate, open_gateway, prepare_ledger
from ledger_gw.consortium import Consortium
from ledger_gw.errors import ConfigError
from ledger_gw.gateway_stores import prepare_stores
from ledger_gw.remote import tls
from ledger_gw.services.access import issue_token, list_tokens, revoke_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.topology.layout import (
    CONSORTIUM_FILE,
    Layout,
    check_kept,
    discard,
    laying_out,
    pin_node_certificate,
)
from ledger_gw.topology.processes import (
    HOST,
    Service,
    free_port,
    start_gateway,
    start_node,
    start_witness,
)

__all__ = ["Layout", "Service", "Topology", "discard", "prepare", "running"]

GATEWAY_ROLE = "agency-writer"
RUN_LABEL = "consortium up"  # each run revokes the tokens earlier runs printed


@dataclass
class Topology:
    """The running site: its services by party and a fresh bearer token per gateway."""

    layout: Layout
    node: Service
    witnesses: dict[str, Service] = field(default_factory=dict)
    gateways: dict[str, Service] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def services(self) -> list[Service]:
        return [self.node, *self.witnesses.values(), *self.gateways.values()]


def prepare(
    operator: Path,
    site: Path,
    agencies: Sequence[str],
    witnesses: Sequence[str],
    witness_urls: dict[str, str],
    node_hosts: Sequence[str] = (HOST,),
) -> Layout:
    """Lay the site out, with what each party needs before anything runs: the node's
    TLS certificate (for ``node_hosts``), pinned by every gateway, and each gateway's
    client certificate, issued from its own CA in its own directory. All of it or, if
    a step fails, none of it."""
    with laying_out(operator, site, agencies, witnesses, witness_urls) as draft:
        node = draft.node / "node"
        tls.ensure_server_certificate(node / "tls.pem", node / "tls.key", list(node_hosts))
        pin_node_certificate(draft)
        for org in agencies:
            issue_log_client_certificate(draft.agency(org), org)
    return replace(draft, site=site)


def _prepared(
    operator: Path, site: Path, agencies: Sequence[str], witnesses: Sequence[str]
) -> Layout:
    """The site's layout: made on first use, reused (its ledger, its witnesses' memory)
    after, unless its directories were redirected or loosened since, each gateway with
    a client certificate issued afresh (one kept from before client certificates were
    marked for TLS would be refused)."""
    if not (site / "node" / CONSORTIUM_FILE).exists():
        urls = {org: f"http://{HOST}:{free_port()}" for org in witnesses}
        return prepare(operator, site, agencies, witnesses, urls)
    check_kept(site)
    layout = Layout(site, tuple(agencies), tuple(witnesses))
    missing = [str(p) for p in layout.parties() if not p.is_dir()]
    if missing:
        raise ConfigError(f"{site} was laid out for other parties (no {', '.join(missing)})")
    for org in agencies:
        issue_log_client_certificate(layout.agency(org), org)
    return layout


def _token(directory: Path, org: str, node_url: str) -> str:
    """A writer token for this run. Those that earlier runs printed, on terminals maybe
    long closed, are revoked: no run leaves a token valid for its whole lifetime."""
    config = GatewayConfig(directory=directory, orgs=(org,), backend="remote", log_url=node_url)
    gateway = open_gateway(config)
    try:
        store = gateway.store(org)
        for held in list_tokens(store):
            if held.label == RUN_LABEL and held.revoked_at is None:
                revoke_token(store, held.token_id)
        return issue_token(store, gateway.org_role(org), GATEWAY_ROLE, RUN_LABEL)[1]
    finally:
        gateway.close()


@contextmanager
def running(
    operator: Path,
    site: Path,
    agencies: Sequence[str],
    witnesses: Sequence[str],
    *,
    sync_interval_s: float = 5.0,
    fresh: bool = False,
    new_ledger: bool = False,
    new_stores: bool = False,
) -> Iterator[Topology]:
    """Lay the site out from the operator's consortium directory (or reuse it, unless
    ``fresh``: then a site laid out before is deleted first, and any other directory
    refused), start the witnesses, the node and the gateways, and stop them all when
    the block ends. The node's ledger is made or opened first (``new_ledger`` as `log
    serve` takes it), and each gateway's stores checked (``new_stores`` as `serve` takes
    it), so that a lost one stops everything before anything starts."""
    if fresh:
        discard(site, operator)
    layout = _prepared(operator, site, agencies, witnesses)
    prepare_ledger(layout.node, new_ledger=new_ledger)
    for org in agencies:
        config = GatewayConfig(directory=layout.agency(org), backend="remote", orgs=(org,))
        prepare_stores(config, new_stores=new_stores)
    with ExitStack() as stack:
        consortium_file = layout.node / CONSORTIUM_FILE
        listed = Consortium.load(consortium_file).witness_urls()
        started: dict[str, Service] = {}
        for org in witnesses:
            port = urllib.parse.urlsplit(listed[org][0]).port
            assert port is not None
            home = layout.witness(org)
            started[org] = start_witness(org, home, port, home / CONSORTIUM_FILE)
            stack.callback(started[org].stop)
        node = start_node(layout.node, free_port())
        stack.callback(node.stop)
        topology = Topology(layout, node, started)
        for org in agencies:
            root = layout.agency(org)
            topology.tokens[org] = _token(root, org, node.url)
            gateway = start_gateway(
                org, root, free_port(), node.url, sync_interval_s=sync_interval_s
            )
            stack.callback(gateway.stop)
            topology.gateways[org] = gateway
        yield topology
