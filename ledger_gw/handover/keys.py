"""Each organisation's hand-over key: an X25519 key pair whose public half the consortium
file publishes, so that a sender seals to the key the members agreed on, never to one a
peer hands it at the time."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from ledger_gw.errors import ConfigError
from ledger_gw.files import read_secret

KEY_BYTES = 32


def generate() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def private_pem(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private(path: Path) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(read_secret(path, "hand-over key"), None)
    except ValueError as exc:
        raise ConfigError(f"cannot read hand-over key {path}: {exc}") from exc
    if not isinstance(key, X25519PrivateKey):
        raise ConfigError(f"{path} is not an X25519 key")
    return key


def public_text(key: X25519PublicKey) -> str:
    """The published form: the raw 32 bytes in base64."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def parse_public(org_id: str, text: str) -> X25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"{org_id}'s hand-over key is not a base64 X25519 public key")
    return X25519PublicKey.from_public_bytes(raw)
