"""Avatar images are recognised by their bytes, never by what the client declares."""

from enum import StrEnum

from coagent.domain.errors import InvalidInput

AVATAR_MAX_BYTES = 2 * 1024 * 1024


class ImageType(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"
    WEBP = "image/webp"

    @property
    def extension(self) -> str:
        return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}[self.value]


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sniff_image(data: bytes) -> ImageType | None:
    """Return the image type the bytes really are, or None.

    Checks the structure beyond the first bytes: a PNG must start with its IHDR chunk, a JPEG
    must open with SOI and a marker and end with EOI, a WebP must be a RIFF container of the
    declared size holding a VP8, VP8L or VP8X chunk.
    """
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) > 33:
        return ImageType.PNG
    if data[:3] == b"\xff\xd8\xff" and data.rstrip(b"\x00")[-2:] == b"\xff\xd9":
        return ImageType.JPEG
    if (
        len(data) >= 20
        and data[:4] == b"RIFF"
        and data[8:12] == b"WEBP"
        and data[12:16] in (b"VP8 ", b"VP8L", b"VP8X")
        and int.from_bytes(data[4:8], "little") + 8 == len(data)
    ):
        return ImageType.WEBP
    return None


def check_avatar(data: bytes) -> ImageType:
    if not data:
        raise InvalidInput("The file is empty")
    if len(data) > AVATAR_MAX_BYTES:
        raise InvalidInput("Avatar must be at most 2 MB")
    kind = sniff_image(data)
    if kind is None:
        raise InvalidInput("Avatar must be a JPEG, PNG or WebP image")
    return kind
