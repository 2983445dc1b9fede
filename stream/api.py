"""The Python API: track the ball in a source, or in frames you push, from your own code.

Two ways in, both over the same parts the ``ballwatch`` command uses:

- :func:`track` runs the whole pipeline (``app.run``: capture, perception, render and
  any configured outputs, in their threads) on a source and yields one
  :class:`BallPoint` per frame, in order. Leaving the loop early stops the run
  gracefully (outputs finalized). The CLI's ``run`` command is ``app.run`` plus printing.
- :class:`BallTracker` takes your own BGR frames one at a time (no threads), for a
  program that already has its frames.

Results convert to ``supervision.Detections`` (:meth:`BallPoint.to_detections`) so
supervision's annotators and sinks work on them. A composition root like ``app.py``:
it may import from perception and overlays.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
from numpy.typing import NDArray

from configs.app_config import AppConfig, load_config, preset_path
from overlays.drawers import BallMarker, Trail
from overlays.output import Drawer
from perception.at_rest import RestLook
from perception.detector import Detector
from perception.result import FrameResult, TrackStatus
from perception.search import BallSearch
from perception.search_and_track import SearchAndTrack
from perception.still import StillBall, StillFinder
from stream import app
from stream.control import PlaybackControl
from stream.frame import Frame
from stream.noise import hide_library_noise

DEFAULT_BOX_PX = 12.0  # side of the box around the ball centre in to_detections()
_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class BallPoint:
    """The ball on one frame.

    Attributes:
        frame_index: 0-based index of the frame in the source.
        pts_s: the frame's presentation time in seconds.
        status: ``seen``, ``predicted`` (coasting between detections), ``rest`` (lying
            still where its track ended) or ``lost``.
        x: ball centre x in pixels (None when lost).
        y: ball centre y in pixels (None when lost).
        confidence: the detector's score when seen (the colour model's at rest), else 0.
        image: the source frame, BGR ``uint8`` ``(H, W, 3)``.
        drawn: the frame with ballwatch's overlay, when asked for (``draw=True``).
    """

    frame_index: int
    pts_s: float
    status: str
    x: float | None
    y: float | None
    confidence: float
    image: NDArray[np.uint8]
    drawn: NDArray[np.uint8] | None = None

    @classmethod
    def from_result(cls, result: FrameResult, drawn: NDArray[np.uint8] | None) -> BallPoint:
        """The public view of a pipeline result."""
        ball = result.ball
        x, y = (ball.x, ball.y) if ball.has_position else (None, None)
        return cls(
            frame_index=result.frame.index,
            pts_s=result.frame.pts_s,
            status=str(ball.status),
            x=x,
            y=y,
            confidence=ball.confidence,
            image=result.frame.image,
            drawn=drawn,
        )

    def to_detections(self, box_px: float = DEFAULT_BOX_PX) -> sv.Detections:
        """The ball as ``supervision.Detections``: one box of side ``box_px``, or none.

        ``class_id`` 0 (ball), ``tracker_id`` 1 (there is one ball), ``data["status"]``.
        """
        if self.x is None or self.y is None:
            return sv.Detections.empty()
        half = box_px / 2.0
        return sv.Detections(
            xyxy=np.array([[self.x - half, self.y - half, self.x + half, self.y + half]]),
            confidence=np.array([self.confidence]),
            class_id=np.array([0]),
            tracker_id=np.array([1]),
            data={"status": np.array([self.status])},
        )


def configure(
    source: str | None = None, config: str | Path = "default", **overrides: Any
) -> AppConfig:
    """A preset (name or YAML path) with ``section__field=value`` overrides applied.

    ``configure("clip.mp4", detector__threshold=0.4)`` is ``--set detector.threshold=0.4``.

    Raises:
        ConfigError: an unknown field or a bad value (the message names it).
    """
    dotted: dict[str, Any] = {key.replace("__", "."): value for key, value in overrides.items()}
    if source is not None:
        dotted["source"] = source
    return load_config(preset_path(str(config)), dotted)


class _PointQueue:
    """The render thread's output to :func:`track`'s caller (bounded: it waits for them)."""

    def __init__(self, control: PlaybackControl, *, keep_drawn: bool) -> None:
        self._control = control
        self._keep_drawn = keep_drawn
        self.points: queue.Queue[BallPoint | None] = queue.Queue(maxsize=8)

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        point = BallPoint.from_result(result, image if self._keep_drawn else None)
        while not self._control.stop_requested:  # the caller left: drop the rest
            try:
                self.points.put(point, timeout=_POLL_S)
            except queue.Full:
                continue
            return

    def close(self) -> None:
        """Nothing to release; the end is signalled when the run returns."""


def track(
    source: str | AppConfig,
    *,
    draw: bool = False,
    detector: Detector | None = None,
) -> Iterator[BallPoint]:
    """Run the pipeline on ``source`` and yield the ball of every frame, in order.

    Args:
        source: a URI as the CLI takes it (file, camera index, ``rtsp://…``,
            ``synth:?…``) run with the default preset, or an :class:`AppConfig`
            from :func:`configure`, whose outputs (video, CSV, window…) also run.
        draw: keep each frame with ballwatch's overlay in :attr:`BallPoint.drawn`.
        detector: an already loaded detector (else the configured one is loaded).

    Raises:
        BallwatchError: a bad source, weights or output (one line, as the CLI says it).
        StageFailedError: a stage failed while running.
    """
    hide_library_noise()  # an entry point, like the CLI (set -v there to see them)
    config = _config_of(source)
    control = PlaybackControl(can_pause=False)
    points = _PointQueue(control, keep_drawn=draw)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            app.run(config, extra_outputs=(points,), detector=detector, control=control)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(error)
        finally:
            points.points.put(None)

    runner = threading.Thread(target=run, name="ballwatch-run", daemon=True)
    runner.start()
    try:
        while (point := points.points.get()) is not None:
            yield point
    finally:
        control.request_stop()  # a no-op after the end; stops the run if the caller left
        while runner.is_alive():
            _drain(points.points)
            runner.join(_POLL_S)
    if failure:
        raise failure[0]


def _config_of(source: str | AppConfig) -> AppConfig:
    if isinstance(source, AppConfig):
        return source
    return configure(source, output__progress=False)


def _drain(items: queue.Queue[BallPoint | None]) -> None:
    try:
        while True:
            items.get_nowait()
    except queue.Empty:
        pass


class BallTracker:
    """Tracks the ball in frames you push, one at a time, in your thread.

    The tracker settles a frame ``tracker.lag_frames`` frames later (2 by default)
    using the detections on both sides, so :meth:`update` returns the frames it
    settled (usually one, none at the start) and :meth:`finish` the rest.
    """

    def __init__(
        self,
        detector: Detector,
        config: AppConfig | None = None,
        *,
        draw: bool = False,
        rest_look: RestLook | None = None,
    ) -> None:
        """Track with ``detector`` (see :meth:`load` for the configured RF-DETR).

        ``draw``: each point carries its frame with the marker and trail in ``drawn``.
        ``rest_look``: finds the ball lying still where its track ended (status ``rest``).
        """
        self.config = config or load_config(preset_path("default"))
        self.draw = draw
        search = BallSearch(detector, self.config.search)
        self._perception = SearchAndTrack.build(detector, search, self.config.tracker, rest_look)
        overlay = self.config.overlay  # marker and trail; no HUD (no pipeline timings here)
        self._drawers: list[Drawer] = []
        if overlay.trail_length > 0:
            self._drawers.append(Trail(length=overlay.trail_length))
        self._drawers.append(BallMarker(show_detections=overlay.show_detections))
        self._next_index = 0

    @classmethod
    def load(cls, config: AppConfig | None = None, *, draw: bool = False) -> BallTracker:
        """Load the configured detector (``--weights``, the bundled model, or COCO)."""
        hide_library_noise()
        config, plan = app.precision_plan(config or load_config(preset_path("default")))
        detector = app.build_detector(config, plan)
        detector.warm_up()
        rest_look = app.build_rest_look(config, detector, app.source_kind(config).value)
        return cls(detector, config, draw=draw, rest_look=rest_look)

    def update(self, image: NDArray[np.uint8], pts_s: float | None = None) -> list[BallPoint]:
        """Look at one BGR ``uint8`` ``(H, W, 3)`` frame; the frames it settled, oldest first.

        ``pts_s`` defaults to the frame's index at 30 fps.
        """
        index = self._next_index
        self._next_index += 1
        pts = index / 30.0 if pts_s is None else pts_s
        frame = Frame(index=index, image=image, pts_s=pts, captured_ns=0)
        return self._points(self._perception.process(frame, 0))

    def finish(self) -> list[BallPoint]:
        """Settle the frames still waiting (the end of your frames)."""
        return self._points(self._perception.flush())

    def _points(self, results: list[FrameResult]) -> list[BallPoint]:
        points = []
        for result in results:  # oldest first: the trail remembers them in order
            drawn = None
            if self.draw:
                drawn = result.frame.image.copy()
                for drawer in self._drawers:
                    drawer.draw_on(drawn, result)
            points.append(BallPoint.from_result(result, drawn))
        return points


class PictureFinder:
    """Finds the ball in still pictures you hand it, one at a time, as ``ballwatch find`` does.

    A picture has no frame before it: each is searched whole at native resolution by the
    still model (colour; unless ``detector.weights`` is given) in three views, and the
    surest place is its ball (:mod:`perception.still`).
    """

    def __init__(self, finder: StillFinder) -> None:
        """Find with ``finder`` (see :meth:`load` for the bundled still model)."""
        self._finder = finder

    @classmethod
    def load(
        cls, config: AppConfig | None = None, *, views: int = 3, verifier: str = "auto"
    ) -> PictureFinder:
        """Load the still model (or ``config.detector.weights``); ``views``: 3, or 1 (faster).

        ``verifier``: ``auto`` (the bundled patch verifier beside the bundled still model),
        ``none``, or a file from ``ballwatch verifier``.
        """
        hide_library_noise()
        replay = config or load_config(preset_path("replay"))
        finder, _ = app.build_still_finder(replay, views, verifier)
        return cls(finder)

    def find(self, image: NDArray[np.uint8]) -> StillBall | None:
        """The ball of one BGR ``uint8`` ``(H, W, 3)`` picture (x, y, score), or None."""
        return self._finder.find(image)


__all__ = ["BallPoint", "BallTracker", "PictureFinder", "TrackStatus", "configure", "track"]
