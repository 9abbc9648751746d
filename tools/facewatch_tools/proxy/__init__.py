"""The office proxy: each camera's RTSP feed to its own KVS stream, supervised.

One ``gst-launch-1.0 -e`` child per camera (rtspsrc -> depay -> parse -> meter -> sink), restarted
with exponential backoff and jitter; health served as Prometheus text on 127.0.0.1 and as a
CloudWatch heartbeat. RTSP credentials come from the host (never the inventory) and never reach
a log line, a metric or an error message.
"""
