import os
import sys

from reenact.tracking.native_logs import filtered_stderr


def test_known_notices_are_dropped_and_everything_else_is_kept(capfd):
    with filtered_stderr():
        os.write(2, b"WARNING: Logging before InitGoogle() is written to STDERR\n")
        os.write(2, b"W0000 00:00:1795577096.476828    4627 inference_feedback_manager.cc:121] "
                    b"Feedback manager requires a model\n")
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"E0000 00:00:17 1 face_landmarker_graph.cc:9] a real error\n")
        print("python side", file=sys.stderr)
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert "a real error" in err and "python side" in err and err.endswith("after\n")
    assert "InitGoogle" not in err and "Feedback manager" not in err and "XNNPACK" not in err
