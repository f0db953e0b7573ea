"""Video decoding: sampling by timestamps, rotation, and clear refusals of bad files."""

import threading

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from imint.errors import BadInputError
from imint.media.frames import TruncatedVideoError, iter_frames, prefetched, probe_video
from tests.video_clips import truncate, write_clip


def _gradient_frames(n: int, w: int = 96, h: int = 64) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[:, : w // 4] = 255  # a white band on the left shows which way is up
        img[..., 1] = i * 3 % 256
        frames.append(img)
    return frames


def test_30fps_clip_sampled_at_5fps_gives_every_sixth_frame(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", _gradient_frames(60), fps=30)
    frames = list(iter_frames(clip, fps=5))
    assert [f.time for f in frames] == pytest.approx([i * 0.2 for i in range(10)], abs=1e-3)
    assert [f.index for f in frames] == [i * 6 for i in range(10)]
    assert frames[0].rgb.shape == (64, 96, 3) and frames[0].rgb.dtype == np.uint8


def test_frames_no_sample_takes_may_be_skipped_but_the_samples_are_the_same_frames(tmp_path):
    # x264's "medium" preset uses B-frames, which the decoder drops between samples.
    clip = tmp_path / "b.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.options = {"preset": "medium", "bf": "3"}
        for img in _gradient_frames(90):
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(clip)) as container:
        every = list(container.decode(video=0))
    assert any(f.pict_type == PictureType.B for f in every)
    sampled = list(iter_frames(clip, fps=5))
    expected = every[::6]  # 30 fps sampled at 5 fps: every sixth frame, B-frames included
    assert [f.index for f in sampled] == list(range(0, 90, 6))
    assert [f.time for f in sampled] == pytest.approx([float(f.time) for f in expected], abs=1e-3)
    for got, want in zip(sampled, expected, strict=True):
        assert np.array_equal(got.rgb, want.to_ndarray(format="rgb24"))


def test_clip_slower_than_the_sampling_rate_gives_every_frame(tmp_path):
    clip = write_clip(tmp_path / "slow.mp4", _gradient_frames(6), fps=2)
    assert [f.time for f in iter_frames(clip, fps=5)] == pytest.approx([0, 0.5, 1.0, 1.5, 2.0, 2.5])


def test_variable_frame_rate_is_sampled_by_timestamps_not_frame_counts(tmp_path):
    times = [0.0, 0.05, 0.1, 0.5, 0.52, 1.3]
    clip = write_clip(tmp_path / "vfr.mp4", _gradient_frames(6), fps=10, times=times)
    assert [f.time for f in iter_frames(clip, fps=5)] == pytest.approx([0.0, 0.5, 1.3])


def test_sampling_resumes_at_a_time_with_the_same_frames(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", _gradient_frames(40), fps=10)
    whole = [f.time for f in iter_frames(clip, fps=5)]
    rest = [f.time for f in iter_frames(clip, fps=5, start=2.0)]
    assert rest == [t for t in whole if t >= 2.0 - 1e-6]


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_display_matrix_rotation_is_applied(tmp_path, rotation):
    clip = write_clip(tmp_path / "phone.mp4", _gradient_frames(3), rotation=rotation)
    info = probe_video(clip)
    frame = next(iter_frames(clip, info=info)).rgb
    white = frame[..., 0] > 128
    if rotation == 180:
        assert frame.shape[:2] == (64, 96) and white[:, -10:].all() and not white[:, :10].any()
    else:
        assert frame.shape[:2] == (96, 64) and (info.width, info.height) == (64, 96)
        # Counter-clockwise 90: the left band ends at the bottom; clockwise: at the top.
        band_rows = np.flatnonzero(white.all(axis=1))
        assert (band_rows.min() > 48) if rotation == 90 else (band_rows.max() < 48)


def test_probe_reports_size_duration_and_codec(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", _gradient_frames(20), fps=10)
    info = probe_video(clip)
    assert (info.width, info.height, info.codec, info.rotation) == (96, 64, "h264", 0)
    assert info.duration == pytest.approx(2.0, abs=0.11)
    assert info.fps == pytest.approx(10)


def test_truncated_faststart_clip_yields_good_frames_then_says_truncated(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", _gradient_frames(50), fps=10, faststart=True)
    cut = truncate(clip, tmp_path / "cut.mp4", 0.5)
    got = []
    with pytest.raises(TruncatedVideoError, match="truncated|corrupt") as err:
        for frame in iter_frames(cut, fps=5):
            got.append(frame.time)
    assert got and got[-1] < 4.0
    assert err.value.at == pytest.approx(got[-1], abs=0.2)
    assert "cut.mp4" in str(err.value)


def test_truncated_clip_without_its_index_is_refused(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", _gradient_frames(50), fps=10)
    cut = truncate(clip, tmp_path / "cut.mp4", 0.6)
    with pytest.raises(BadInputError, match="truncated or corrupt video"):
        probe_video(cut)


def test_audio_only_file_is_refused(tmp_path):
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for i in range(10):
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(BadInputError, match="no video stream \\(only audio\\)"):
        probe_video(path)


def test_zero_length_videos_are_refused(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(BadInputError, match="empty file"):
        probe_video(empty)
    no_frames = tmp_path / "noframes.mp4"
    with av.open(str(no_frames), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        out.start_encoding()
    with pytest.raises(BadInputError, match="zero-length"):
        probe_video(no_frames)


def test_unknown_codec_is_refused(tmp_path):
    mkv = write_clip(tmp_path / "c.mkv", _gradient_frames(5), fps=10)
    data = mkv.read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1  # Matroska's codec id of H.264
    odd = tmp_path / "odd.mkv"
    odd.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_XXXXX/XXX/XXX"))
    with pytest.raises(BadInputError, match="odd.mkv: video codec unknown to this FFmpeg build"):
        probe_video(odd)


def test_text_named_mp4_is_not_a_video(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is a note, not a video")
    with pytest.raises(BadInputError, match="not a video FFmpeg can read"):
        probe_video(fake)


def test_huge_resolution_is_refused_before_decoding(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", _gradient_frames(2), fps=10)
    with pytest.raises(BadInputError, match="96 x 64 is too large"):
        probe_video(clip, max_pixels=5000)


def test_prefetched_frames_come_in_order_and_errors_after_good_frames(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", _gradient_frames(50), fps=10, faststart=True)
    plain = [f.time for f in iter_frames(clip, fps=5)]
    assert [f.time for f in prefetched(iter_frames(clip, fps=5))] == plain
    cut = truncate(clip, tmp_path / "cut.mp4", 0.5)
    got = []
    with pytest.raises(TruncatedVideoError):
        for frame in prefetched(iter_frames(cut, fps=5)):
            got.append(frame.time)
    assert got == [t for t in plain if t <= got[-1]] and got[-1] < 4.0


def test_leaving_a_prefetched_loop_early_stops_the_decoder(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", _gradient_frames(50), fps=10)
    for frame in prefetched(iter_frames(clip, fps=5)):
        if frame.time >= 1.0:
            break
    assert not [t for t in threading.enumerate() if t.name == "imint-decode"]
