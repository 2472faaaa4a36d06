"""Carry a media file's audio into an output container: packet copy where the container can hold
the codec, otherwise decode and re-encode to AAC. Every audio stream is carried (a second language,
a commentary track). Packets are fed in time order so the muxer can interleave them with the video."""
from __future__ import annotations

import os
from pathlib import Path

import av


def _can_copy(src: av.audio.stream.AudioStream, format_name: str) -> bool:
    """Whether a packet copy of ``src`` fits a ``format_name`` container. ``supported_codecs``
    is not enough: mov lists opus yet refuses it when the header is written (ArgumentError)."""
    try:
        with av.open(os.devnull, "w", format=format_name) as probe:
            probe.add_stream_from_template(src)
            probe.start_encoding()
        return True
    except (av.FFmpegError, ValueError):
        return False


class _Track:
    """One input audio stream and its output stream (copied or re-encoded to AAC)."""

    def __init__(self, src, out: av.container.OutputContainer, mode: str):
        self.src, self.out = src, out
        codec = src.codec_context.name
        self.copy = mode == "copy" and codec in out.supported_codecs and _can_copy(src, out.format.name)
        self.note: str | None = None
        if self.copy:
            self.stream = out.add_stream_from_template(src)
        else:
            self.stream = out.add_stream("aac", rate=src.codec_context.sample_rate or 48000)
            self.stream.layout = src.codec_context.layout.name
            if mode == "copy":
                self.note = f"audio: {codec} cannot go into {out.format.name} as is; re-encoded to AAC"

    def write(self, packet: av.Packet) -> None:
        if self.copy:
            if packet.dts is None and packet.size == 0:
                return  # the demuxer's final flush packet
            packet.stream = self.stream
            self.out.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.FFmpegError:
            return  # a damaged audio packet is skipped; the video is what matters
        for frame in frames:
            frame.pts = None  # let the encoder number samples continuously
            for p in self.stream.encode(frame):
                self.out.mux(p)

    def finish(self) -> None:
        if not self.copy:
            for p in self.stream.encode(None):
                self.out.mux(p)


class AudioCopier:
    """Every audio stream of ``path`` into ``out``, in the input's order.

    mode: "copy" (remux packets where ``out`` supports the codec, else AAC) or "aac". After
    construction ``streams`` are the output streams (empty when the file has no audio), ``stream``
    the first of them (or None), and ``note`` says what was done when it is worth telling.
    """

    def __init__(self, path: str | Path, out: av.container.OutputContainer, mode: str = "copy"):
        self._in = av.open(str(path), "r")
        sources = list(self._in.streams.audio)
        self._tracks = {s.index: _Track(s, out, mode) for s in sources}
        notes = sorted({t.note for t in self._tracks.values() if t.note})
        self.note: str | None = "; ".join(notes) or None
        self.streams = [t.stream for t in self._tracks.values()]
        self.stream = self.streams[0] if self.streams else None
        if not sources:
            self._in.close()
            self._in = None
            return
        self._packets = self._in.demux(*sources)
        self._pending = None  # a packet read ahead that is later than the last limit

    def copy_until(self, seconds: float | None) -> None:
        """Move audio with start time <= ``seconds`` (None: all of it) into the output."""
        if self._in is None:
            return
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                return
            if packet.pts is not None and seconds is not None and packet.time_base is not None \
                    and float(packet.pts * packet.time_base) > seconds:
                self._pending = packet
                return
            self._tracks[packet.stream.index].write(packet)

    def finish(self) -> None:
        """Flush the encoders (re-encode mode) and close the input."""
        if self._in is None:
            return
        for track in self._tracks.values():
            track.finish()
        self.close()

    def close(self) -> None:
        if self._in is not None:
            self._in.close()
            self._in = None
