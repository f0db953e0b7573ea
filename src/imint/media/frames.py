"""Video frames, streamed: sampled at a chosen rate by timestamps, rotation applied.

``probe_video`` opens a file and refuses, with a clear message, what cannot be
analysed (not a video, audio only, no frames, a codec FFmpeg cannot decode, a
resolution too large to hold in memory). ``iter_frames`` then decodes it as a
stream -- one frame in memory at a time -- and yields the frames nearest to a
regular grid of timestamps (``k / fps``). Sampling follows presentation times,
not frame counts, so variable-frame-rate phone clips are sampled evenly in time.
Phone videos store their orientation in a display matrix; frames come out
upright.

A stream that breaks off (a truncated or corrupt file) stops the iteration with
``TruncatedVideoError`` *after* every good frame before the fault was yielded,
so the caller can keep what it processed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imint.errors import BadInputError

DEFAULT_SAMPLE_FPS = 5.0
# An RGB 8K UHD frame (7680 x 4320) is 100 MB; anything larger is refused before decoding.
MAX_VIDEO_PIXELS = 7680 * 4320


class TruncatedVideoError(BadInputError):
    """The stream ended or broke before its declared end; earlier frames were good."""

    def __init__(self, message: str, *, subject: str | Path | None = None, at: float = 0.0) -> None:
        super().__init__(message, subject=subject)
        self.at = at


@dataclass(frozen=True)
class VideoInfo:
    """What a video stream declares (width and height as displayed, i.e. after rotation)."""

    path: str
    width: int
    height: int
    duration: float  # seconds; from the container, else the stream
    fps: float | None  # average frame rate, None when unknown
    codec: str
    rotation: int  # degrees counter-clockwise the frames are turned to display upright
    frames: int | None  # declared frame count, None when the container does not say

    def expected_samples(self, fps: float) -> int:
        """About how many frames ``iter_frames`` yields at ``fps`` (for progress bars)."""
        n = math.ceil(self.duration * fps - 1e-6)
        if self.fps:
            n = min(n, self.frames or n)
        return max(1, n)


@dataclass
class Frame:
    time: float  # presentation time in seconds from the start of the stream
    index: int  # position in the decoded stream (0-based), for reference only
    rgb: np.ndarray  # (h, w, 3) uint8, upright


def _has_video_signature(path: Path) -> bool:
    """MP4/MOV, Matroska/WebM or AVI by the first bytes (not by the name)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide") or head[:4] in (
        b"\x1a\x45\xdf\xa3",
        b"RIFF",
    )


def _open(path: Path):  # noqa: ANN202 - an av container
    import av

    try:
        # Tags that are not UTF-8 must not stop the frames: PyAV's strict default raised
        # UnicodeDecodeError on them (found by tests/test_fuzz_video.py).
        return av.open(str(path), metadata_errors="replace")
    except FileNotFoundError:
        raise BadInputError("no such file", subject=path) from None
    except av.error.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        if _has_video_signature(path):
            # Video by its first bytes but unreadable: typically an MP4 cut short, whose
            # index (the 'moov' atom, written last) never made it to disk.
            raise BadInputError(
                f"truncated or corrupt video, FFmpeg cannot open it ({reason})", subject=path
            ) from None
        raise BadInputError(f"not a video FFmpeg can read ({reason})", subject=path) from None


def probe_video(path: str | Path, *, max_pixels: int = MAX_VIDEO_PIXELS) -> VideoInfo:
    """Open a video and check it can be analysed; raise ``BadInputError`` saying why not."""
    path = Path(path)
    if path.exists() and path.stat().st_size == 0:
        raise BadInputError("empty file (0 bytes)", subject=path)
    with _open(path) as container:
        streams = [s for s in container.streams if s.type == "video"]
        if not streams:
            kinds = sorted({s.type for s in container.streams})
            if not kinds:
                raise BadInputError("zero-length video: the file holds no streams", subject=path)
            raise BadInputError(f"no video stream (only {', '.join(kinds)})", subject=path)
        stream = streams[0]
        try:
            ctx = stream.codec_context
            decodable = ctx is not None and ctx.codec is not None and ctx.codec.is_decoder
        except Exception:  # noqa: BLE001 - PyAV raises on streams whose codec FFmpeg does not know
            ctx, decodable = None, False
        if not decodable:
            raise BadInputError("video codec unknown to this FFmpeg build: cannot decode", subject=path)
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width <= 0 or height <= 0:
            raise BadInputError("video stream has no picture size (corrupt header?)", subject=path)
        if width * height > max_pixels:
            raise BadInputError(
                f"resolution {width} x {height} is too large (limit {max_pixels / 1e6:.0f} Mpx)", subject=path
            )
        # The video stream's own duration: the container's also counts a longer audio track.
        duration = 0.0
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1e6
        frames = int(stream.frames) if stream.frames else None
        if frames == 0 and duration <= 0:
            raise BadInputError("zero-length video (no frames)", subject=path)
        fps = float(stream.average_rate) if stream.average_rate else None
        rotation = 0
        # The display matrix is per-frame side data in FFmpeg 7+; peek at the first frame.
        try:
            stream.thread_type = "AUTO"
            for first in container.decode(stream):
                rotation = int(round(float(first.rotation or 0) / 90.0)) * 90 % 360
                break
            else:
                raise BadInputError("zero-length video (no frames could be decoded)", subject=path)
        except BadInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - av raises many error types
            raise BadInputError(f"first frame cannot be decoded ({exc})", subject=path) from None
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            path=str(path),
            width=width,
            height=height,
            duration=duration,
            fps=fps,
            codec=ctx.codec.name,
            rotation=rotation,
            frames=frames,
        )


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a decoded frame as its display matrix says (degrees counter-clockwise)."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb


def iter_frames(
    path: str | Path,
    *,
    fps: float = DEFAULT_SAMPLE_FPS,
    start: float = 0.0,
    end: float | None = None,
    info: VideoInfo | None = None,
) -> Iterator[Frame]:
    """Yield upright RGB frames sampled at ``fps`` from ``start`` (seconds) up to ``end``.

    The sample grid is ``k / fps`` from the stream's start; each grid point takes the
    first decoded frame at or after it, so a 30 fps clip sampled at 5 fps gives every
    6th frame, and a clip slower than ``fps`` gives every frame. Resuming at ``start``
    seeks to the keyframe before it and decodes forward, so the same frames come out
    as in an uninterrupted run.

    Frames that no sample can take are not all decoded: a packet whose presentation time
    is more than 1.5 source frames past every grid point is sent with ``skip_frame``
    NONREF, so the decoder drops it if no other frame refers to it (B-frames, most of
    H.264's frames). Every frame a grid point could take is decoded in full, so the samples
    are the same frames as with everything decoded, at about half the decoding cost.
    """
    import av

    if fps <= 0:
        raise BadInputError("sampling rate must be positive", subject="fps")
    path = Path(path)
    info = info or probe_video(path)
    step = 1.0 / fps
    # Half a source frame of slack, so a 29.97 fps frame at 0.2002 s counts for the 0.2 s slot.
    slack = min(0.5 / info.fps if info.fps else 1e-3, 0.25 * step)
    next_slot = math.ceil(start * fps - 1e-6)
    # A frame more than this far past a grid point (less its slack) is never a sample.
    reach = 1.5 / info.fps if info.fps else step
    last_time = None
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        codec = stream.codec_context
        t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        if start > 0:
            container.seek(int((start + t0) / stream.time_base), stream=stream, backward=True)
        skipping = False
        # A frame's position in presentation order counts the skipped frames too: the packets'
        # timestamps below its own (packets come in decoding order; the reordering is short).
        counted, unplaced = 0, []
        try:
            for packet in container.demux(stream):
                if packet.pts is not None:
                    unplaced.append(packet.pts)
                    if reach < step:
                        wanted = (float(packet.pts * stream.time_base) - t0 + slack) % step < reach
                        if wanted == skipping:  # switch only when it changes
                            skipping = not wanted
                            codec.skip_frame = "NONREF" if skipping else "DEFAULT"
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    index = counted + sum(p < frame.pts for p in unplaced)
                    counted += sum(p <= frame.pts for p in unplaced)
                    unplaced = [p for p in unplaced if p > frame.pts]
                    t = float(frame.pts * stream.time_base) - t0
                    last_time = t
                    if end is not None and t >= end - slack:
                        return
                    if t < next_slot * step - slack:
                        continue
                    rgb = upright(frame.to_ndarray(format="rgb24"), info.rotation)
                    # Jump to the grid slot after this frame (a gap in a VFR clip skips slots).
                    next_slot = math.floor((t + slack) * fps) + 1
                    yield Frame(time=round(t, 4), index=index, rgb=rgb)
        except av.error.FFmpegError as exc:
            at = last_time if last_time is not None else start
            raise TruncatedVideoError(
                f"stream is corrupt or truncated after {at:.2f} s ({exc})", subject=path, at=at
            ) from None
    declared = info.duration
    if end is None and last_time is not None and declared > 0:
        frame_time = 1.0 / info.fps if info.fps else 0.1
        if last_time < declared - max(1.0, 3 * frame_time):
            raise TruncatedVideoError(
                f"stream ends at {last_time:.2f} s of a declared {declared:.2f} s (truncated file?)",
                subject=path,
                at=last_time,
            )
    if last_time is None and start == 0:
        raise BadInputError("zero-length video (no frames could be decoded)", subject=path)


def prefetched(frames: Iterator[Frame], depth: int = 2) -> Iterator[Frame]:
    """Decode ahead in a thread (FFmpeg releases the GIL) while the caller analyses a frame.

    At most ``depth`` frames wait in memory. Errors of the decoder (a truncated stream) are
    raised in the caller, after the frames before them; leaving the loop early stops the thread.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)
        finally:
            close = getattr(frames, "close", None)
            if stop.is_set() and close is not None:
                close()

    thread = threading.Thread(target=work, name="imint-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
