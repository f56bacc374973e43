"""Bounds of the log, each with its unit in its name."""

SEGMENT_SIZE_BYTES_DEFAULT = 64 << 20
FRAME_PAYLOAD_BYTES_MAX = 64 << 20
# A reader seeks to the nearest indexed frame, then scans at most this many records.
INDEX_INTERVAL_RECORDS = 1_024
