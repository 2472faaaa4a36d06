"""Decoder and encoder thread counts reach FFmpeg, and decoding is the same with any of them."""
from __future__ import annotations

import re

import numpy as np

from reenact.media.sink import SinkConfig, VideoSink
from reenact.media.source import SourceConfig, VideoSource

from helpers.clips import make_clip, pattern


def _clip(tmp_path):
    return make_clip(tmp_path / "in.mp4", [pattern(i, 320, 240) for i in range(12)], audio=None)


def test_decoder_threads_are_set_and_do_not_change_pixels(tmp_path):
    clip = _clip(tmp_path)
    images = {}
    for n in (1, 0):
        with VideoSource(clip, SourceConfig(threads=n)) as src:
            used = src._stream.codec_context.thread_count  # 0 opens as FFmpeg's choice (cores + 1)
            assert used == 1 if n == 1 else used >= 1
            images[n] = [f.image for f in src]
    assert len(images[1]) == 12
    for a, b in zip(images[1], images[0]):
        np.testing.assert_array_equal(a, b)


def test_encoder_threads_reach_x264(tmp_path):
    clip = _clip(tmp_path)
    for n in (1, 2):
        out = tmp_path / f"out{n}.mp4"
        with VideoSource(clip) as src, VideoSink(out, src.info, SinkConfig(threads=n)) as sink:
            for f in src:
                sink.write(f)
        # x264 writes its settings into the stream (an SEI message): the thread count is there.
        found = re.search(rb" threads=(\d+) ", out.read_bytes())
        assert found and int(found.group(1)) == n
