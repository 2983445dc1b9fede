"""A single-ball tracker in image pixels, driven by frame timestamps.

Design, for a ball that moves more than its own size per frame and reverses at every hit:

- **Motion**: least-squares lines through the last accepted detections of the current
  trajectory segment, in time, so dropped frames only widen the extrapolation. Every
  window of the last 2..N detections is tried and the one with the smallest error wins:
  long windows average detector noise away while the path is straight; their misfit
  (chi-square) and an acceleration term stop them from lagging when it bends.
- **Uncertainty** (per-axis sigma): from the fit, the acceleration term and the speed
  times the distance in frames from the nearest detection. It sizes the gate and the
  track crop, and decides whether a coasted or interpolated position is shown.
- **Candidate choice**: inside the gate, the candidate nearest the prediction (scaled by
  the uncertainty, favouring higher scores). A candidate where the ball was on the
  previous frame is a repeated frame (or a stop), not a miss. Otherwise a candidate
  within reach of the last detection at the ball's top speed is taken as a hit: a new
  segment starts there, re-acquiring the ball on the frame after the hit. If the ball
  shows up on the old path within ``confirm_frames`` instead, the "hit" was a false
  positive and the old track is restored.
- **Blur streaks**: a ball faster than ``streak_speed_px`` a frame is a streak the
  detector often boxes at both ends; a second box in the gate along the path, closer than
  a frame's travel, makes the ball the middle of the two
  (:func:`~perception.tracker.candidates.streak_centre`), from the frame that starts the
  track on. A lone box may be either end: the fixed-lag smoothing then allows it
  ``streak_end_sigma`` px of error per px a frame and takes the line through its neighbours.
- **Coasting**: up to ``max_coast_frames`` misses keep the track; a position is reported
  as ``predicted`` only when its uncertainty is small and it lies in the frame, else as
  ``lost``: a wrong position costs precision, a missing one only recall.
- **Acquisition**: with no track, a detection starts one only when a second detection
  within reach follows in the next ``confirm_frames`` frames; lone false positives never
  show.
- **Static clutter**: a candidate whose pixels did not change over the last frames
  (``moving`` from :mod:`perception.change`: a logo, a light, a line end) never counts as
  a hit, and starts a track only when the detector scores it ``rest_confidence`` or more
  (a ball at rest before a kick-off), behind any moving candidate. Inside the gate it is
  taken only while the tracked ball moves less than ``still_ball_px`` per frame; a
  faster ball always changes the pixels under it, so a static candidate there means the
  track followed clutter, and it ends at once. Spots where detections keep landing
  (``clutter_frames`` within ``clutter_radius_px``) are removed too, which ends a slow
  track that stopped on a logo (:mod:`perception.clutter`).
- **Slow tracks give way**: a track slower than ``still_ball_px`` a frame may follow a
  distant player's head or a shoe. While it lasts the search also looks elsewhere
  (``search.slow_track_windows``), and a moving ball confirmed outside the gate, scored
  above the track's mean score, takes the track over (``slow_challenge``).
- **Repeated frames** (:class:`FrameCadence`): 25 or 24 fps footage sent at 30 fps
  repeats a picture every 6 or 5 frames; the ball then stops dead on one phase. Once
  the motion shows that pattern, fits run on the picture clock.
- **Fixed lag** (:class:`LaggedTracker`, ``lag_frames`` > 0): a frame's state is settled
  ``lag_frames`` frames later, using detections on both sides: gaps are interpolated
  instead of extrapolated, seen positions are smoothed along the path, and the first
  detection of a new track is shown once confirmed. It adds ``lag_frames`` frames of
  latency; ``lag_frames: 0`` reports each frame at once (online).

No IoU anywhere. Not thread-safe: called only from the perception thread.

Modules, each owning one part:

- :mod:`~perception.tracker.values`: ``TrackPoint``, ``TrackerPrediction``, ``TrackerStep``.
- :mod:`~perception.tracker.motion_fit`: the least-squares motion fits and their errors.
- :mod:`~perception.tracker.candidates`: one frame's candidates, the choice, the gate.
- :mod:`~perception.tracker.seeds`: acquisition from confirmed lone detections.
- :mod:`~perception.tracker.cadence`: repeated frames found from the motion.
- :mod:`~perception.tracker.online`: :class:`BallTracker`, the online tracker.
- :mod:`~perception.tracker.lagged`: :class:`LaggedTracker`, the fixed-lag stage.
"""

from perception.tracker.cadence import FrameCadence
from perception.tracker.lagged import LaggedTracker
from perception.tracker.motion_fit import MotionErrors, MotionFit, fit_line, fit_motion
from perception.tracker.online import BallTracker
from perception.tracker.seeds import seeding_for
from perception.tracker.values import TrackerPrediction, TrackerStep, TrackPoint

__all__ = [
    "BallTracker",
    "FrameCadence",
    "LaggedTracker",
    "MotionErrors",
    "MotionFit",
    "TrackPoint",
    "TrackerPrediction",
    "TrackerStep",
    "fit_line",
    "fit_motion",
    "seeding_for",
]
