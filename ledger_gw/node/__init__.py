"""The log node: the embedded ledger served to the agencies' gateways over mutual TLS.

It appends what members sign, signs checkpoints and pushes them to the witnesses; it
holds no organisation's signing key and no personal data (it imports no off-chain store).
"""
