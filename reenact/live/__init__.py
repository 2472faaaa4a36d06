"""Live side: a camera (or a file played as if live) in, the reenacted frames out to a preview window
and/or a virtual camera. Capture runs in its own thread and only ever hands on the newest frame."""
