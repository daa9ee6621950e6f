"""Ed25519 signatures of the ledger's head: the checkpoint document, its keys, its check.

A checkpoint says "the entry at seq N had hash H at time T", signed with a private key kept in a
file outside the database (the server's setting ledger_signing_key_file), so that whoever can
rewrite the database cannot make a checkpoint vouch for the rewrite. The document is a small
JSON file that anyone can check with the public key alone: no server, no database
(`fupin aid verify --checkpoint FILE --public-key FILE.pub`).

Pure: the `cryptography` package and JSON, nothing of SQL or gRPC (the CLI imports it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = "fupin-ledger-checkpoint/v1"
_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class CheckpointError(ValueError):
    """A document that is not a checkpoint, or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head_hash: str
    time: str  # UTC, ISO 8601 with microseconds and "Z"
    key_id: str
    public_key: bytes  # raw, 32 bytes
    signature: bytes  # 64 bytes

    def message(self) -> bytes:
        """What is signed: the canonical JSON of the format, seq, head hash, time and key id."""
        return signed_message(self.seq, self.head_hash, self.time, self.key_id)

    def document(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "seq": self.seq,
                "head_hash": self.head_hash,
                "time": self.time,
                "key_id": self.key_id,
                "public_key": base64.b64encode(self.public_key).decode(),
                "signature": base64.b64encode(self.signature).decode(),
            },
            indent=1,
        )


def signed_message(seq: int, head_hash: str, time: str, key_id: str) -> bytes:
    fields = {"format": FORMAT, "seq": seq, "head_hash": head_hash, "time": time, "key_id": key_id}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def key_id(public_key: bytes) -> str:
    """The first 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(*_RAW)


def sign(key: Ed25519PrivateKey, seq: int, head_hash: str, time: str) -> Checkpoint:
    public = public_bytes(key)
    ident = key_id(public)
    signature = key.sign(signed_message(seq, head_hash, time, ident))
    return Checkpoint(seq, head_hash, time, ident, public, signature)


def parse(document: str) -> Checkpoint:
    """The checkpoint of a document whose signature verifies with the public key it names."""
    try:
        data: Any = json.loads(document)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CheckpointError(f"is not a {FORMAT} document")
        checkpoint = Checkpoint(
            seq=_int(data["seq"]),
            head_hash=str(data["head_hash"]),
            time=str(data["time"]),
            key_id=str(data["key_id"]),
            public_key=base64.b64decode(data["public_key"], validate=True),
            signature=base64.b64decode(data["signature"], validate=True),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"is not a checkpoint document ({exc})") from None
    if checkpoint.seq < 1 or len(checkpoint.head_hash) != 64:
        raise CheckpointError("names no entry (seq must be 1 or more, head_hash 64 hex digits)")
    verify(checkpoint)
    return checkpoint


def verify(checkpoint: Checkpoint, trusted: bytes | None = None) -> None:
    """Raise CheckpointError unless the signature verifies (with `trusted`, if given, which
    must then be the key that signed)."""
    if trusted is not None and trusted != checkpoint.public_key:
        raise CheckpointError(
            f"was signed with key {checkpoint.key_id}, not the trusted key {key_id(trusted)}"
        )
    if key_id(checkpoint.public_key) != checkpoint.key_id:
        raise CheckpointError("names a key id that is not its public key's")
    try:
        public = Ed25519PublicKey.from_public_bytes(checkpoint.public_key)
        public.verify(checkpoint.signature, checkpoint.message())
    except (InvalidSignature, ValueError):
        raise CheckpointError("has a signature that does not verify") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckpointError("has a seq that is not an integer")
    return value


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file (`fupin aid keygen`, or
    `openssl genpkey -algorithm ed25519 -out FILE`)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path} holds no Ed25519 private key")
    return key


def load_public_key(path: Path) -> bytes:
    """Raw public key bytes from a PEM file (a public key, or a private key's public half)."""
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        return public_bytes(load_private_key(path))
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{path} holds no Ed25519 public key")
    return public_bytes(key)


def generate(path: Path) -> str:
    """A new private key in `path` (PEM, mode 0600; refuses to overwrite) and its public key in
    `path`.pub; returns the key id."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = key.public_key()
    pub_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path.with_name(path.name + ".pub").write_bytes(pub_pem)
    return key_id(public_bytes(public))
