"""JSON documents in requests and responses, and routing, without gRPC."""

from __future__ import annotations

import zlib

import grpc
import pytest
from propolis.gateway.documents import parse_document, to_json
from propolis.gateway.errors import GatewayError
from propolis.gateway.routing import Router

from propolis.records import encode_key
from tests.gateway.fake_broker import FakeBroker


def test_an_empty_document_means_no_variables():
    assert parse_document("", "variables", 100) == {}


def test_a_json_object_is_parsed():
    assert parse_document('{"a": [1, {"b": null}], "ü": "ß"}', "variables", 100) == {"a": [1, {"b": None}], "ü": "ß"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "Expected to parse 'variables' as a JSON object, but got a list"),
        ("true", "Expected to parse 'variables' as a JSON object, but got a boolean"),
        ("1.5", "Expected to parse 'variables' as a JSON object, but got a number"),
        ("{'a': 1}", "Expected to parse 'variables' as a JSON object, but it is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        ("{} {}", "Expected to parse 'variables' as a JSON object, but it is not valid JSON: Extra data at line 1 column 4"),
    ],
)
def test_a_document_that_is_not_a_json_object_is_invalid_argument_saying_what_was_found(text, message):
    with pytest.raises(GatewayError) as caught:
        parse_document(text, "variables", 100)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message == message


def test_the_size_limit_counts_utf8_bytes_not_characters():
    text = '{"k": "' + "é" * 50 + '"}'  # 59 characters, 109 bytes
    with pytest.raises(GatewayError) as caught:
        parse_document(text, "variables", 100)
    assert caught.value.message == "Expected to parse 'variables' as a JSON object of at most 100 bytes, but it has 109 bytes"
    assert parse_document(text, "variables", 109) == {"k": "é" * 50}


def test_response_documents_are_never_empty():
    assert to_json({}) == "{}"
    assert to_json(None) == "{}"
    assert to_json({"a": 1, "ü": [True]}) == '{"a":1,"ü":[true]}'


def test_commands_on_a_key_go_to_the_partition_in_the_key():
    router = Router(FakeBroker(partition_count=4))
    assert router.for_key(encode_key(3, 17)) == 3
    assert router.for_key(12345) == 1  # a key without a partition


def test_activation_visits_every_partition_starting_at_a_rotating_one():
    router = Router(FakeBroker(partition_count=3))
    orders = [router.activation_order() for _ in range(3)]
    assert orders == [[1, 2, 3], [2, 3, 1], [3, 1, 2]]


def test_a_correlation_key_always_goes_to_the_same_partition():
    router = Router(FakeBroker(partition_count=7))
    assert router.for_correlation_key("order-1") == zlib.crc32(b"order-1") % 7 + 1
    assert router.deployment() == 1
