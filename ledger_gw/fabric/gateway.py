"""`FabricLedger`: the Ledger protocol over the Fabric Gateway gRPC API.

Writes go Endorse → Submit → CommitStatus; queries go to Evaluate. The caller's
`SignedTransaction` is checked against its certificate, then re-expressed as a Fabric
proposal with the same nonce, timestamp, function and arguments and signed with that
organisation's key (the gateway of an agency holds its own key, as in Fabric's clients).

Retries never send a transaction ID with other content: an endorsement or a submission
that failed for transport reasons is retried with the very same signed bytes; an MVCC
conflict (the transaction was ordered but invalidated) is retried as a new transaction
with a fresh nonce, which the contract's event-ID idempotency makes safe.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc

from ledger_gw import protos as pb
from ledger_gw.audit.fabric_blocks import (
    EndorsementPolicy,
    Evidence,
    block_number_of,
    compact,
    configs_in_force,
)
from ledger_gw.errors import (
    AuthenticationError,
    ConfigError,
    RejectedError,
)
from ledger_gw.fabric.errors import (
    DuplicateTransactionError,
    failure_of,
    to_ledger_error,
    validation_error,
)
from ledger_gw.fabric.proposal import (
    BuiltProposal,
    FabricSigner,
    build_proposal,
    new_nonce,
    read_prepared_transaction,
    sign_envelope,
    signed_chaincode_events_request,
    signed_commit_status_request,
)
from ledger_gw.identity import Signer, load_certificate, verify_low_s
from ledger_gw.interfaces import Outcome
from ledger_gw.transaction import SignedTransaction

_log = logging.getLogger(__name__)
T = TypeVar("T")

VALID = 0  # peer.TxValidationCode.VALID
MVCC_CODES = frozenset({"MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT"})


@dataclass(frozen=True)
class PeerEndpoint:
    address: str  # host:port of the peer's gateway service
    tls_root_cert: bytes  # PEM of the TLS CA that signed the peer's server certificate
    server_name: str | None = None  # TLS name to expect when it differs from the host


@dataclass(frozen=True)
class FabricProfile:
    """Where the network is: written by `network/network.sh up` as profile.json."""

    channel: str
    chaincode: str
    peers: dict[str, PeerEndpoint]  # organisation (MSP ID) → its peer
    default_peer: str  # organisation whose peer serves members that run none
    workspace: Path | None = None
    policy: EndorsementPolicy | None = None  # what the chaincode was committed with
    # Members whose witness keys live with this gateway: they state, signed, which
    # transactions their own peers found valid (ledger_gw.fabric.validity).
    validity_keys: dict[str, Path] = field(default_factory=dict)
    # Where the other members' gateways answer for their statements (organisation → URL).
    validity_urls: dict[str, str] = field(default_factory=dict)
    timeouts: dict[str, float] = field(
        default_factory=lambda: {"evaluate": 15.0, "endorse": 30.0, "submit": 15.0, "commit": 60.0}
    )

    @classmethod
    def load(cls, path: Path) -> FabricProfile:
        try:
            data = json.loads(path.read_text())
            base = path.parent
            peers = {
                org: PeerEndpoint(
                    p["address"], (base / p["tls_root_cert"]).read_bytes(), p.get("server_name")
                )
                for org, p in data["peers"].items()
            }
            ws = data.get("workspace")
            policy = data.get("endorsement_policy")
            return cls(
                channel=data["channel"],
                chaincode=data["chaincode"],
                peers=peers,
                default_peer=data.get("default_peer", next(iter(peers))),
                workspace=(base / ws) if ws else None,
                policy=None
                if policy is None
                else EndorsementPolicy(int(policy["required"]), frozenset(policy["among"])),
                validity_keys={
                    str(org): base / str(key) for org, key in data.get("validity_keys", {}).items()
                },
                validity_urls={
                    str(org): str(url).rstrip("/")
                    for org, url in data.get("validity_urls", {}).items()
                },
            )
        except (OSError, KeyError, ValueError, StopIteration, TypeError, AttributeError) as exc:
            # TypeError, AttributeError: valid JSON of another shape (a list, a string)
            raise ConfigError(f"cannot read Fabric profile {path}: {exc}") from exc

    def endpoint_for(self, org_id: str) -> PeerEndpoint:
        return self.peers.get(org_id) or self.peers[self.default_peer]


@dataclass(frozen=True)
class Retry:
    attempts: int = 4
    backoff: float = 0.2  # seconds, doubled after each attempt


class FabricLedger:
    """A `Ledger` on a Fabric channel, through the peers' Gateway service."""

    def __init__(
        self,
        profile: FabricProfile,
        signers: Mapping[str, Signer],
        *,
        retry: Retry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.profile = profile
        self.retry = retry or Retry()
        self._sleep = sleep
        self._by_cert: dict[str, FabricSigner] = {
            s.cert_pem: FabricSigner(org_id, s.cert_pem, s.key) for org_id, s in signers.items()
        }
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()
        # Read-your-writes across peers: a write is confirmed by the submitter's peer,
        # and another organisation's peer may be a block behind for a moment.
        self._committed_height = 0
        self._peer_height: dict[str, int] = {}
        # One height query per peer at a time: callers waiting on the same peer share
        # its answer instead of each asking (under load, one per block, not one per call).
        self._height_locks: dict[str, threading.Lock] = {}

    # -- connections -------------------------------------------------------------------

    def _gateway(self, org_id: str) -> Any:
        endpoint = self.profile.endpoint_for(org_id)
        with self._lock:
            channel = self._channels.get(endpoint.address)
            if channel is None:
                credentials = grpc.ssl_channel_credentials(root_certificates=endpoint.tls_root_cert)
                options: list[tuple[str, Any]] = [
                    ("grpc.max_receive_message_length", 100 * 1024 * 1024),
                    ("grpc.keepalive_time_ms", 60_000),
                ]
                if endpoint.server_name:
                    options.append(("grpc.ssl_target_name_override", endpoint.server_name))
                channel = grpc.secure_channel(endpoint.address, credentials, options=options)
                self._channels[endpoint.address] = channel
        return pb.gateway_grpc.GatewayStub(channel)

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()

    # -- identity ----------------------------------------------------------------------

    def _signer_for(self, tx: SignedTransaction) -> FabricSigner:
        signer = self._by_cert.get(tx.proposal.creator)
        if signer is None:
            raise AuthenticationError(
                "this gateway holds no Fabric identity for the transaction's certificate",
                code="unknown_identity",
            )
        public_key: Any = load_certificate(signer.cert_pem).public_key()
        verify_low_s(public_key, tx.signature, tx.proposal.payload)
        return signer

    def _proposal(self, tx: SignedTransaction, signer: FabricSigner, nonce: bytes) -> BuiltProposal:
        return build_proposal(
            creator=signer.creator,
            channel=self.profile.channel,
            chaincode=self.profile.chaincode,
            function=tx.proposal.function,
            args=tx.proposal.contract_args(),
            nonce=nonce,
            timestamp=tx.proposal.time,
        )

    def _call(self, what: str, attempt: Callable[[], T]) -> T:
        """Run one Gateway call, retrying only failures that left nothing behind."""
        delay = self.retry.backoff
        for n in range(1, self.retry.attempts + 1):
            try:
                return attempt()
            except grpc.RpcError as error:
                failure = failure_of(error)
                if not failure.retryable or n == self.retry.attempts:
                    raise to_ledger_error(failure, what) from None
                _log.info("%s failed (%s), retrying: %s", what, failure.code.name, failure.text())
                self._sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reading -----------------------------------------------------------------------

    def _signed_proposal(self, tx: SignedTransaction) -> tuple[str, Any, Any]:
        """(transaction ID, signed Fabric proposal, the signer's peer gateway stub)."""
        signer = self._signer_for(tx)
        built = self._proposal(tx, signer, base64.b64decode(tx.proposal.nonce))
        return built.tx_id, built.signed(signer), self._gateway(signer.msp_id)

    def _catch_up(self, org_id: str, wait: float = 3.0) -> None:
        """Wait until `org_id`'s peer holds every block this client saw committed."""
        target = self._committed_height
        if self._peer_height.get(org_id, 0) >= target:
            return
        with self._lock:
            asking = self._height_locks.setdefault(org_id, threading.Lock())
        deadline = time.monotonic() + wait
        while True:
            with asking:
                if self._peer_height.get(org_id, 0) < target:  # no one asked since
                    height = self._chain_height(org_id)
                    with self._lock:
                        known = self._peer_height.get(org_id, 0)
                        self._peer_height[org_id] = max(known, height)
            if self._peer_height.get(org_id, 0) >= target or time.monotonic() > deadline:
                return
            self._sleep(0.05)

    def evaluate(self, tx: SignedTransaction) -> Any:
        self._catch_up(self._signer_for(tx).msp_id)
        tx_id, signed, gateway = self._signed_proposal(tx)
        request = pb.gateway.EvaluateRequest(
            transaction_id=tx_id, channel_id=self.profile.channel, proposed_transaction=signed
        )
        timeout = self.profile.timeouts["evaluate"]
        response = self._call("evaluate", lambda: gateway.Evaluate(request, timeout=timeout))
        return json.loads(response.result.payload)

    def probe_endorsement(self, tx: SignedTransaction, orgs: Sequence[str] = ()) -> None:
        """Endorse a read-only query without submitting it. With no ``orgs``, the signer's
        peer plans with discovery and the chaincode's endorsement policy: this succeeds
        only once writes can work. With ``orgs``, it asks a peer of each of them: this
        succeeds only once discovery knows every one of them runs the chaincode."""
        tx_id, signed, gateway = self._signed_proposal(tx)
        request = pb.gateway.EndorseRequest(
            transaction_id=tx_id,
            channel_id=self.profile.channel,
            proposed_transaction=signed,
            endorsing_organizations=list(orgs),
        )
        timeout = self.profile.timeouts["endorse"]
        self._call("endorse", lambda: gateway.Endorse(request, timeout=timeout))

    # -- writing -----------------------------------------------------------------------

    def submit(self, tx: SignedTransaction) -> dict[str, Any]:
        return self.submit_many([tx])[0].unwrap()

    def submit_many(self, txs: Sequence[SignedTransaction]) -> list[Outcome]:
        """In order, each committed (or refused) before the next is endorsed."""
        return [self._submit_one(tx) for tx in txs]

    def _submit_one(self, tx: SignedTransaction) -> Outcome:
        try:
            signer = self._signer_for(tx)
        except AuthenticationError as error:
            return Outcome(tx.tx_id, None, error)
        nonce = base64.b64decode(tx.proposal.nonce)
        for attempt in range(1, self.retry.attempts + 1):
            built = self._proposal(tx, signer, nonce)
            try:
                outcome = self._endorse_submit_commit(built, signer)
            except DuplicateTransactionError:
                # The same signed transaction was submitted before (a caller's retry after
                # an uncertain outcome). Ask again under a new ID: the contract's event-ID
                # idempotency answers with the original result and writes nothing.
                _log.info("transaction %s was already submitted; asking again", built.tx_id)
                nonce = new_nonce()
                continue
            except RejectedError as error:
                return Outcome(built.tx_id, None, error)
            if outcome is not None:
                return outcome
            # MVCC conflict: nothing took effect; a new transaction (new nonce, new ID).
            _log.info("transaction %s hit an MVCC conflict (attempt %d)", built.tx_id, attempt)
            nonce = new_nonce()
        return Outcome(
            built.tx_id,
            None,
            validation_error("MVCC_READ_CONFLICT", built.tx_id),
        )

    def _endorse_submit_commit(self, built: BuiltProposal, signer: FabricSigner) -> Outcome | None:
        # The contract runs on the signer's peer first: one that has not yet caught up with
        # a write this client saw committed (another member's, say) would not find it.
        self._catch_up(signer.msp_id)
        gateway = self._gateway(signer.msp_id)
        channel = self.profile.channel
        t = self.profile.timeouts
        endorse = pb.gateway.EndorseRequest(
            transaction_id=built.tx_id,
            channel_id=channel,
            proposed_transaction=built.signed(signer),
        )
        endorsed = self._call("endorse", lambda: gateway.Endorse(endorse, timeout=t["endorse"]))
        prepared = endorsed.prepared_transaction
        result = read_prepared_transaction(prepared)
        payload = json.loads(result.payload)
        if result.writes == 0:
            # An idempotent replay: the contract returned the original result and wrote
            # nothing, so there is nothing to order (as on the embedded ledger).
            return Outcome(built.tx_id, payload)
        submit = pb.gateway.SubmitRequest(
            transaction_id=built.tx_id,
            channel_id=channel,
            prepared_transaction=sign_envelope(prepared, signer),
        )
        self._call("submit", lambda: gateway.Submit(submit, timeout=t["submit"]))
        status_request = signed_commit_status_request(channel, built.tx_id, signer)
        status = self._call(
            "commit status", lambda: gateway.CommitStatus(status_request, timeout=t["commit"])
        )
        if status.result == VALID:
            block = int(status.block_number)
            with self._lock:  # only ever raised: concurrent commits may report out of order
                self._committed_height = max(self._committed_height, block + 1)
                self._peer_height[signer.msp_id] = max(
                    self._peer_height.get(signer.msp_id, 0), block + 1
                )
            return Outcome(built.tx_id, payload, position=block)
        name = pb.transaction.TxValidationCode.Name(status.result)
        if name in MVCC_CODES:
            return None
        raise validation_error(name, built.tx_id)

    # -- blocks (qscc, through the gateway's Evaluate) -------------------------------------

    def _qscc_signer(self, org_id: str | None) -> FabricSigner:
        signers = list(self._by_cert.values())
        return next((s for s in signers if s.msp_id == org_id), signers[0])

    def _caught_up(self, org_id: str | None) -> str:
        """The organisation whose peer answers, once it holds every block this client saw
        committed: a block read right after a write finds that write, as `evaluate` does."""
        reader = self._qscc_signer(org_id).msp_id
        self._catch_up(reader)
        return reader

    def _qscc(self, function: str, *args: str, org_id: str | None = None) -> bytes:
        signer = self._qscc_signer(org_id)
        built = build_proposal(
            creator=signer.creator,
            channel=self.profile.channel,
            chaincode="qscc",
            function=function,
            args=[a.encode() for a in (self.profile.channel, *args)],
            nonce=new_nonce(),
            timestamp=dt.datetime.now(dt.UTC),
        )
        request = pb.gateway.EvaluateRequest(
            transaction_id=built.tx_id,
            channel_id=self.profile.channel,
            proposed_transaction=built.signed(signer),
        )
        gateway = self._gateway(signer.msp_id)
        timeout = self.profile.timeouts["evaluate"]
        response = self._call(
            f"qscc {function}", lambda: gateway.Evaluate(request, timeout=timeout)
        )
        return bytes(response.result.payload)

    def _chain_height(self, org_id: str | None) -> int:
        info = pb.common_ledger.BlockchainInfo.FromString(self._qscc("GetChainInfo", org_id=org_id))
        return int(info.height)

    def height(self, org_id: str | None = None) -> int:
        """The channel's height at ``org_id``'s peer, never below a block this client saw
        committed: an anchor taken right after a write covers that write."""
        return self._chain_height(self._caught_up(org_id))

    def size(self) -> int:
        """Blocks on the channel (the embedded ledger counts log entries)."""
        return self.height()

    def ready(self) -> dict[str, str]:
        return {"ledger": f"height {self.height()}"}

    def block(self, number: int, org_id: str | None = None) -> bytes:
        return self._qscc("GetBlockByNumber", str(number), org_id=self._caught_up(org_id))

    def block_of(self, tx_id: str, org_id: str | None = None) -> bytes:
        return self._qscc("GetBlockByTxID", tx_id, org_id=self._caught_up(org_id))

    def evidence(self, tx_id: str, org_id: str | None = None) -> Evidence:
        """The genesis block, the configuration blocks in force at the transaction's block,
        that block, and each later block's header and orderer signatures up to the head,
        as read from `org_id`'s peer (the auditor's own, typically)."""
        org_id = self._caught_up(org_id)
        first = self.block_of(tx_id, org_id)
        start = block_number_of(first)
        head = self.height(org_id) - 1
        later = (compact(self.block(n, org_id)) for n in range(start + 1, head + 1))
        blocks = [first, *later]
        configs = configs_in_force(lambda n: first if n == start else self.block(n, org_id), start)
        return Evidence(
            self.profile.channel, tx_id, self.block(0, org_id), tuple(blocks), tuple(configs)
        )

    # -- events ------------------------------------------------------------------------

    def chaincode_events(
        self,
        org_id: str,
        signer: Signer,
        start_block: int | None = None,
        timeout: float | None = None,
    ) -> Iterator[tuple[int, str, str, bytes]]:
        """(block, tx ID, event name, payload) as blocks commit, until `timeout` seconds
        have passed (forever when None: iterate in a thread)."""
        fabric_signer = FabricSigner(org_id, signer.cert_pem, signer.key)
        request = signed_chaincode_events_request(
            self.profile.channel, self.profile.chaincode, fabric_signer, start_block
        )
        try:
            for response in self._gateway(org_id).ChaincodeEvents(request, timeout=timeout):
                for event in response.events:
                    yield (
                        int(response.block_number),
                        event.tx_id,
                        event.event_name,
                        bytes(event.payload),
                    )
        except grpc.RpcError as error:
            failure = failure_of(error)
            if failure.code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED):
                return
            raise to_ledger_error(failure, "chaincode events") from None


__all__ = ["FabricLedger", "FabricProfile", "PeerEndpoint", "Retry"]
