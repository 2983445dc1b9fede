"""Chunk planning and input expansion: pure functions, exact numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.batch import Chunk, expand_inputs, plan_chunks
from stream.errors import BallwatchError


def test_chunks_cut_at_keyframes_and_overlap_on_both_sides() -> None:
    keyframes = list(range(0, 150, 20))  # 0, 20, …, 140

    chunks = plan_chunks(keyframes, 150, chunk_frames=45, overlap_frames=15)

    owned = [(c.start, c.end) for c in chunks]
    assert owned == [(0, 60), (60, 100), (100, 140), (140, 150)]
    # decoding starts at the last keyframe at least 15 frames before the cut
    assert [c.decode_start for c in chunks] == [0, 40, 80, 120]
    assert [c.decode_end for c in chunks] == [75, 115, 150, 150]
    assert all(c.count == 4 for c in chunks)
    assert [c.label for c in chunks] == ["chunk-000", "chunk-001", "chunk-002", "chunk-003"]


def test_owned_ranges_cover_every_frame_once() -> None:
    chunks = plan_chunks([0, 7, 31, 32, 90, 91, 160], 200, chunk_frames=30, overlap_frames=10)

    frames = [f for c in chunks for f in range(c.start, c.end)]
    assert frames == list(range(200))
    assert all(c.owns(c.start) and not c.owns(c.end) for c in chunks)


@pytest.mark.parametrize(
    ("keyframes", "frames", "chunk_frames"),
    [([0, 20, 40], 60, 0), ([0, 20, 40], 60, 100), ([0], 500, 50)],
    ids=["chunking off", "shorter than a chunk", "no keyframe to cut at"],
)
def test_single_chunk_when_there_is_nothing_to_cut(
    keyframes: list[int], frames: int, chunk_frames: int
) -> None:
    assert plan_chunks(keyframes, frames, chunk_frames, 10) == [Chunk(0, 1, 0, 0, frames, frames)]


def test_chunk_ranges_must_nest() -> None:
    with pytest.raises(ValueError, match="decode_start <= start < end <= decode_end"):
        Chunk(0, 1, 10, 5, 20, 20)


def test_inputs_from_folders_lists_and_files(tmp_path: Path) -> None:
    season = tmp_path / "season"
    (season / "week1").mkdir(parents=True)
    for name in ("week1/a.mp4", "b.MKV", "notes.md"):
        (season / name).write_bytes(b"x")
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.mp4").write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text("# matches\nother/a.mp4\n\nhttps://example.org/m/final%20game.mp4\n")

    recordings = expand_inputs([str(season), str(listing), str(season / "b.MKV")])

    assert [r.uri for r in recordings] == [
        str(season / "b.MKV"),
        str(season / "week1" / "a.mp4"),
        str(other / "a.mp4"),
        "https://example.org/m/final%20game.mp4",
    ]
    names = [r.name for r in recordings]
    assert names[0] == "b"
    assert names[3] == "final_game"
    # the two a.mp4 get distinct names, each the stem plus a hash of its path
    assert names[1] != names[2]
    assert all(n.startswith("a-") and len(n) == len("a-") + 8 for n in names[1:3])


def test_a_folder_without_videos_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt.bak").write_text("x")
    with pytest.raises(BallwatchError, match=r"holds no video files .*point at the recordings"):
        expand_inputs([str(tmp_path)])
