"""Small generated media files for tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

FFMPEG = shutil.which("ffmpeg")


def write_mp4(
    path: Path,
    *,
    frames: int = 30,
    size: tuple[int, int] = (320, 240),
    rate: Fraction = Fraction(30000, 1001),
    is_faststart: bool = False,
) -> Path:
    """A small H.264 MP4 whose frame i is a flat grey of level 8*i."""
    options = {"movflags": "faststart"} if is_faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(frames):
            image = np.full((size[1], size[0], 3), (index * 8) % 256, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.005)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def is_listening(port: int) -> bool:
    # connecting would use up ffmpeg's single accept, so look at the kernel's table instead
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
                return True
    return False


class FfmpegPeer:
    """An ffmpeg test-pattern stream served once on tcp://127.0.0.1:port (listen=1)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.uri = f"tcp://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._timers: list[threading.Timer] = []

    def start(self, size: str = "320x240") -> None:
        command = (
            f"{FFMPEG} -hide_banner -loglevel error -re -f lavfi -i testsrc=size={size}:rate=25 "
            "-c:v libx264 -preset ultrafast -tune zerolatency -g 25 "
            f"-f mpegts {self.uri}?listen=1"
        )
        self._process = subprocess.Popen(
            command.split(),
            stdin=subprocess.DEVNULL,
        )
        wait_until(lambda: is_listening(self.port))

    def start_later(self, delay_s: float, size: str) -> None:
        timer = threading.Timer(delay_s, self.start, args=(size,))
        self._timers.append(timer)
        timer.start()

    def close(self) -> None:
        """Cancel pending restarts (a late one would wait forever for a client), then kill."""
        for timer in self._timers:
            timer.cancel()
            timer.join()
        self.kill()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=5)
            self._process = None
