"""The ledger's rules: event schemas, authorisation, state machines, queries.

Pure and deterministic: everything is decided from the stub (state, creator,
transaction ID and time), so the same code runs in the embedded ledger and as
Hyperledger Fabric chaincode.
"""
