"""Builds and runs one pipeline from an AppConfig (composition root beside pipeline.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from configs.app_config import AppConfig, OutputConfig, for_live, for_replay
from overlays.drawers import BallMarker, Hud, Trail
from overlays.live_stats import ProgressEvents, ProgressOutput, RollingHudStats
from overlays.output import Drawer, Output
from overlays.outputs import MultiOutput, VideoFileOutput
from overlays.track_csv import TrackCsvOutput
from overlays.web import WebView
from overlays.window import WhenVisible, Window
from perception.at_rest import RestLook
from perception.detector import Detector, Precision
from perception.errors import PrecisionError
from perception.int8_cache import existing_artifact
from perception.int8_switch import build_int8_builder, build_int8_switch, load_int8_detector
from perception.precision import DeviceKind, HardwareProbe, PrecisionPlan, resolve_precision
from perception.precision_choice import allowed_precisions, choose_by_timing
from perception.qat import read_sidecar
from perception.search import BallSearch
from perception.search_and_track import SearchAndTrack
from perception.still import VIEWS, StillFinder, with_verifier
from perception.verifier import PatchVerifier
from perception.weights import (
    WeightsChoice,
    choose_rest_weights,
    choose_verifier,
    choose_weights,
)
from stream.control import PlaybackControl
from stream.latency import (
    DropEvent,
    JsonlLatencyLog,
    LatencyLog,
    LatencyRecord,
    MemoryLatencyLog,
    RunEvent,
    TeeLatencyLog,
)
from stream.latency_summary import LatencySummary, summarize
from stream.pipeline import Pipeline, QueueSettings, assemble
from stream.queues import DropCause, DropPolicy
from stream.signals import stop_reason
from stream.source import FrameSource, SourceKind
from stream.sources import SourceOptions, kind_from_uri, open_source

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a finished run reports."""

    summary: LatencySummary
    records: list[LatencyRecord]
    drops: list[DropEvent]
    events: list[RunEvent]
    is_interrupted: bool
    plan: PrecisionPlan
    stopped_by: str | None = None  # the signal that stopped the run (SIGINT = Ctrl-C)


def source_kind(config: AppConfig) -> SourceKind:
    """The source kind: from the config when set, else from the URI (never from the disk)."""
    if config.stream.kind != "auto":
        return SourceKind(config.stream.kind)
    return kind_from_uri(config.source)


def is_live_run(config: AppConfig, kind: SourceKind) -> bool:
    """A live source, or a replay paced like one (``--realtime``)."""
    return kind.is_live or config.stream.realtime


def settle_config(config: AppConfig, kind: SourceKind, device: str = "cpu") -> AppConfig:
    """The config this run goes with: a live run's on ``device``, or a replay's."""
    if is_live_run(config, kind):
        exact_twin = device == "cpu" and live_twin_is_exact(config, kind)
        return for_live(config, device, exact_twin=exact_twin)
    return for_replay(config, is_real=kind is not SourceKind.SYNTH)


# how far under its float model's F1 a twin may score on held-out crops and still count as
# answering as it does: the synthetic model's twin is +0.002, the real model's -0.009 (its
# twin before its patch embedding stayed float -0.093, five more such twins -0.06 to -0.10);
# one crop of ~150-200 moves F1 by ~0.005
EXACT_TWIN_F1 = 0.02


def live_twin_is_exact(config: AppConfig, kind: SourceKind) -> bool:
    """Whether a live run on a CPU runs an INT8 twin that answers as its float model does.

    The twin is the one a live run on a CPU takes with ``--precision auto`` or ``int8``
    (:func:`auto_int8_artifact`: the configured one, else the one shipped beside the
    weights or cached), and it answers as its float model does when its sidecar says it
    scored within :data:`EXACT_TWIN_F1` of it on the QAT job's held-out crops. Then the
    motion gate's blobs are no better than its crops and the live run calls it on every
    tracked frame (``configs.app_config.LIVE_EVERY_FRAME_DEFAULTS`` has the figures).
    False without a twin or held-out scores, or with a sidecar that cannot be read (the
    detector's build says why).
    """
    if config.detector.precision not in {"auto", "int8"}:
        return False
    weights = choose_weights(config.detector.weights, kind.value).path
    artifact = auto_int8_artifact(config.detector.int8_artifact, weights, is_live=True)
    if artifact is None:
        return False
    try:
        change = read_sidecar(artifact).held_out_f1_change
    except PrecisionError:
        return False
    if change is None:
        return False
    is_exact = change >= -EXACT_TWIN_F1
    logger.info(
        "live on a CPU: INT8 twin %s scored %+.3f F1 against its float model on held-out crops: %s",
        artifact.name,
        change,
        "the detector on every tracked frame"
        if is_exact
        else "motion blobs stand in for it on every other tracked frame",
    )
    return is_exact


def queue_settings(config: AppConfig, kind: SourceKind) -> QueueSettings:
    """Queue policy from the config, else from the source kind and ``realtime``."""
    stream = config.stream
    if stream.queue_policy == "auto":
        policy = kind.default_policy(is_realtime=stream.realtime)
    else:
        policy = DropPolicy(stream.queue_policy)
    return QueueSettings(policy, stream.frame_queue_size, stream.result_queue_size)


def open_configured_source(config: AppConfig, kind: SourceKind, log: LatencyLog) -> FrameSource:
    """Open the configured source; its own drops go to ``log``."""
    stream = config.stream

    def on_drop(index: int, cause: DropCause) -> None:
        log.write(DropEvent(index, str(cause), "source", time.monotonic_ns()))

    options = SourceOptions(
        open_timeout_s=stream.open_timeout_s,
        read_timeout_s=stream.read_timeout_s,
        reconnect_initial_delay_s=stream.reconnect.initial_delay_s,
        reconnect_max_delay_s=stream.reconnect.max_delay_s,
        reconnect_max_attempts=stream.reconnect.max_attempts,
        decode_threads=stream.decode_threads,
    )
    return open_source(config.source, kind, options, on_drop)


def chosen_weights(config: AppConfig, kind: str | None = None) -> WeightsChoice:
    """The weights a run loads (``choose_weights``), said in the log once."""
    choice = choose_weights(config.detector.weights, kind or source_kind(config).value)
    logger.info("weights: %s (%s)", choice.path or "rfdetr COCO", choice.reason)
    return choice


def build_detector(
    config: AppConfig,
    plan: PrecisionPlan,
    kind: str | None = None,
    *,
    choice: WeightsChoice | None = None,
) -> Detector:
    """The detector the plan asks for (INT8 only from a QAT artifact).

    ``choice``: weights a caller chose (and said why); None: ``choose_weights`` picks and
    logs them, ``kind`` (None: the config's source kind) deciding the bundled model.
    """
    from perception.rfdetr_detector import RfDetrDetector  # noqa: PLC0415 - rfdetr is heavy

    if plan.int8_artifact is not None:
        from perception.int8_detector import Int8Detector  # noqa: PLC0415 - onnxruntime

        detector = config.detector
        return Int8Detector.load(
            plan.int8_artifact, threshold=detector.threshold, threads=detector.threads
        )
    if choice is None:
        choice = chosen_weights(config, kind)
    return RfDetrDetector.from_config(config.detector, plan, bundled_weights=choice.path)


def rest_look_plan(beside: Detector, weights: Path | None) -> PrecisionPlan:
    """How the rest look's colour model ``weights`` runs beside the run's detector.

    In the precision and on the device the run's detector runs in, except INT8: then the
    colour model's own QAT twin (shipped beside it, or one an earlier run cached; never a
    model quantized after training), else FP32. The run's INT8 artifact is the motion
    model's and cannot stand in. Beside the live INT8 detector the twin's crop takes 22 ms
    against FP32's 70 ms (``bench/precision.py``, this 2-core CPU).
    """
    device: DeviceKind = "cuda" if beside.device.startswith("cuda") else "cpu"
    if beside.precision is not Precision.INT8:
        return PrecisionPlan(device, beside.precision, "as the run's detector")
    twin = existing_artifact(weights) if weights is not None else None
    if twin is None:
        return PrecisionPlan(device, Precision.FP32, "in float: the colour model has no twin")
    return PrecisionPlan(device, Precision.INT8, "the colour model's INT8 QAT twin", twin)


def build_still_finder(
    config: AppConfig, views: int = 3, verifier: str = "auto"
) -> tuple[StillFinder, WeightsChoice]:
    """What ``ballwatch find`` (and ``stream.PictureFinder``) search pictures with.

    The still model unless ``detector.weights`` says otherwise (``choose_weights(...,
    "image")``), in ``views`` of :data:`perception.still.VIEWS` (1 or 3), with the replay
    preset's search, and the patch verifier ``verifier`` names (``choose_verifier``: ``auto``,
    ``none`` or a file); and the weights choice, for the caller to say which it loaded.
    With a verifier the detector proposes low and ``detector.threshold`` decides whether
    the answer is reported (:func:`perception.still.with_verifier`).
    """
    config, plan = precision_plan(for_replay(config), "image")
    detector_config = config.detector
    choice = choose_weights(detector_config.weights, "image")
    verifier_choice = choose_verifier(verifier, choice)
    verification = None
    if verifier_choice is not None and verifier_choice.path is not None:
        proposing, verification = with_verifier(
            detector_config,
            PatchVerifier.load(verifier_choice.path),
            f"{verifier_choice.path} ({verifier_choice.reason})",
        )
        config = config.model_copy(update={"detector": proposing})
    detector = build_detector(config, plan, choice=choice)
    return StillFinder(detector, config.search, VIEWS[:views], verification), choice


class ColourModels:
    """The rest looks' colour models, built once for every run of one owner.

    A run builds its rest look's colour model (load and warm up: 0.35 s in FP32 on this
    project's 2-core CPUs, 3.4 s the first time in a process, with the imports) unless
    its owner hands it the one an earlier run built for the same weights, precision,
    threshold and threads. A batch worker keeps one ``ColourModels`` for all its tasks, as
    it keeps its detector (before, every chunk loaded the still model again). Not
    thread-safe: one owner, runs one after another.
    """

    def __init__(self) -> None:
        self._built: dict[tuple[object, ...], Detector] = {}

    @property
    def builds(self) -> int:
        """How many models were built (every other request reused one)."""
        return len(self._built)

    def get(self, key: tuple[object, ...], build: Callable[[], Detector]) -> Detector:
        """The model built for ``key``, building it with ``build`` the first time."""
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]


def build_rest_look(
    config: AppConfig, beside: Detector, kind: str, models: ColourModels | None = None
) -> RestLook | None:
    """The ball-at-rest look of a run (``choose_rest_weights`` decides whether), or None.

    Its colour model is built as the run's detector is, in :func:`rest_look_plan`'s
    precision (``beside``: the run's detector, built and warmed up), or taken from
    ``models`` where an earlier run of the same owner built it.
    """
    look = config.rest_look
    choice = choose_rest_weights(look.enabled, look.weights, kind)
    if choice is None:
        return None
    plan = rest_look_plan(beside, choice.path)
    logger.info(
        "ball-at-rest look: %s (%s), %s",
        choice.path,
        choice.reason,
        plan.int8_artifact or plan.reason,
    )
    key = (choice.path, plan.device, plan.precision, plan.int8_artifact, look.score,
           config.detector.threads)  # fmt: skip
    owner = models if models is not None else ColourModels()
    colour = owner.get(key, lambda: _colour_model(config, plan, choice))
    return RestLook(colour, look)


def _colour_model(config: AppConfig, plan: PrecisionPlan, choice: WeightsChoice) -> Detector:
    """The rest look's colour model ``choice`` in ``plan``'s precision, warmed up."""
    look = config.rest_look
    colour: Detector
    if plan.int8_artifact is not None:
        from perception.int8_detector import Int8Detector  # noqa: PLC0415 - onnxruntime

        # its threads sleep between crops: spinning, they slow the run's detector 1.5x
        colour = Int8Detector.load(
            plan.int8_artifact, threshold=look.score, threads=config.detector.threads, spin=False
        )
    else:
        detector = config.detector.model_copy(
            update={"weights": str(choice.path), "threshold": look.score, "resolution": None}
        )
        colour = build_detector(
            config.model_copy(update={"detector": detector}), plan, choice=choice
        )
    colour.warm_up()
    return colour


def auto_int8_artifact(
    configured: str | None, weights: Path | None, *, is_live: bool
) -> Path | None:
    """The INT8 QAT model ``--precision auto`` may time, or None (floats only).

    The one decision point: a configured artifact always joins (the user asked for it).
    Otherwise, only on a live run (a live source or ``--realtime``), the twin shipped
    beside the weights or the one an earlier run cached: there, a frame the detector
    cannot take in time is a frame lost, and the shipped real model's twin runs a crop in
    20 ms against FP32's 45-65 ms on a 2-core CPU. A replay keeps float: it may take its
    time, and the twin scores lower (held-out crops F1 0.470 vs 0.562).
    """
    if configured is not None:
        return Path(configured)
    return own_twin(weights) if is_live else None


def own_twin(weights: Path | None) -> Path | None:
    """The INT8 QAT twin of our own checkpoint ``weights``: shipped beside it, or cached.

    None for other weights (none, or rfdetr's COCO ``.pth``: not a ball model, no twin).
    """
    if weights is None or weights.suffix != ".safetensors":
        return None
    return existing_artifact(weights)


def with_int8_twin(config: AppConfig, kind: str | None = None) -> AppConfig:
    """``--precision int8`` without ``--int8-artifact``: the weights' own INT8 QAT twin.

    The only INT8 this project makes is a QAT twin, so the one shipped beside the weights
    (or cached by an earlier run's automatic build) is what the user asked for. Without
    one the config is unchanged, and ``resolve_precision`` says how to make one. ``kind``:
    the source kind deciding the bundled model (None: the config's source).
    """
    detector = config.detector
    if detector.precision != "int8" or detector.int8_artifact is not None:
        return config
    weights = choose_weights(detector.weights, kind or source_kind(config).value).path
    twin = own_twin(weights)
    if weights is None or twin is None:
        return config
    logger.info("--precision int8: the INT8 QAT twin of %s, %s", weights.name, twin)
    return config.model_copy(
        update={"detector": detector.model_copy(update={"int8_artifact": str(twin)})}
    )


def precision_plan(config: AppConfig, kind: str | None = None) -> tuple[AppConfig, PrecisionPlan]:
    """The config (with :func:`with_int8_twin`) and the precision plan a run builds from.

    Raises:
        PrecisionError: the precision cannot run here (``resolve_precision``).
    """
    config = with_int8_twin(config, kind)
    detector = config.detector
    return config, resolve_precision(detector.precision, detector.device, detector.int8_artifact)


def build_timed_detector(
    config: AppConfig, plan: PrecisionPlan, weights: Path | None, *, is_live: bool = False
) -> tuple[Detector, PrecisionPlan]:
    """The configured detector, warmed up; with precision ``auto``, the fastest one here.

    ``auto`` times every precision the policy allows on this device (INT8 only with a
    QAT model, see :func:`auto_int8_artifact`) and logs the figures it chose from.
    """
    if config.detector.precision != "auto":
        detector = build_detector(config, plan)
        detector.warm_up()
        return detector, plan
    int8 = auto_int8_artifact(config.detector.int8_artifact, weights, is_live=is_live)
    plans = allowed_precisions(plan.device, HardwareProbe.detect(), int8)
    weights_choice = chosen_weights(config)

    def build(candidate: PrecisionPlan) -> Detector:
        built = build_detector(config, candidate, choice=weights_choice)
        built.warm_up()
        return built

    choice = choose_by_timing(plans, build)
    return choice.detector, choice.plan


def build_outputs(cfg: OutputConfig, fps: float) -> list[Output]:
    """Every configured file output, checked (writable paths) up front (the window: below)."""
    outputs: list[Output] = []
    if cfg.video:
        outputs.append(VideoFileOutput(Path(cfg.video), fps))
    if cfg.track_csv:
        outputs.append(TrackCsvOutput(Path(cfg.track_csv)))
    return outputs


def open_window(config: AppConfig, control: PlaybackControl) -> Window | None:
    """The ``--show`` window (checked for a display now; it opens with the first frame)."""
    return Window(control) if config.output.show else None


def build_drawers(
    config: AppConfig, hud_stats: RollingHudStats, control: PlaybackControl | None = None
) -> list[Drawer]:
    """Marker, trail and HUD as configured; ``control`` shows and hides the HUD (``f``)."""
    overlay = config.overlay
    drawers: list[Drawer] = []
    if overlay.trail_length > 0:
        drawers.append(Trail(length=overlay.trail_length))
    drawers.append(BallMarker(show_detections=overlay.show_detections))
    if control is not None and (overlay.show_hud or config.output.show):
        drawers.append(WhenVisible(Hud(hud_stats), lambda: control.hud_visible))
    elif overlay.show_hud:
        drawers.append(Hud(hud_stats))
    return drawers


class _Resources:
    """Everything opened for a run, closed in reverse order whatever happens."""

    def __init__(self) -> None:
        self.outputs: list[Output] = []
        self.logs: list[LatencyLog] = []
        self.web: WebView | None = None
        self.window: Window | None = None

    def close(self) -> None:
        if self.window is not None:
            self.window.close()
        for log in self.logs:
            log.close()
        if self.web is not None:
            self.web.close()  # idempotent: the renderer may have closed it already


def _run_group(pipeline: Pipeline, window: Window | None) -> str | None:
    """Run to the end; on Ctrl-C (or SIGTERM/SIGHUP, see stream/signals.py) stop gracefully.

    A second interrupt aborts at once: the stages stop without draining, and the
    outputs are still closed (the video plays up to its last fragment).

    Returns:
        None at the end of the stream (or a quit from the window or the control), else
        the signal that stopped the run.
    """
    tick = None if window is None else window.pump  # this thread owns the window
    try:
        pipeline.group.run(tick=tick)
    except KeyboardInterrupt as interrupt:
        reason = stop_reason(interrupt)
        logger.warning("%s: finishing the frames in flight and closing the outputs", reason)
        pipeline.group.stop()
        try:
            pipeline.group.finish(tick=tick)
        except KeyboardInterrupt as second:
            logger.warning("%s again: stopping at once", stop_reason(second))
            pipeline.group.abort()
            pipeline.group.join()
        return reason
    return None


SourceOpener = Callable[[AppConfig, SourceKind, LatencyLog], FrameSource]


def _log_precision(config: AppConfig, plan: PrecisionPlan, *, is_timed: bool) -> None:
    """Say the run's precision, or that timing will choose it (then it logs its figures)."""
    if config.detector.precision == "auto" and is_timed:
        # the plan's reason is only the policy's default: the timing decides and logs
        logger.info("precision: auto: the allowed precisions are timed on warm-up crops")
    else:
        logger.info("precision: %s", plan.reason)


def run(
    config: AppConfig,
    *,
    extra_outputs: tuple[Output, ...] = (),
    detector: Detector | None = None,
    source_opener: SourceOpener = open_configured_source,
    control: PlaybackControl | None = None,
    colour_models: ColourModels | None = None,
) -> RunOutcome:
    """Run one configured pipeline to the end (or Ctrl-C) and summarize it.

    ``detector``: one already loaded and warmed up (a batch worker keeps one for all its
    recordings); None builds the configured one. ``source_opener``: how the source is
    opened (a batch chunk opens a frame range of a file). ``control``: lets another
    thread stop (or pause) the run; the ``--show`` window's keys use it too. The
    calling thread owns the window: every GUI call happens in it. ``colour_models``:
    the rest look's models an earlier run of the same owner built (a batch worker's);
    None builds them.

    Raises:
        BallwatchError: a user mistake (bad source, weights, output path…), one line.
        StageFailedError: a stage failed while running; the cause says why.
    """
    config, plan = precision_plan(config)
    _log_precision(config, plan, is_timed=detector is None)
    memory = MemoryLatencyLog()
    hud_stats = RollingHudStats()
    resources = _Resources()
    try:
        kind = source_kind(config)
        config = settle_config(config, kind, plan.device)
        if control is None:
            control = PlaybackControl(
                can_pause=not kind.is_live, hud_visible=config.overlay.show_hud
            )
        resources.window = open_window(config, control)
        if config.output.latency_log:
            resources.logs.append(JsonlLatencyLog(Path(config.output.latency_log)))
        if config.output.serve:
            resources.web = WebView.from_address(config.output.serve, config.output.serve_token)
        log = TeeLatencyLog(memory, hud_stats, *resources.logs, *_web_logs(resources.web))
        source = source_opener(config, kind, log)
        try:
            outputs = build_outputs(config.output, source.fps or 30.0)
            weights = choose_weights(config.detector.weights, kind.value).path
            if detector is None:
                is_live = is_live_run(config, kind)
                detector, plan = build_timed_detector(config, plan, weights, is_live=is_live)
            int8_detector = load_int8_detector(config.detector, config.int8, detector, weights)
            builder = build_int8_builder(
                config.detector, config.int8, detector, weights, int8_detector
            )
            perception = SearchAndTrack.build(
                detector,
                BallSearch(detector, config.search),
                config.tracker,
                build_rest_look(config, detector, kind.value, colour_models),
            )
        except BaseException:
            source.close()
            raise
        outputs.append(ProgressOutput(source.frame_count, is_enabled=config.output.progress))
        if resources.window is not None:
            outputs.append(resources.window.output)
        if resources.web is not None:
            resources.web.start()
            logger.info("browser view at %s", resources.web.url)
            outputs += [resources.web, ProgressEvents(resources.web, source.frame_count)]
        # the budget check (and INT8 switch) watches the records; its events go to `log`
        switch = build_int8_switch(config.budget, int8_detector, detector, perception, log, builder)
        run_log: LatencyLog = log if switch is None else TeeLatencyLog(log, switch)
        log.write(RunEvent("start", time.monotonic_ns(), _start_details(config, kind, plan)))
        pipeline = assemble(
            source,
            perception,
            build_drawers(config, hud_stats, control),
            MultiOutput([*outputs, *extra_outputs]),
            run_log,
            queue_settings(config, kind),
            is_realtime=config.stream.realtime,
            control=control,
        )
        stopped_by = _run_group(pipeline, resources.window)
        is_interrupted = stopped_by is not None
        if switch is not None:
            switch.close()  # the final decision on the last window
        log.write(RunEvent("end", time.monotonic_ns(), {"interrupted": is_interrupted}))
    finally:
        resources.close()
    records, drops, events = _split(memory)
    return RunOutcome(
        summarize(records, drops, events), records, drops, events, is_interrupted, plan, stopped_by
    )


def _web_logs(web: WebView | None) -> list[LatencyLog]:
    return [] if web is None else [web]


def _start_details(config: AppConfig, kind: SourceKind, plan: PrecisionPlan) -> dict[str, object]:
    return {
        "source": config.source,
        "kind": str(kind),
        "device": plan.device,
        "precision": str(plan.precision),
        "reason": plan.reason,
    }


def _split(
    memory: MemoryLatencyLog,
) -> tuple[list[LatencyRecord], list[DropEvent], list[RunEvent]]:
    entries = memory.entries
    records = [e for e in entries if isinstance(e, LatencyRecord)]
    drops = [e for e in entries if isinstance(e, DropEvent)]
    events = [e for e in entries if isinstance(e, RunEvent)]
    return records, drops, events
