"""The hot routes' answers made without Starlette's generic ``Response.__init__``, and service ids made without
``uuid.UUID``: the same headers, the same kind of id."""

from __future__ import annotations

import uuid

import pytest
from starlette.responses import Response

from placement.router.answers import JSONBody
from placement.router.reservation import uuid4_hex


@pytest.mark.parametrize("status", [200, 201, 409])
def test_a_json_body_has_the_headers_starlettes_response_gives_it(status):
    body = b'{"cluster_id": "eu-west-1", "node": null, "warnings": ["\\u00e9"]}'
    made = JSONBody(body, status)
    generic = Response(body, status, media_type="application/json")
    assert made.raw_headers == generic.raw_headers
    assert (made.status_code, made.body, made.background, made.media_type) == (
        generic.status_code,
        generic.body,
        generic.background,
        generic.media_type,
    )
    assert made.headers == generic.headers


def test_a_service_ids_hex_is_a_random_version_4_uuid():
    ids = [uuid4_hex() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        assert len(text) == 32
        parsed = uuid.UUID(hex=text)
        assert parsed.hex == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    # Every other bit is random: each of the 122 free bits is seen both set and clear.
    fixed = (0xF000 << 64) | (0xC000 << 48)
    ones = zeros = 0
    for text in ids:
        n = int(text, 16)
        ones |= n
        zeros |= ~n
    free = ((1 << 128) - 1) & ~fixed
    assert ones & free == free
    assert zeros & free == free
