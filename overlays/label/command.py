"""``ballwatch label VIDEO``: options and the session (the CLI module wires these in)."""

from __future__ import annotations

import argparse
import logging
import webbrowser
from collections.abc import Callable
from pathlib import Path

from configs.app_config import AppConfig, load_config, preset_path
from overlays.label.prefill import Prefill
from overlays.label.server import LabelSession
from overlays.label.store import LabelStore, sidecar_path
from overlays.label.video import FrameReader, LabelToolError
from overlays.web import parse_address
from perception.worker import FramePerception

logger = logging.getLogger(__name__)

_WAIT_S = 0.5


def default_labels_path(video: Path) -> Path:
    """``match.mp4`` → ``match.labels.csv`` beside it."""
    return video.with_name(f"{video.stem}.labels.csv")


def model_perception(config: AppConfig) -> Callable[[], FramePerception]:
    """Load the configured detector once; each call wires a fresh search and tracker to it."""
    from perception.precision import resolve_precision  # noqa: PLC0415 - torch loads lazily
    from perception.search import BallSearch  # noqa: PLC0415
    from perception.search_and_track import SearchAndTrack  # noqa: PLC0415
    from stream.app import build_detector  # noqa: PLC0415

    detector_cfg = config.detector
    plan = resolve_precision(
        detector_cfg.precision, detector_cfg.device, detector_cfg.int8_artifact
    )
    detector = build_detector(config, plan)
    detector.warm_up()

    def fresh() -> FramePerception:
        return SearchAndTrack.build(detector, BallSearch(detector, config.search), config.tracker)

    return fresh


def open_session(
    args: argparse.Namespace,
    perception_factory: Callable[[], Callable[[], FramePerception]] | None = None,
) -> tuple[LabelSession, Path]:
    """Check the video and labels, bind the port; returns the unstarted session and the CSV.

    ``perception_factory``: what prefills (tests give a fake); None loads the configured model.

    Raises:
        LabelToolError: the video cannot be decoded, or the labels belong to another video.
        OutputError: the address cannot be served.
    """
    video = Path(args.video)
    if not video.is_file():
        msg = f"video {video} not found; give the path of a video file"
        raise LabelToolError(msg)
    labels = Path(args.labels) if args.labels else default_labels_path(video)
    if not labels.parent.is_dir():
        msg = f"labels folder {labels.parent} does not exist; create it or choose --labels"
        raise LabelToolError(msg)
    reader = FrameReader(video)
    try:
        store = LabelStore(labels, video.name, reader.info)
        prefill = None
        if not args.no_prefill:
            if perception_factory is None:
                overrides = {"source": str(video)}
                if args.weights:
                    overrides["detector.weights"] = args.weights
                config = load_config(preset_path(args.config), overrides)
                perception_factory = lambda: model_perception(config)  # noqa: E731
            prefill = Prefill(video, perception_factory)
        session = LabelSession(reader, store, prefill, parse_address(args.serve), args.serve_token)
    except BaseException:
        reader.close()
        raise
    return session, labels


def run_label(args: argparse.Namespace) -> int:
    """``ballwatch label``: serve the page until Ctrl-C; every change is already saved."""
    session, labels = open_session(args)
    session.start()
    print(f"labelling {args.video} at {session.url}", flush=True)
    print(f"labels: {labels} (+ {sidecar_path(labels).name}); Ctrl-C to finish", flush=True)
    if not args.no_browser:
        webbrowser.open(session.url)  # False (and nothing) where there is no browser
    try:
        session.wait()
    except KeyboardInterrupt:
        print("labelling finished; every change was saved", flush=True)
    finally:
        session.close()
    return 0
