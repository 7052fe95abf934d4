"""The printed card, for people without a phone: the credential as a QR code (segno),
with what it shows written beside it; and reading the credential back from a photo."""

from __future__ import annotations

import datetime as dt
import io
import warnings
import zlib
from typing import Any

import segno
import zxingcpp
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from ledger_gw.credentials.format import Credential, malformed
from ledger_gw.credentials.verify import Verified

QR_MAGIC = b"LGWC1:"
_MAX_TEXT = 1 << 16
_SCALE = 3  # pixels per module: a version-40 code stays under 600 px, ~5 cm at 300 dpi
_MARGIN = 24
_TEXT_WIDTH = 520
_DPI = 300
# Magic numbers of the image formats a photo or a rendered card comes in.
_IMAGES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF")


def qr_payload(credential: Credential) -> bytes:
    """What the QR code holds: the credential text, deflated (a third smaller, so the code
    is less dense and reads from a worn card), behind a magic prefix."""
    return QR_MAGIC + zlib.compress(credential.text().encode(), 9)


def from_qr_payload(payload: bytes) -> str:
    if not payload.startswith(QR_MAGIC):
        raise malformed("the QR code holds no credential")
    inflate = zlib.decompressobj()
    try:
        text = inflate.decompress(payload[len(QR_MAGIC) :], _MAX_TEXT)
    except zlib.error:
        raise malformed("the QR code's credential is not deflated text") from None
    if inflate.unconsumed_tail or not inflate.eof:
        raise malformed("the QR code's credential is truncated or too large")
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed("the QR code's credential is not UTF-8 text") from None


def qr_code(credential: Credential) -> segno.QRCode:
    """The credential's QR code: byte mode, the highest error correction that fits."""
    try:
        return segno.make_qr(qr_payload(credential), error="l", mode="byte", boost_error=True)
    except segno.DataOverflowError:
        raise malformed("the credential is too large for one QR code") from None


def _lines(verified: Verified) -> list[str]:
    return [
        f"{verified.kind.capitalize()} credential",
        f"Issued by {verified.issuer}",
        f"ID {verified.pid}",
        *(f"{name.replace('_', ' ')}: {value}" for name, value in verified.disclosed.items()),
        _validity(verified.expires),
        f"Ledger entry {verified.binding.index} (tx {verified.binding.tx_id[:12]}...)",
        "",
        "Any member checks it offline:",
        "ledger-gw credential verify <photo>",
    ]


def _validity(expires: dt.datetime) -> str:
    """Until when the card is valid, as people read a card: through its last whole day
    (it expires at the midnight after), else up to the minute it expires (UTC)."""
    if expires.time() == dt.time():
        return f"Valid through {expires - dt.timedelta(days=1):%Y-%m-%d} (UTC)"
    return f"Valid until {expires:%Y-%m-%d %H:%M} UTC"


def card_image(credential: Credential, verified: Verified) -> Image.Image:
    """The card: the QR code on the left, what it shows on the right."""
    buffer = io.BytesIO()
    qr_code(credential).save(buffer, kind="png", scale=_SCALE, border=4)
    code = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    font = ImageFont.load_default(size=22)
    height = max(code.height, 40 * len(_lines(verified))) + 2 * _MARGIN
    card = Image.new("L", (code.width + _TEXT_WIDTH + 3 * _MARGIN, height), 255)
    card.paste(code, (_MARGIN, _MARGIN))
    draw = ImageDraw.Draw(card)
    for n, line in enumerate(_lines(verified)):
        draw.text((code.width + 2 * _MARGIN, _MARGIN + 34 * n), line, fill=0, font=font)
    return card


def render(credential: Credential, verified: Verified, kind: str) -> bytes:
    """The card as a PNG or a one-page PDF (``kind``: "png" or "pdf")."""
    out = io.BytesIO()
    card_image(credential, verified).save(out, format=kind.upper(), resolution=_DPI)
    return out.getvalue()


def is_image(data: bytes) -> bool:
    return data.startswith(_IMAGES)


# A phone's photo or an A4 page scanned at 600 dpi (35 Mpx), not the 179 Mpx Pillow lets
# through; a small PNG of one colour can claim that many.
MAX_PIXELS = 40_000_000


def read_image(data: bytes) -> str:
    """The credential text in a photo or scan of a card; credential_malformed when none."""
    try:
        with warnings.catch_warnings():  # of 89 to 179 Mpx Pillow warns on stderr: refuse
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Any = Image.open(io.BytesIO(data))  # reads the header only
        if image.width * image.height > MAX_PIXELS:
            raise Image.DecompressionBombError  # before a few kB become a gigabyte
        image.load()
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        # ValueError: a header Pillow reads and cannot decode (a BMP of RLE8 at 24 bits)
        raise malformed("the image cannot be read (or is far larger than a photo)") from None
    for found in zxingcpp.read_barcodes(image.convert("L")):
        if found.bytes.startswith(QR_MAGIC):
            return from_qr_payload(found.bytes)
    raise malformed("the image holds no credential QR code")
