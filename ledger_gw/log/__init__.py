"""The verifiable log's core, on plain values: no storage, no network.

RFC 6962 Merkle trees and proofs, C2SP signed notes, checkpoints and cosignatures, and
the entry that becomes a leaf. Backends store and fetch; this package only computes.
"""
