"""The one pydantic model tree for every preset, loaded from YAML once."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent


class ConfigError(Exception):
    """A preset or an override is invalid; the message names the file and field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReconnectConfig(_Section):
    """Capped exponential backoff for network sources."""

    initial_delay_s: float = Field(0.5, gt=0, le=60)
    max_delay_s: float = Field(8.0, gt=0, le=600)
    max_attempts: int = Field(0, ge=0, description="0 = retry until stopped")


class StreamConfig(_Section):
    """Source and queues."""

    kind: Literal["auto", "file", "camera", "network", "synth"] = "auto"
    realtime: bool = False
    queue_policy: Literal["auto", "block", "latest"] = "auto"
    frame_queue_size: int = Field(4, ge=1, le=1024)
    result_queue_size: int = Field(4, ge=1, le=1024)
    open_timeout_s: float = Field(10.0, gt=0, le=600)
    read_timeout_s: float = Field(5.0, gt=0, le=600)
    decode_threads: int = Field(
        0, ge=0, le=64, description="video decoder threads (files, streams); 0 = FFmpeg's choice"
    )
    reconnect: ReconnectConfig = ReconnectConfig()


class DetectorConfig(_Section):
    """The RF-DETR detector."""

    size: Literal["nano", "small", "medium", "large"] = "nano"
    weights: str | None = Field(None, description="checkpoint path; None = bundled, then COCO")
    ball_class: str | int = Field(
        "auto", description='class name or id; "auto": "sports ball", "ball" or the only class'
    )
    threshold: float = Field(0.3, ge=0.0, le=1.0)
    precision: Literal["auto", "fp32", "fp16", "bf16", "int8"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    resolution: int | None = Field(None, ge=64, le=1280, multiple_of=32)
    threads: int = Field(0, ge=0, le=256, description="torch CPU threads; 0 = torch default")
    int8_artifact: str | None = Field(None, description="INT8 artifact made by `ballwatch qat`")


class MotionConfig(_Section):
    """The motion gate (perception/motion.py): crops only where something small moved."""

    enabled: bool | None = Field(None, description="None: on for live and real-time runs")
    scale: int = Field(2, ge=1, le=8, description="frame shrunk this many times")
    threshold: int = Field(8, ge=1, le=255, description="grey-level floor of a change")
    noise_sigmas: float = Field(4.0, ge=0, le=50, description="threshold in noise sigmas")
    max_blob_px: int = Field(32, ge=2, le=512, description="larger moving blobs are not balls")
    max_candidates: int = Field(3, ge=0, le=64, description="crops around blobs per frame")
    max_changed_fraction: float = Field(0.05, gt=0, le=1, description="more: pan or cut")
    sweep_tiles_per_frame: int = Field(1, ge=0, le=64, description="for a ball at rest")
    # live runs get 8 (LIVE_DEFAULTS); a replay's six crops a frame reach the ball's blob
    # anyway: there 8 cut the badminton rally's held-out F1 0.761 -> 0.658 (FP32)
    revisit_frames: int = Field(
        0, ge=0, le=64, description="a slow blob a gate crop looked at waits this many frames"
    )


class SearchConfig(_Section):
    """How the detector looks at a frame: tiles (search) and crops (track)."""

    tile_overlap: int = Field(32, ge=0, le=512)
    live_tiles_per_frame: int = Field(0, ge=0, le=64, description="0 = all tiles every frame")
    track_enabled: bool = True
    crop_sizes: tuple[int, ...] = (128, 192, 256, 384)
    misses_before_search: int = Field(3, ge=1, le=100)
    merge_distance_px: float = Field(6.0, ge=0, le=100, description="seam duplicates")
    track_sigmas: float = Field(3.0, ge=0, le=20, description="crop half side in sigmas")
    track_speed_margin_s: float = Field(0.033, ge=0, le=1, description="speed term of the crop")
    track_margin_px: int = Field(16, ge=0, le=256, description="crop margin for the ball")
    max_track_tiles: int = Field(4, ge=1, le=64, description="tiles of a widened track window")
    detect_every: int = Field(
        1,
        ge=1,
        le=30,
        description="tracking: detector on every n-th frame, the motion gate's blobs between",
    )
    # 4: synth replays (FP32, 150 frames, nine seeds) mean F1 0.880 -> 0.894, seed 246802
    # 0.721 -> 0.865 (a head held the track 19 frames); live gets 0 (LIVE_DEFAULTS)
    slow_track_windows: int = Field(
        4,
        ge=0,
        le=64,
        description="tracking a ball slower than tracker.still_ball_px: crops a frame "
        "elsewhere (the gate's blobs, else rotating tiles; 0 = none)",
    )
    motion: MotionConfig = MotionConfig()


class TrackerConfig(_Section):
    """The single-ball tracker (the perception.tracker docstring explains each knob)."""

    max_coast_frames: int = Field(5, ge=0, le=120)
    gate_sigma: float = Field(4.0, gt=0, le=50)
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)
    history: int = Field(8, ge=2, le=30, description="detections in the motion fit")
    measurement_sigma_px: float = Field(1.5, gt=0, le=50, description="detector centre noise")
    speed_sigma: float = Field(0.6, ge=0, le=5, description="error per px/frame, timing unsure")
    timed_speed_sigma: float = Field(0.15, ge=0, le=5, description="the same, timing known")
    accel_sigma_px: float = Field(0.8, ge=0, le=100, description="unmodelled motion, px/frame^2")
    max_predicted_sigma_px: float = Field(3.0, ge=0, le=1000, description="show coasting below")
    max_speed_px_s: float = Field(3600.0, gt=0, description="top ball speed (hit reach)")
    max_jump_px: float = Field(250.0, gt=0, description="cap on the hit reach")
    min_gate_px: float = Field(8.0, ge=0, le=1000)
    break_sigma: float = Field(3.0, gt=0, le=50, description="innovation that ends a segment")
    min_detection_weight: float = Field(0.3, ge=0, le=1, description="smoothing floor")
    confirm_frames: int = Field(3, ge=1, le=30, description="frames a lone detection waits")
    acquire_confidence: float = Field(
        0.5, ge=0, le=1, description="score a detection needs to start a track (not to keep it)"
    )
    # 0.7: on synth seeds 31337/4711 (tuning; the synthetic model scores a ball at rest
    # 0.74-0.76) F1 0.807/0.892 -> 0.842/0.912; the real model scores nothing static that
    # high (train_00001/00008 and the ATP static check unchanged); 0.8 found nothing more.
    # A motion-input model (the real one) gets 1 unless set here: its INT8 twin does score
    # still clutter that high (perception/tracker/seeds.py: seeding_for)
    rest_confidence: float = Field(
        0.7, ge=0, le=1, description="the same for a ball at rest (pixels unchanged); 1 = never"
    )
    max_gap_s: float = Field(3.0, gt=0, description="a longer time jump ends the track")
    clutter_frames: int = Field(15, ge=0, le=1000, description="still detections: clutter")
    clutter_radius_px: float = Field(3.0, ge=0, le=100, description="how still is still")
    clutter_forget_s: float = Field(10.0, gt=0, description="a clutter spot expires after")
    change_floor: float = Field(
        15.0, ge=0, le=255, description="grey change under a moving candidate (0 = off)"
    )
    change_noise_sigmas: float = Field(4.0, ge=0, le=50, description="or this many noise sigmas")
    still_ball_px: float = Field(
        3.0, ge=0, le=1000, description="px/frame below which a static candidate may be the ball"
    )
    # 15: two boxes 13-15 px apart on a ~50 px/frame synthetic ball; seed 737373 F1 0.722 ->
    # 0.833 (found there), tuning seeds 31337 0.842 = and 4711 0.912 -> 0.902, real held-out
    # clips and the ATP static check unchanged
    streak_speed_px: float = Field(
        15.0,
        ge=0,
        le=1000,
        description="px/frame above which two boxes along the path are "
        "one blurred ball's ends (0 = off)",
    )
    streak_end_sigma: float = Field(
        0.15,
        ge=0,
        le=1,
        description="a streak's lone box: error per px/frame above streak_speed_px",
    )
    # a motion-input model (the real one) gets False unless set here: it scores a slow
    # ball low (perception/tracker/seeds.py: seeding_for)
    slow_challenge: bool = Field(
        True, description="a moving ball that outscores a slow track takes it over"
    )
    detect_repeats: bool = Field(True, description="find 25/24 fps footage sent at 30 fps")
    lag_frames: int = Field(2, ge=0, le=30, description="report frames this late (0 = at once)")
    smooth_frames: int = Field(2, ge=0, le=10, description="neighbours smoothing a seen ball")
    max_interpolated_sigma_px: float = Field(2.2, ge=0, le=1000, description="show gaps below")


class RestLookConfig(_Section):
    """The ball at rest where its track ended (``perception.at_rest``)."""

    enabled: bool | None = Field(
        None, description="None: on for real footage when the bundled still model is there"
    )
    weights: str | None = Field(None, description="its colour model; None = the still model")
    min_track_frames: int = Field(10, ge=1, le=100_000, description="a track this long ended")
    look_s: float = Field(4.0, gt=0, le=3600, description="how long after the track ended")
    # 0.2: on the held-out rally's lying shuttle (the only labelled ball at rest, so this
    # is tuned on it) 0.15 confirmed floor clutter first on 6 frames; 0.25 a frame later
    score: float = Field(0.2, ge=0, le=1, description="colour model score of a ball at rest")
    radius_px: float = Field(3.0, ge=0, le=100, description="how still is still")
    confirm_looks: int = Field(3, ge=1, le=100, description="looks in a row that find it")
    every: int = Field(1, ge=1, le=100, description="run the model every n-th frame")
    change_floor: float = Field(
        15.0, gt=0, le=255, description="mean grey change under the ball: it was moved"
    )
    before_s: float = Field(
        1.0, ge=0, le=60, description="a thing looking the same this long before is clutter"
    )


class OverlayConfig(_Section):
    """What is drawn on the frame."""

    trail_length: int = Field(30, ge=0, le=1000)
    show_hud: bool = True
    show_detections: bool = False


class OutputConfig(_Section):
    """Where the results go; each is optional."""

    video: str | None = None
    show: bool = False
    track_csv: str | None = None
    latency_log: str | None = None
    serve: str | None = Field(None, description="HOST:PORT of the browser view")
    serve_token: str | None = None
    progress: bool = True


class BudgetConfig(_Section):
    """The latency budget that decides whether INT8 (QAT) is needed."""

    detector_ms: float | None = Field(None, gt=0)
    end_to_end_ms: float | None = Field(None, gt=0)
    target_fps: float | None = Field(None, gt=0)
    window_frames: int = Field(100, ge=1, le=100_000)
    percentile: float = Field(95.0, gt=0, le=100)
    int8_speedup: float = Field(1.7, ge=1.0, le=20.0)


class Int8Config(_Section):
    """Run-time switch to the QAT INT8 model."""

    auto_switch: bool = False
    auto_build: bool = Field(True, description="make the QAT model when first needed (CPU)")
    qat_data: str = Field("synth:?seed=4242", description="crops of the automatic QAT")
    qat_steps: int = Field(100, ge=0, le=100_000, description="its fine-tune steps")


class AppConfig(_Section):
    """Every section of a preset."""

    source: str = "synth:?seed=7&frames=150&width=1280&height=720&fps=30"
    stream: StreamConfig = StreamConfig()
    detector: DetectorConfig = DetectorConfig()
    search: SearchConfig = SearchConfig()
    tracker: TrackerConfig = TrackerConfig()
    rest_look: RestLookConfig = RestLookConfig()
    overlay: OverlayConfig = OverlayConfig()
    output: OutputConfig = OutputConfig()
    budget: BudgetConfig = BudgetConfig()
    int8: Int8Config = Int8Config()


LIVE_TILES_PER_FRAME = 2
"""Search tiles a frame on a live run whose preset spreads no search (tiles cost ~30-60 ms)."""

# What a live run takes where its preset (or --set) says nothing. Measured on a 2-core CPU
# with the real model on a 720p badminton rally at 30 fps (issue 12): 240 -> 293 of 317
# frames processed and end-to-end p95 190 -> 116 ms, against the queue of 2, the detector
# on every frame and three gate crops plus a sweep tile.
LIVE_DEFAULTS: dict[str, dict[str, Any]] = {
    # a second waiting frame only adds its wait (30 ms p50) to every frame's latency
    "stream": {"frame_queue_size": 1},
    # the motion gate's blobs stand in for the detector on every other tracked frame; after
    # dropped frames the widened track window is covered two tiles a frame, not four; a slow
    # track gets no crops elsewhere: bench.live_sim, synth seeds 515151/626262/737373/
    # 242424/929292/246802, 300 frames, the ball within 4 px on processed visible frames,
    # mean of six: 0 crops 0.860 (processed 277-294 of 300), 1 0.861 (273-291), 2 0.857
    # (254-290), 4 0.840 (232-277); the take-over alone (0 crops) 0.853 -> 0.860
    "search": {"detect_every": 2, "max_track_tiles": 2, "slow_track_windows": 0},
    # two gate crops, one batched call; no sweep tile: a ball at rest is not reported
    # until it moves (then the gate finds it) or a crop found it once (the next frames
    # look there again: perception/search.py, BallSearch.second_look). A slow blob a crop
    # looked at waits 8 frames behind the others (BallSearch._fresh_first): bench.live_sim,
    # the ball within 4 px on processed visible frames, mean of nine synth seeds 0 0.870 /
    # 4 0.888 / 8 0.880; badminton F1 (00001 all, held out, 00008) 0 0.516 0.603 0.545 /
    # 4 0.523 0.573 0.415 / 8 0.509 0.610 0.562
    "motion": {"max_candidates": 2, "sweep_tiles_per_frame": 0, "revisit_frames": 8},
    # one frame (33 ms at 30 fps) of smoothing instead of two
    "tracker": {"lag_frames": 1},
}
# What a live run takes instead (unless set) where a detector call on every tracked frame
# pays: on CUDA, and on a CPU whose INT8 twin answers as its float model does.
# On CUDA a call costs a few ms, not the CPU's 19-45 ms, so nothing is dropped for it, and
# the gate's blobs (median 2.65 px off the ball, the detector's crops 2.07) need not stand
# in for it. bench.live_sim with the float model standing in for FP16 (6 and 12 ms a
# 128 px crop, every frame processed either way), detect_every 2 -> 1: badminton
# train_00001 F1 at 4 px 0.618 -> 0.655, held-out part 0.603 -> 0.694; synth seeds 515151 /
# 626262 / 737373 (300 frames, the synthetic model) 0.895 / 0.911 / 0.921 -> 0.895 / 0.935 /
# 0.946 (the ball within 4 px on visible frames 0.830 / 0.869 / 0.911 -> 0.830 / 0.886 / 0.928).
# No GPU was lent to measure it on one: bench/gpu_check.sh runs the live bench there.
# On a CPU it depends on the twin, not on the cost (2026-12-08, bench.live_sim at this
# CPU's cost, 18.9 ms a crop, the ball within 4 px on processed visible frames, 2 -> 1):
# the synthetic model's twin (held-out crops F1 0.939, its float model 0.937) on synth
# seeds 515151 / 626262 / 737373 / 242424 / 929292 / 246802 0.878 / 0.867 / 0.844 / 0.890 /
# 0.898 / 0.872 -> 0.873 / 0.901 / 0.908 / 0.898 / 0.906 / 0.881 (mean 0.875 -> 0.895,
# 273-295 of 300 processed). The real model's twin (0.503 against 0.596) takes wrong things
# on crops where the gate's blob is right: F1 at 4 px train_00001 frames 0-219 0.456 ->
# 0.374, held out 0.610 -> 0.581, train_00008 0.562 -> 0.483; over six twins of the real
# model (the shipped one, three more of its recipe, two distilled; 0.497-0.536 on the crops),
# mean F1 on frames 0-219 and train_00008 0.433 -> 0.423, held out 0.571 -> 0.543. Which
# twin is exact enough: stream/app.py, live_twin_is_exact. The real model's twin made with its
# patch embedding float (0.587 against 0.596; README "INT8 keeps the patch embedding float")
# gains, mean of five cost models: held out 0.589 -> 0.682, frames 0-219 0.486 -> 0.582,
# train_00008 0.345 -> 0.402; four such twins held out 0.566-0.596 -> 0.672-0.682.
LIVE_EVERY_FRAME_DEFAULTS: dict[str, dict[str, Any]] = {"search": {"detect_every": 1}}
# Not in LIVE_DEFAULTS: detector.threads and stream.decode_threads stay 0 (the libraries'
# choice). bench/live_threads.py, 1/2 detector threads x 1/FFmpeg's decoder threads, two runs
# each: 273-288 of 317 frames processed and e2e p95 122-141 ms for all four; decoding a 720p
# frame takes 2.5-2.8 ms, so the decoder does not starve the detector on two cores.


def _unset(section: BaseModel, values: dict[str, Any]) -> dict[str, Any]:
    """The ``values`` whose fields ``section`` was not given explicitly."""
    return {name: value for name, value in values.items() if name not in section.model_fields_set}


def for_live(config: AppConfig, device: str = "cpu", *, exact_twin: bool = False) -> AppConfig:
    """The config a live source or a real-time replay runs with, whatever the preset says.

    The one decision point for live runs: queues keep the newest frame (``latest``), the
    search is spread over frames (``live_tiles_per_frame`` > 0) and the motion gate is on
    unless the preset turned it off. A blocking queue or a full search on every frame
    would let a slow detector fall further and further behind the source (the spiral of
    issue 12: 0.43 fps, 9 s old frames); so no flag can bring them back on a live run.
    Fields in :data:`LIVE_DEFAULTS` take their live values unless the preset or ``--set``
    gave them, so ``--realtime`` with any preset runs like ``--config live``. On ``device``
    ``cuda`` (a detector call there costs a few ms, not tens), and on a CPU whose INT8 twin
    answers as its float model does (``exact_twin``: there the gate's blobs are no better
    than its crops), the fields of :data:`LIVE_EVERY_FRAME_DEFAULTS` take theirs instead.
    """
    if config.stream.queue_policy == "block":
        logger.warning(
            "a live or real-time run drops the oldest frames: queue policy block ignored"
        )
    defaults = LIVE_DEFAULTS
    if device == "cuda" or exact_twin:
        defaults = {
            section: {**values, **LIVE_EVERY_FRAME_DEFAULTS.get(section, {})}
            for section, values in LIVE_DEFAULTS.items()
        }
    search = config.search
    updates: dict[str, Any] = _unset(search, defaults["search"])
    if search.live_tiles_per_frame == 0:
        updates["live_tiles_per_frame"] = LIVE_TILES_PER_FRAME
    motion = _unset(search.motion, defaults["motion"])
    if search.motion.enabled is None:
        motion["enabled"] = True
    updates["motion"] = search.motion.model_copy(update=motion)
    stream = config.stream.model_copy(
        update={"queue_policy": "latest", **_unset(config.stream, defaults["stream"])}
    )
    tracker = config.tracker.model_copy(update=_unset(config.tracker, defaults["tracker"]))
    rest_look = config.rest_look
    if rest_look.enabled is None:
        # off live unless asked for: even as the still model's INT8 twin (22 ms a crop) it
        # pushes e2e p95 past the 150 ms target. bench.live, badminton rally, 3 runs each:
        # off 264-269 of 317 processed, e2e p95 139-148 ms, held-out F1 0.53-0.61; on
        # 241-271, 150-181 ms, 0.58-0.65; every 2nd frame 246-259, 156-167 ms, 0.60-0.63.
        # On the virtual clock (bench.live_sim, no spread) it gains nothing: held out 0.603
        # off, 0.599 on (292 of 317 processed against 308), 0.603 every 2nd frame
        rest_look = rest_look.model_copy(update={"enabled": False})
    return config.model_copy(
        update={
            "stream": stream,
            "search": search.model_copy(update=updates),
            "tracker": tracker,
            "rest_look": rest_look,
        }
    )


# The motion gate on a replay of real footage, unless the preset decides: measured with the
# real model (bench/real.py and `ballwatch eval`, held-out clips, F1 at 4 px, gate off -> on):
# badminton train_00001 f220-316 0.532 -> 0.583, ATP tennis frames 64-92 0.000 -> 0.500,
# volleyball clip_four 0.502 -> 0.466 (the one loss), and 2-3x faster. Six crops and blobs up
# to 64 px (a blurred volleyball): a replay has the time (with 3 and 32: volleyball 0.441).
REPLAY_REAL_MOTION: dict[str, Any] = {"enabled": True, "max_candidates": 6, "max_blob_px": 64}


def for_replay(config: AppConfig, *, is_real: bool = False) -> AppConfig:
    """The config of a replay at full speed: the motion gate for real footage only.

    The one decision point for replays. Where the preset (or ``--set``) says whether the
    gate runs, that stands. Otherwise real footage (``is_real``: a file, camera or stream)
    gets the gate (:data:`REPLAY_REAL_MOTION`): on broadcast footage the detector also
    scores logos, lines and net tape, and looking only where something small moved finds
    the ball more often and faster. The synthetic match keeps the full search its model
    was tuned with.
    """
    search = config.search
    if search.motion.enabled is not None:
        return config
    update = _unset(search.motion, REPLAY_REAL_MOTION) if is_real else {"enabled": False}
    motion = search.motion.model_copy(update=update)
    return config.model_copy(update={"search": search.model_copy(update={"motion": motion})})


def _first_error(exc: ValidationError) -> tuple[str, str]:
    """The dotted field path and message of the first error, plus a count of the rest."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return where, f"{first['msg']}{extra}"


def preset_path(name_or_path: str) -> Path:
    """A preset name (``live``) or a YAML path, as a path."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.is_file():
        return candidate
    return CONFIG_DIR / f"{name_or_path}.yaml"


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            msg = f"override {dotted}: {part} is not a section"
            raise ConfigError(msg)
        node = child
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``section.field=value``; the value is parsed as YAML (``0.5``, ``true``, ``[1,2]``)."""
    if "=" not in text:
        msg = f"override {text!r} must look like section.field=value"
        raise ConfigError(msg)
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> AppConfig:
    """Load a preset and apply dotted overrides (``{"detector.threshold": 0.5}``).

    Raises:
        ConfigError: unreadable YAML, an unknown key or a bad value; the message
            names the file and the dotted field.
    """
    where = str(path) if path is not None else "built-in defaults"
    tree: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            msg = f"config file {where!r} not found; give a preset name or an existing YAML path"
            raise ConfigError(msg) from exc
        except (OSError, yaml.YAMLError) as exc:
            msg = f"invalid config {where}: {exc}".splitlines()[0]
            raise ConfigError(msg) from exc
        if loaded is not None and not isinstance(loaded, dict):
            msg = f"invalid config {where}: the top level must be a mapping"
            raise ConfigError(msg)
        tree = loaded or {}
    for dotted, value in (overrides or {}).items():
        _set_dotted(tree, dotted, value)
    try:
        return AppConfig.model_validate(tree)
    except ValidationError as exc:
        field, problem = _first_error(exc)
        if overrides and field in overrides:
            msg = f"invalid command-line value {field}={overrides[field]!r}: {problem}"
        else:
            msg = f"invalid config {where}: {field}: {problem}"
        raise ConfigError(msg) from exc
