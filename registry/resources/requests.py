"""What every request is checked against before it reaches a store: the patterns of ids and
region codes, and idempotency (AIP-155): a request id, and the fingerprint that tells a retry
of the same request from another request under the same id. Also the id of a call for its log
line and audit event (x-request-id).

Pure functions over messages and strings; the matcher's service side shares them.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from google.protobuf.message import Message

from registry.access import policy as access
from registry.errors import InvalidArgument

REQUEST_ID = re.compile(r"[A-Za-z0-9_\-.:]{1,100}")
RESOURCE_ID = re.compile(r"[A-Za-z0-9_\-]{1,40}")
REGION_CODE = re.compile(r"[0-9]{0,12}")  # ASCII digits: \d also matches "٣"


def fingerprint(*messages: Message) -> str:
    digest = hashlib.sha256()
    for message in messages:
        digest.update(message.SerializeToString(deterministic=True))
    return digest.hexdigest()


def checked_request_id(request_id: str) -> str:
    """The caller's request_id, checked, as it is stored: scoped to the caller's key, so the
    same id from two keys is two requests, and another caller's id replays nothing and
    clashes with nothing (it reveals nothing). Empty stays empty."""
    if request_id and not REQUEST_ID.fullmatch(request_id):
        raise InvalidArgument.one("request_id", "must be 1-100 letters, digits or _-.:")
    if not request_id:
        return ""
    return scoped("rq-", request_id)


def scoped(prefix: str, request_id: str) -> str:
    """``request_id`` as stored for the calling key: ``prefix`` and a hash of the key and the
    id, so the same id from two keys is two ids (callers' ids here, the split link's own in
    server/grpc_source.py link_scoped)."""
    key = access.current().key_id
    return prefix + hashlib.sha256(f"{key}\n{request_id}".encode()).hexdigest()[:48]


def request_id_of(context: Any) -> str:
    """The caller's x-request-id (at most 100 characters), or a new one."""
    for key, value in context.invocation_metadata():
        if key == "x-request-id" and isinstance(value, str) and len(value) <= 100:
            return value
    return uuid.uuid4().hex
