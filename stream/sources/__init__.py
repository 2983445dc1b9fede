"""Video sources: files and network streams (PyAV), cameras (OpenCV), and the URI rules.

The kind of a source comes from its URI alone (:func:`kind_from_uri`), never from whether a
file happens to exist. :func:`open_source` builds the matching :class:`FrameSource`.

Modules, each owning one part:

- :mod:`~stream.sources.uri`: the URI rules (:func:`kind_from_uri`).
- :mod:`~stream.sources.options`: timeouts and reconnect backoff (:class:`SourceOptions`).
- :mod:`~stream.sources.opener`: :func:`open_source`.
- :mod:`~stream.sources.pyav`: decoding helpers shared by files and streams.
- :mod:`~stream.sources.file`: :class:`FileSource`.
- :mod:`~stream.sources.camera`: :class:`CameraSource` and its reader thread.
- :mod:`~stream.sources.network`: :class:`NetworkSource` and its reconnects.
"""

from stream.sources.camera import CameraSource, CaptureDevice, CaptureOpener, open_opencv_capture
from stream.sources.file import FileSource
from stream.sources.network import NetworkSource
from stream.sources.opener import open_source
from stream.sources.options import SourceOptions
from stream.sources.uri import NETWORK_SCHEMES, kind_from_uri

__all__ = [
    "NETWORK_SCHEMES",
    "CameraSource",
    "CaptureDevice",
    "CaptureOpener",
    "FileSource",
    "NetworkSource",
    "SourceOptions",
    "kind_from_uri",
    "open_opencv_capture",
    "open_source",
]
