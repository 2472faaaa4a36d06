"""Carry a media file's audio into an output container: packet copy where the container can hold
the codec, otherwise decode and re-encode to AAC. Packets are fed in time order so the muxer can
interleave them with the video."""
from __future__ import annotations

from pathlib import Path

import av


class AudioCopier:
    """The first audio stream of ``path`` into ``out``.

    mode: "copy" (remux packets where ``out`` supports the codec, else AAC) or "aac". After
    construction ``stream`` is the output stream (None when the file has no audio) and ``note``
    says what was done when it is worth telling (re-encoding).
    """

    def __init__(self, path: str | Path, out: av.container.OutputContainer, mode: str = "copy"):
        self.note: str | None = None
        self.stream = None
        self._in = av.open(str(path), "r")
        if not self._in.streams.audio:
            self._in.close()
            self._in = None
            return
        self._src = self._in.streams.audio[0]
        self._out = out
        codec = self._src.codec_context.name
        self.copy = mode == "copy" and codec in out.supported_codecs
        if self.copy:
            self.stream = out.add_stream_from_template(self._src)
        else:
            rate = self._src.codec_context.sample_rate or 48000
            self.stream = out.add_stream("aac", rate=rate)
            self.stream.layout = self._src.codec_context.layout.name
            self.note = f"audio: {codec} cannot go into {out.format.name} as is; re-encoded to AAC"
        self._packets = self._in.demux(self._src)
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
            self._write(packet)

    def _write(self, packet: av.Packet) -> None:
        if self.copy:
            if packet.dts is None and packet.size == 0:
                return  # the demuxer's final flush packet
            packet.stream = self.stream
            self._out.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.FFmpegError:
            return  # a damaged audio packet is skipped; the video is what matters
        for frame in frames:
            frame.pts = None  # let the encoder number samples continuously
            for p in self.stream.encode(frame):
                self._out.mux(p)

    def finish(self) -> None:
        """Flush the encoder (re-encode mode) and close the input."""
        if self._in is None:
            return
        if not self.copy:
            for p in self.stream.encode(None):
                self._out.mux(p)
        self.close()

    def close(self) -> None:
        if self._in is not None:
            self._in.close()
            self._in = None
