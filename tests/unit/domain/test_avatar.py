import struct

import pytest

from coagent.domain.accounts.avatar import AVATAR_MAX_BYTES, ImageType, check_avatar, sniff_image
from coagent.domain.errors import InvalidInput
from tests.unit.images import jpeg_bytes, png_bytes, webp_bytes


@pytest.mark.parametrize(
    ("data", "kind", "extension"),
    [
        (png_bytes(), ImageType.PNG, "png"),
        (jpeg_bytes(), ImageType.JPEG, "jpg"),
        (jpeg_bytes() + b"\x00\x00", ImageType.JPEG, "jpg"),  # zero padding after EOI
        (webp_bytes(b"VP8L"), ImageType.WEBP, "webp"),
        (webp_bytes(b"VP8 "), ImageType.WEBP, "webp"),
        (webp_bytes(b"VP8X"), ImageType.WEBP, "webp"),
    ],
    ids=["png", "jpeg", "jpeg-padded", "webp-lossless", "webp-lossy", "webp-extended"],
)
def test_real_images_are_recognised(data: bytes, kind: ImageType, extension: str) -> None:
    assert sniff_image(data) is kind
    assert check_avatar(data) is kind
    assert kind.extension == extension


def _truncated_webp() -> bytes:
    data = webp_bytes()
    return data[:-4]  # the RIFF header still declares the full size


def _webp_with_wrong_chunk() -> bytes:
    data = webp_bytes()
    return data[:12] + b"ICCP" + data[16:]


NOT_IMAGES = {
    "html": b"<!DOCTYPE html><html><script>alert(1)</script></html>",
    "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
    "png-signature-then-garbage": b"\x89PNG\r\n\x1a\n" + b"<script>alert(1)</script>" * 4,
    "png-ihdr-cut-short": png_bytes()[:33],
    "jpeg-without-eoi": jpeg_bytes()[:-2],
    "jpeg-soi-only": b"\xff\xd8",
    "webp-truncated": _truncated_webp(),
    "webp-size-too-small": b"RIFF" + struct.pack("<I", 4) + webp_bytes()[8:],
    "webp-unknown-chunk": _webp_with_wrong_chunk(),
    "riff-but-wave": webp_bytes().replace(b"WEBP", b"WAVE"),
    "gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
    "text": b"just some text",
}


@pytest.mark.parametrize("data", NOT_IMAGES.values(), ids=NOT_IMAGES.keys())
def test_other_bytes_are_not_images(data: bytes) -> None:
    assert sniff_image(data) is None
    with pytest.raises(InvalidInput, match="JPEG, PNG or WebP"):
        check_avatar(data)


def test_empty_file_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        check_avatar(b"")


def test_size_limit_is_two_megabytes_inclusive() -> None:
    at_limit = png_bytes().ljust(AVATAR_MAX_BYTES, b"\x00")
    assert check_avatar(at_limit) is ImageType.PNG
    with pytest.raises(InvalidInput, match="2 MB"):
        check_avatar(at_limit + b"\x00")


def test_image_types_are_mime_types() -> None:
    assert [str(kind) for kind in ImageType] == ["image/jpeg", "image/png", "image/webp"]
