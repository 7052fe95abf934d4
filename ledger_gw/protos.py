"""The official Fabric protocol buffers, imported once (the generated code is untyped).

`hyperledger-fabric-protos` is pinned exactly in pyproject's `fabric` extra: generated
protobuf code is tied to the protobuf runtime it was generated for (5.28.1 here).
"""

from __future__ import annotations

try:
    from fabric_protos.common import common_pb2 as common
    from fabric_protos.common import configtx_pb2 as configtx
    from fabric_protos.common import ledger_pb2 as common_ledger
    from fabric_protos.common import policies_pb2 as policies
    from fabric_protos.gateway import gateway_pb2 as gateway
    from fabric_protos.gateway import gateway_pb2_grpc as gateway_grpc
    from fabric_protos.ledger.queryresult import kv_query_result_pb2 as queryresult
    from fabric_protos.ledger.rwset import rwset_pb2 as rwset
    from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2 as kvrwset
    from fabric_protos.msp import identities_pb2 as identities
    from fabric_protos.msp import msp_config_pb2 as msp_config
    from fabric_protos.msp import msp_principal_pb2 as msp_principal
    from fabric_protos.orderer import ab_pb2 as orderer_ab
    from fabric_protos.peer import chaincode_event_pb2 as chaincode_event
    from fabric_protos.peer import chaincode_pb2 as chaincode
    from fabric_protos.peer import chaincode_shim_pb2 as shim
    from fabric_protos.peer import chaincode_shim_pb2_grpc as shim_grpc
    from fabric_protos.peer import proposal_pb2 as proposal
    from fabric_protos.peer import proposal_response_pb2 as proposal_response
    from fabric_protos.peer import transaction_pb2 as transaction
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the Fabric backend needs the `fabric` extra: pip install 'referral-ledger[fabric]'"
    ) from exc

__all__ = [
    "chaincode",
    "chaincode_event",
    "common",
    "common_ledger",
    "configtx",
    "gateway",
    "gateway_grpc",
    "identities",
    "kvrwset",
    "msp_config",
    "msp_principal",
    "orderer_ab",
    "policies",
    "proposal",
    "proposal_response",
    "queryresult",
    "rwset",
    "shim",
    "shim_grpc",
    "transaction",
]
