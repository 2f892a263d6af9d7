import http
import re

import pytest

from microasgi import status

_NAME_RE = re.compile(r"(HTTP|WS)_(\d+)_[A-Z_]+")


def test_every_constant_equals_the_code_in_its_name() -> None:
    names = [name for name in vars(status) if _NAME_RE.fullmatch(name)]
    assert len(names) > 70
    for name in names:
        match = _NAME_RE.fullmatch(name)
        assert match is not None
        assert getattr(status, name) == int(match.group(2)), name


def test_all_lists_exactly_the_constants() -> None:
    constants = {name for name in vars(status) if _NAME_RE.fullmatch(name)}
    assert set(status.__all__) == constants
    assert len(status.__all__) == len(constants)
    assert status.__all__ == sorted(status.__all__)


@pytest.mark.parametrize(
    ("name", "code"),
    [pytest.param(name, code.value, id=name) for name, code in http.HTTPStatus.__members__.items()],
)
def test_every_http_status_of_this_python_has_a_constant(name: str, code: int) -> None:
    assert getattr(status, f"HTTP_{code}_{name}") == code


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("HTTP_200_OK", 200),
        ("HTTP_404_NOT_FOUND", 404),
        ("HTTP_405_METHOD_NOT_ALLOWED", 405),
        ("HTTP_413_CONTENT_TOO_LARGE", 413),
        ("HTTP_414_URI_TOO_LONG", 414),
        ("HTTP_416_RANGE_NOT_SATISFIABLE", 416),
        ("HTTP_422_UNPROCESSABLE_CONTENT", 422),
        ("HTTP_413_REQUEST_ENTITY_TOO_LARGE", 413),
        ("HTTP_422_UNPROCESSABLE_ENTITY", 422),
    ],
)
def test_rfc_9110_names_and_legacy_aliases(name: str, code: int) -> None:
    assert getattr(status, name) == code


def test_websocket_close_codes() -> None:
    expected = {
        "WS_1000_NORMAL_CLOSURE": 1000,
        "WS_1001_GOING_AWAY": 1001,
        "WS_1002_PROTOCOL_ERROR": 1002,
        "WS_1003_UNSUPPORTED_DATA": 1003,
        "WS_1005_NO_STATUS_RCVD": 1005,
        "WS_1006_ABNORMAL_CLOSURE": 1006,
        "WS_1007_INVALID_FRAME_PAYLOAD_DATA": 1007,
        "WS_1008_POLICY_VIOLATION": 1008,
        "WS_1009_MESSAGE_TOO_BIG": 1009,
        "WS_1010_MANDATORY_EXT": 1010,
        "WS_1011_INTERNAL_ERROR": 1011,
        "WS_1012_SERVICE_RESTART": 1012,
        "WS_1013_TRY_AGAIN_LATER": 1013,
        "WS_1014_BAD_GATEWAY": 1014,
        "WS_1015_TLS_HANDSHAKE": 1015,
    }
    actual = {name: getattr(status, name) for name in status.__all__ if name.startswith("WS_")}
    assert actual == expected
