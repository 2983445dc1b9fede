"""Opening a source: the :class:`FrameSource` matching a URI's kind (:func:`open_source`)."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from stream.errors import SourceOpenError
from stream.source import FrameSource, SourceDropCallback, SourceKind
from stream.sources.camera import CameraSource
from stream.sources.file import FileSource
from stream.sources.network import NetworkSource
from stream.sources.options import SourceOptions
from stream.sources.uri import kind_from_uri
from stream.synth.params import parse_synth_uri
from stream.synth.source import SynthSource


def open_source(
    uri: str,
    kind: SourceKind | None,
    options: SourceOptions,
    on_drop: SourceDropCallback,
) -> FrameSource:
    """Open the source a URI names.

    Args:
        uri: file path, ``file://`` URL, camera index, ``/dev/videoN``, stream URL or ``synth:``.
        kind: force a kind; None derives it from the URI.
        options: timeouts and reconnect backoff (live sources), decoder threads.
        on_drop: told about frames the source itself drops (stale or undecodable); may be
            called from the camera reader thread.

    Raises:
        SourceOpenError: the source cannot be opened; the message says why and what to do.
    """
    kind = kind_from_uri(uri) if kind is None else kind
    if kind is SourceKind.SYNTH:
        try:
            return SynthSource(parse_synth_uri(uri))
        except ValueError as exc:
            raise SourceOpenError(str(exc)) from exc
    if kind is SourceKind.CAMERA:
        return CameraSource(uri, options, on_drop)
    if kind is SourceKind.NETWORK:
        return NetworkSource(uri, options, on_drop)
    path = unquote(urlparse(uri).path) if uri.startswith("file://") else uri
    return FileSource(path, on_drop, options.decode_threads)
