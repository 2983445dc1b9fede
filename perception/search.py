"""Where the detector looks on each frame: native tiles (search) or one crop (track).

- **Tiles** (``SearchMode.TILES``): the whole frame as native-resolution tiles of the
  detector's resolution, one batched detector call, boxes merged across seams.
- **Rotating search** (``SearchMode.SEARCH``, live): ``live_tiles_per_frame`` tiles per
  frame, continuing where the previous frame stopped, so no frame blows the budget.
- **Track** (``SearchMode.TRACK``): one crop around the tracker's prediction, its side
  from the prediction's uncertainty and speed, snapped up to a valid crop size. After
  ``misses_before_search`` frames without the ball the tracker's ``misses`` makes it
  search again. When the prediction's reach outgrows the largest crop (frames were
  dropped: a time jump is not a reset), the window around it grows with the elapsed
  time and is covered by tiles, nearest the prediction first, at most
  ``max_track_tiles`` a frame (the rest on the next frames). While the tracked thing is
  slow enough to be a head or a shoe (``TrackerPrediction.may_give_way``),
  ``slow_track_windows`` more windows look elsewhere (:meth:`BallSearch._elsewhere`).
- **Blob** (``SearchMode.BLOB``, ``search.detect_every`` > 1): while the ball is followed,
  the detector runs on every n-th frame only; the frames between take the motion gate's
  blobs near the prediction as the candidates (see :meth:`BallSearch.blob_step`).
- **Motion** (``SearchMode.MOTION``, ``search.motion.enabled``): without a track, crops
  around the small moving blobs the motion gate found (:mod:`perception.motion`; slow
  blobs a crop already looked at wait their turn, :meth:`BallSearch._fresh_first`) plus
  ``sweep_tiles_per_frame`` rotating tiles, so a ball at rest is found too. Where the gate
  has no verdict (first frames, a pan or a cut) the tiles above are used instead.
- **Second look** (in the motion and rotating searches): a lone detection the tracker waits
  to see confirmed gets a crop on the next frames (see :meth:`BallSearch.second_look`).

Crop sizes and the detector's input (the one decision point, :func:`detector_input_size`):
a track crop smaller than the detector's resolution is given to the detector at its own
size only if the detector says it runs natively at that size
(:class:`VariableInputDetector`); otherwise the crop is padded with grey to the model
resolution. Never resized: resizing would shrink or blow up a ball of a few pixels, and a
backend that stretches its input (RF-DETR does) would otherwise upscale a small crop.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from configs.app_config import SearchConfig
from perception.detections import Detections
from perception.detector import Detector, ball_offset_px
from perception.frame_input import FrameStack, frame_input_of
from perception.motion import MotionBlob, MotionGate, MotionResult
from perception.options import FrameInput
from perception.result import PerceptionStep, SearchMode
from perception.tiling import (
    Window,
    crop,
    crop_window,
    merge_duplicates,
    tile_grid,
    to_frame,
)
from perception.tracker import TrackerPrediction, TrackPoint
from stream.frame import Frame

logger = logging.getLogger(__name__)

# a blob standing in for a detection between detector frames: a middling score (the
# tracker keeps a track on any score; only acquiring one needs tracker.acquire_confidence)
_BLOB_SCORE = 0.5
_MIN_BLOB_BOX_PX = 4.0
_BLOB_NEAR_PX = 4.0  # a moving ball's blob is centred within ~3 px of it
_MIN_BLOB_TRAVEL_PX = 3.0  # a ball moving less between two frames makes no blob of its own
# a blob this close a frame to one a gate crop looked at is the same slow thing (a limb)
_CREEP_PX = 4.0


@runtime_checkable
class VariableInputDetector(Protocol):
    """A detector that can run natively at some square sizes below its resolution."""

    def accepts_input_size(self, size: int) -> bool:
        """Whether a square ``size`` input runs at that size (not stretched)."""
        ...


def detector_input_size(detector: Detector, crop_size: int) -> int:
    """The side of the image the detector is given for a crop of ``crop_size``.

    The single place deciding between running a small crop at its own size and padding
    it to the model resolution (see the module docstring).
    """
    resolution = detector.resolution
    if crop_size >= resolution:
        return crop_size
    if isinstance(detector, VariableInputDetector) and detector.accepts_input_size(crop_size):
        return crop_size
    return resolution


class BallSearch:
    """Runs the detector on the right parts of each frame and maps boxes to frame pixels.

    Called only from the perception thread (not thread-safe); holds the rotating
    schedule's position.

    Args:
        detector: the backend; its ``resolution`` is the tile side.
        config: tiling, schedule and track-crop settings.
        clock: monotonic nanoseconds, stamped around the detector call.
    """

    def __init__(
        self,
        detector: Detector,
        config: SearchConfig,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._detector = detector
        self._ball_offset = ball_offset_px(detector)  # per detector, not per frame
        self._config = config
        self._clock = clock
        self._grid: list[Window] = []
        self._grid_size: tuple[int, int] = (0, 0)
        self._next_tile = 0
        self._wide_round = 0
        self._since_detector = 0  # tracked frames since the detector last ran
        self._frames = 0  # frames stepped, for the gate crops' memory
        # (frame, centres of the blobs its gate crops held), newest last (see _fresh_first)
        self._looked: deque[tuple[int, tuple[tuple[float, float], ...]]] = deque(maxlen=64)
        self._last_pts_s: float | None = None
        self._motion = MotionGate(config.motion) if config.motion.enabled else None
        self._frame_input = frame_input_of(detector)
        # every frame goes through the stack (the detector may skip frames; the stack may not)
        self._stack = FrameStack() if self._frame_input is FrameInput.GREY_STACK else None
        self._crop_sizes = sorted(s for s in config.crop_sizes if s <= detector.resolution)
        if not self._crop_sizes:
            self._crop_sizes = [detector.resolution]
            logger.warning(
                "no crop size <= detector resolution %d in %s; track crops use %d",
                detector.resolution,
                config.crop_sizes,
                detector.resolution,
            )

    @property
    def clock(self) -> Callable[[], int]:
        """The monotonic nanosecond clock stamped around detector calls."""
        return self._clock

    def swap_detector(self, detector: Detector) -> None:
        """Run ``detector`` from the next frame on (the INT8 switch), keeping the schedule.

        Called only from the perception thread, between frames.

        Raises:
            ValueError: ``detector`` runs at another resolution (tiles and crops would change).
        """
        if detector.resolution != self._detector.resolution:
            msg = (
                f"cannot swap a {self._detector.resolution} px detector for a "
                f"{detector.resolution} px one; make the INT8 model from the same checkpoint"
            )
            raise ValueError(msg)
        if frame_input_of(detector) is not self._frame_input:
            msg = (
                f"cannot swap a detector that sees {self._frame_input.value} frames for one "
                f"that sees {frame_input_of(detector).value}; make the INT8 model from the "
                "same checkpoint"
            )
            raise ValueError(msg)
        self._detector = detector
        self._ball_offset = ball_offset_px(detector)

    def reset(self) -> None:
        """Forget the previous frames of the motion gate and the stack (a new stream epoch)."""
        self._looked.clear()
        if self._motion is not None:
            self._motion.reset()
        if self._stack is not None:
            self._stack.reset()
        self._last_pts_s = None

    @property
    def detector(self) -> Detector:
        """The backend in use."""
        return self._detector

    def tiles(self, width: int, height: int) -> list[Window]:
        """The search tiles of a frame size (cached; a new size restarts the schedule)."""
        if (width, height) != self._grid_size:
            self._grid = tile_grid(width, height, self._detector.resolution, self._tile_overlap)
            self._grid_size = (width, height)
            self._next_tile = 0
            logger.info("search grid for %dx%d: %d tiles", width, height, len(self._grid))
        return self._grid

    @property
    def _tile_overlap(self) -> int:
        return min(self._config.tile_overlap, self._detector.resolution // 2)

    def track_reach(self, prediction: TrackerPrediction) -> float:
        """Half the side of the square that holds the predicted ball's whereabouts, px."""
        config = self._config
        return (
            config.track_sigmas * prediction.sigma_px
            + config.track_speed_margin_s * prediction.speed_px_s
            + config.track_margin_px
        )

    def track_crop_size(self, prediction: TrackerPrediction) -> int:
        """The smallest valid crop side that holds the predicted ball's whereabouts.

        Half the side covers ``track_sigmas`` sigmas of the prediction, the distance
        the ball covers in ``track_speed_margin_s`` at its speed (a hit or a turn moves
        it off the predicted path), and a margin for the ball itself.

        Args:
            prediction: the tracker's position, uncertainty and speed.

        Returns:
            One of the configured crop sizes (the largest if none is big enough).
        """
        needed = 2 * math.ceil(self.track_reach(prediction))
        for size in self._crop_sizes:
            if size >= needed:
                return size
        return self._crop_sizes[-1]

    def step(
        self,
        frame: Frame,
        prediction: TrackerPrediction | None,
        seeds: Sequence[TrackPoint] = (),
    ) -> PerceptionStep:
        """Look at one frame: track crop when the ball is followed, else search.

        Args:
            frame: the frame to look at.
            prediction: the tracker's prediction for this frame's time, or None.
            seeds: lone detections the tracker waits to see confirmed (a second look
                goes to the surest, see :meth:`second_look`).

        Returns:
            Candidates in frame pixels, the mode, pixels fed to the detector and the
            clock stamps around the detector call.
        """
        tiles = self.tiles(frame.width, frame.height)
        self._frames += 1
        seen = self._stack.push(frame.image) if self._stack is not None else frame.image
        motion = self._motion.update(frame.image) if self._motion is not None else None
        candidates = len(motion.blobs) if motion is not None else 0
        config = self._config
        is_tracking = (
            config.track_enabled
            and prediction is not None
            and prediction.misses < config.misses_before_search
        )
        interval_s = frame.pts_s - self._last_pts_s if self._last_pts_s is not None else None
        self._last_pts_s = frame.pts_s
        if is_tracking and prediction is not None:
            blobs = self.blob_step(motion, prediction, interval_s)
            if blobs is not None:
                return blobs
            windows = self._track_windows(prediction, frame.width, frame.height)
            if prediction.may_give_way and self._config.slow_track_windows > 0:
                look = self.second_look(seeds, frame.width, frame.height)
                count = self._config.slow_track_windows - len(look)
                windows += look + self._elsewhere(motion, tiles, windows + look, count)
            mode = SearchMode.TRACK
        elif motion is not None and motion.is_usable:
            self._wide_round = 0
            look = self.second_look(seeds, frame.width, frame.height)
            windows = look + self._motion_windows(motion, tiles, look)
            mode = SearchMode.MOTION
        elif 0 < config.live_tiles_per_frame < len(tiles):
            self._wide_round = 0
            look = self.second_look(seeds, frame.width, frame.height)
            windows = look + self._rotate(tiles, config.live_tiles_per_frame)
            mode = SearchMode.SEARCH
        else:
            self._wide_round = 0
            windows = tiles
            mode = SearchMode.TILES
        return self._detect(frame, seen, windows, mode, candidates)

    def blob_step(
        self,
        motion: MotionResult | None,
        prediction: TrackerPrediction,
        interval_s: float | None = None,
    ) -> PerceptionStep | None:
        """The motion gate's blobs near the prediction instead of a detector call, or None.

        The one place deciding that a tracked frame skips the detector. A detector call
        costs 30-50 ms on a CPU, more than a frame at 30 fps; the gate's blobs cost nothing
        more (it ran anyway) and sit within ~3 px of a moving ball. So between detector
        frames (``detect_every``), when the ball was seen on the last frame and the gate
        found blobs on the predicted ball (below), those blobs are the candidates (score
        ``_BLOB_SCORE``) and the tracker's gate picks among them as among detections.
        Otherwise (the frame is due, the ball was missed, the gate has no verdict or no
        blob there: a ball that stops, or hides) the detector runs. So it does when the
        tracked ball moves under ``_MIN_BLOB_TRAVEL_PX`` between this frame and the last
        (``interval_s``): a ball at rest makes no blob of its own, and a blob beside it is
        something else (live on synth seed 515151 the kick-off ball's track left with a
        player's foot 24 px away; with the rule, 0.784 -> 0.830 of frames within 4 px,
        every frame processed, live preset). A blob stands in only within
        ``track_sigmas`` sigmas of the prediction plus ``_BLOB_NEAR_PX``, not anywhere in
        the track crop: a slow far ball's own blob may be missing, and a blob 26 px off
        took the track away (synth seed 626262, 21 frames lost). Live preset, INT8, every
        frame processed, F1 at 4 px, crop-wide -> near: badminton train_00001 0.358 ->
        0.429 (held-out part 0.520 -> 0.523), train_00008 0.277 -> 0.390; synth within
        4 px 0.739/0.846/0.797 -> 0.750/0.859/0.801 (seeds 737373/515151/626262).
        Running the detector instead whenever several blobs were there (a racket beside
        the ball) was tried: live on the held-out badminton frames it lost (F1 0.33 vs
        0.55, mean of 4-5 runs).
        """
        travel = prediction.speed_px_s * interval_s if interval_s is not None else math.inf
        if (
            self._since_detector + 1 >= self._config.detect_every
            or prediction.misses > 0
            or travel < _MIN_BLOB_TRAVEL_PX
            or motion is None
            or not motion.is_usable
        ):
            return None
        reach = self._config.track_sigmas * prediction.sigma_px + _BLOB_NEAR_PX
        near = [
            blob
            for blob in motion.blobs
            if math.hypot(blob.x - prediction.x, blob.y - prediction.y) <= reach
            and not _is_ghost(blob, prediction)
        ]
        if not near:
            return None
        self._since_detector += 1
        boxes = []
        for blob in near:
            half = max(math.sqrt(blob.area_px), _MIN_BLOB_BOX_PX) / 2
            boxes.append([blob.x - half, blob.y - half, blob.x + half, blob.y + half])
        found = Detections.from_lists(boxes, [_BLOB_SCORE] * len(boxes))
        return PerceptionStep(found, SearchMode.BLOB, 0, 0, 0, 0, len(motion.blobs))

    def _track_windows(
        self, prediction: TrackerPrediction, width: int, height: int
    ) -> list[Window]:
        """One crop, or the tiles of a window grown with the time since the ball was seen."""
        reach = self.track_reach(prediction)
        largest = self._crop_sizes[-1]
        if 2 * reach <= largest:
            self._wide_round = 0
            size = self.track_crop_size(prediction)
            offset = self._ball_offset
            return [crop_window(prediction.x + offset, prediction.y + offset, size, width, height)]
        side = min(2 * math.ceil(reach), max(width, height))
        area = crop_window(prediction.x, prediction.y, side, width, height)
        x1, y1 = min(area.x1, width), min(area.y1, height)
        resolution = self._detector.resolution
        local = tile_grid(x1 - area.x0, y1 - area.y0, resolution, self._tile_overlap)
        ordered = sorted(
            (Window(w.x0 + area.x0, w.y0 + area.y0, w.x1 + area.x0, w.y1 + area.y0) for w in local),
            key=lambda w: math.hypot(w.center[0] - prediction.x, w.center[1] - prediction.y),
        )
        count = min(self._config.max_track_tiles, len(ordered))
        start = (self._wide_round * count) % len(ordered)
        self._wide_round += 1
        return [ordered[(start + offset) % len(ordered)] for offset in range(count)]

    def _elsewhere(
        self, motion: MotionResult | None, tiles: list[Window], taken: list[Window], count: int
    ) -> list[Window]:
        """Windows away from a slow track: where a ball it may hide would be found.

        A track that hardly moves may follow a head or a shoe (the tracker lets a moving
        ball found elsewhere take it over: ``BallTracker._challenge``); without these
        windows the detector would look nowhere else while it lasts. A second look at a
        ball seen once out there (:meth:`second_look`) takes one of the
        ``slow_track_windows``; the other ``count`` are, with the motion gate, crops round
        its strongest blobs outside ``taken``, without it (a replay) the next tiles of the
        rotating schedule, so the frame is covered every ``tiles / slow_track_windows``
        slow frames.
        """
        if count <= 0:
            return []
        if motion is None or not motion.is_usable:
            return self._rotate(tiles, min(count, len(tiles)))
        return self._blob_crops(motion.blobs, taken)[:count]

    def second_look(self, seeds: Sequence[TrackPoint], width: int, height: int) -> list[Window]:
        """A crop on the surest lone detection the tracker waits to see again, if any.

        The one place deciding where a search looks twice. A track starts only when a
        second detection confirms a first within ``tracker.confirm_frames`` frames; a
        search that covers the frame in turns (the motion gate's crops, the rotating
        tiles) seldom looks at the same place on the next frame, so a ball found once by
        a crop around a passing player, or by a sweep tile, was never confirmed: a ball at
        rest (a kick-off) until it moved. So the next frames look at the surest seed
        again, in place of one of the gate's crops (the cost per frame stays the same),
        with the seed where a track crop puts its ball (:func:`ball_offset_px`).
        """
        if not seeds:
            return []
        seed = max(seeds, key=lambda point: point.confidence)
        offset = self._ball_offset  # as a track crop's: the detector sees a known ball best
        size = self._detector.resolution
        return [crop_window(seed.x + offset, seed.y + offset, size, width, height)]

    def _motion_windows(
        self, motion: MotionResult, tiles: list[Window], taken: list[Window]
    ) -> list[Window]:
        """Crops around the moving blobs (one per neighbourhood) plus the sweep tiles.

        ``taken``: crops already chosen (a second look); they count against
        ``motion.max_candidates`` and cover the blobs inside them. Blobs go strongest
        first, except slow ones a gate crop looked at in the last
        ``motion.revisit_frames`` frames, which wait behind the others
        (:meth:`_fresh_first`).
        """
        budget = max(self._config.motion.max_candidates - len(taken), 0)
        windows = self._blob_crops(self._fresh_first(motion.blobs)[:budget], taken)
        if self._config.motion.revisit_frames > 0:
            looked = [(b.x, b.y) for b in motion.blobs if any(_holds(w, b, 0) for w in windows)]
            self._looked.append((self._frames, tuple(looked)))
        sweep = self._config.motion.sweep_tiles_per_frame
        if sweep > 0:
            windows += self._rotate(tiles, min(sweep, len(tiles)))
        return windows

    def _blob_crops(self, blobs: Sequence[MotionBlob], taken: list[Window]) -> list[Window]:
        """One crop per blob, in order, skipping blobs inside ``taken`` or an earlier crop.

        Centred on the blob, not on a patch centre as the track crop's ball: the detector
        sees better there, clutter as well, and acquiring is where clutter costs (see
        :func:`perception.detector.ball_offset_px`).
        """
        size = self._detector.resolution
        margin = self._config.track_margin_px
        width, height = self._grid_size
        windows: list[Window] = []
        for blob in blobs:
            if not any(_holds(w, blob, margin) for w in [*taken, *windows]):
                windows.append(crop_window(blob.x, blob.y, size, width, height))
        return windows

    def _fresh_first(self, blobs: Sequence[MotionBlob]) -> list[MotionBlob]:
        """``blobs`` with those the last frames' gate crops looked at moved to the back.

        The one place deciding which blobs the gate's crops go to. Players' limbs and
        shoes make the strongest blobs, frame after frame in the same places, and the
        crops (two a frame live) went there every time: live on synth seed 242424 the
        ball's own blob was found within 1 px on each of frames 130-150, ranked third or
        fourth, and never looked at (21 frames lost; the replay, on every tile, found it
        at once). So a blob within ``_CREEP_PX`` a frame of one a crop looked at in the
        last ``motion.revisit_frames`` frames (something that hardly moved since) waits
        behind the others, and the crops go round the moving things. A ball moves
        farther than that between frames and keeps its rank: with every blob inside a
        recent crop waiting, the badminton rally lost (live, held out 0.603 -> 0.573; its
        shuttle waited behind the rackets). ``bench.live_sim``, live defaults, 0 -> 8
        frames: synth (nine seeds, the ball within 4 px on processed visible frames) mean
        0.870 -> 0.880, 242424 0.818 -> 0.890; badminton F1 train_00001 held out 0.603 ->
        0.610, all 0.516 -> 0.509, train_00008 0.545 -> 0.562. 4 frames gained more on
        synth (0.888) but cut train_00008 to 0.415. Live only (``LIVE_DEFAULTS``): a
        replay's six crops a frame reach the ball's blob anyway, and there 8 frames cut
        the rally's held-out F1 0.761 -> 0.658 (FP32).
        """
        now = self._frames
        horizon = now - self._config.motion.revisit_frames
        recent = [(f, xy) for f, looked in self._looked if f >= horizon for xy in looked]
        if not recent:
            return list(blobs)

        def crept(blob: MotionBlob) -> bool:
            return any(
                math.hypot(blob.x - x, blob.y - y) <= _CREEP_PX * (now - frame)
                for frame, (x, y) in recent
            )

        waiting = [crept(blob) for blob in blobs]
        return [b for b, w in zip(blobs, waiting, strict=True) if not w] + [
            b for b, w in zip(blobs, waiting, strict=True) if w
        ]

    def _rotate(self, tiles: list[Window], count: int) -> list[Window]:
        chosen = [tiles[(self._next_tile + offset) % len(tiles)] for offset in range(count)]
        self._next_tile = (self._next_tile + count) % len(tiles)
        return chosen

    def _detect(
        self,
        frame: Frame,
        seen: NDArray[np.uint8],
        windows: list[Window],
        mode: SearchMode,
        candidates: int,
    ) -> PerceptionStep:
        """Run the detector on the crops of ``seen`` (the frame as the detector sees it)."""
        self._since_detector = 0
        if not windows:
            return PerceptionStep(Detections.empty(), mode, 0, 0, 0, 0, candidates)
        sizes = [detector_input_size(self._detector, window.width) for window in windows]
        images = [crop(seen, window, size) for window, size in zip(windows, sizes, strict=True)]
        start = self._clock()
        found = self._detector.detect(images)
        end = self._clock()
        if len(found) != len(images):
            msg = (
                f"detector returned {len(found)} results for {len(images)} images; "
                "a Detector must return one Detections per image"
            )
            raise ValueError(msg)
        parts = [
            to_frame(result, window, frame.width, frame.height)
            for result, window in zip(found, windows, strict=True)
        ]
        merged = merge_duplicates(Detections.concat(parts), self._config.merge_distance_px)
        pixels = sum(size * size for size in sizes)
        return PerceptionStep(merged, mode, pixels, start, end, len(windows), candidates)


def _holds(window: Window, blob: MotionBlob, margin: int) -> bool:
    """Whether ``blob`` lies inside ``window``, ``margin`` px from its edges."""
    return (
        window.x0 + margin <= blob.x < window.x1 - margin
        and window.y0 + margin <= blob.y < window.y1 - margin
    )


def _is_ghost(blob: MotionBlob, prediction: TrackerPrediction) -> bool:
    """Whether ``blob`` is the ball's past: not ahead of where the ball was last seen.

    The gate's three-frame difference keeps what differs from both earlier frames; where a
    ball's two earlier pictures overlap (a blurred ball moving less than its streak plus
    its size a frame), that overlap differs from the current frame in both and makes a
    blob between the ball's last two positions, behind the last one. Live on synth seed
    626262 the tracker took it for the ball when the ball's own blob was missing, and the
    track broke. Behind, not merely nearer the last position than the predicted one: a
    shuttle slows down hard, and its own blob falls short of a prediction made at its
    old speed (live on the badminton rally that rule lost the held-out F1 0.49-0.62 ->
    0.25-0.35).
    """
    if prediction.last is None:
        return False
    last_x, last_y = prediction.last
    travel_x, travel_y = prediction.x - last_x, prediction.y - last_y
    travel = math.hypot(travel_x, travel_y)
    if travel == 0.0:
        return False
    along = ((blob.x - last_x) * travel_x + (blob.y - last_y) * travel_y) / travel
    return along <= 0.0
