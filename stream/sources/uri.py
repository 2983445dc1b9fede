"""The URI rules: which kind of source a URI names, from its text alone.

Owns :func:`kind_from_uri`, the network schemes and the camera device pattern; never looks
at whether a file happens to exist.
"""

from __future__ import annotations

import re

from stream.errors import SourceOpenError
from stream.source import SourceKind

NETWORK_SCHEMES = frozenset(
    {"rtsp", "rtsps", "rtmp", "rtmps", "tcp", "udp", "http", "https", "srt"}
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
CAMERA_PATH = re.compile(r"^/dev/video(\d+)$")


def kind_from_uri(uri: str) -> SourceKind:
    """The source kind a URI names, from its text only.

    ``synth:...`` is synthetic; digits or ``/dev/videoN`` a camera; rtsp, rtmp, tcp, udp,
    http(s) and srt URLs a network stream; ``file://`` or a plain path a file.

    Raises:
        SourceOpenError: empty URI or an unknown ``scheme://``.
    """
    text = uri.strip()
    if not text:
        msg = "empty source URI; use a file path, a camera index, synth: or a stream URL"
        raise SourceOpenError(msg)
    if text.startswith("synth:"):
        return SourceKind.SYNTH
    if text.isdigit() or CAMERA_PATH.match(text):
        return SourceKind.CAMERA
    scheme = _SCHEME.match(text)
    if scheme is None or scheme.group(1).lower() == "file":
        return SourceKind.FILE
    if scheme.group(1).lower() in NETWORK_SCHEMES:
        return SourceKind.NETWORK
    msg = (
        f"unknown source scheme '{scheme.group(1)}://' in {uri!r}; use a file path, "
        "a camera index, synth: or one of rtsp/rtmp/tcp/udp/http(s)"
    )
    raise SourceOpenError(msg)
