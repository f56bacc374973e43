"""Bounds of the log, each with its unit in its name.

`FRAME_PAYLOAD_BYTES_MAX` is part of the on-disk format: a frame header claiming a longer
payload is treated as damage when a segment is scanned. `Log.open` may be given a lower
`record_size_bytes_max` for appends, never a higher one.
"""

SEGMENT_SIZE_BYTES_DEFAULT = 64 << 20
# A record's payload may not be larger than this (a frame adds FRAME_HEADER_BYTES).
FRAME_PAYLOAD_BYTES_MAX = 64 << 20
# Sparse index: one entry for the first record of a segment, then whenever this many records
# or this many bytes have passed since the previous entry. A seek scans at most that much.
INDEX_INTERVAL_RECORDS = 1_024
INDEX_INTERVAL_BYTES = 1 << 20
# Readers and the scan on open read segment files through a buffer of this size, and get
# frames from the scan in lists of about this many payload bytes.
READ_CHUNK_BYTES = 1 << 20
