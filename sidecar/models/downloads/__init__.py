"""The safe model downloader: jobs in `manager`, HTTP in `transport`, the verified file in `sink`."""

from .manager import (
    ACTIVE_STATES,
    DOWNLOAD_STATES,
    MAX_BYTES_ENV,
    Download,
    Downloader,
    DownloadRecords,
    DownloadRequest,
    global_max_bytes,
)

__all__ = [
    "ACTIVE_STATES",
    "DOWNLOAD_STATES",
    "MAX_BYTES_ENV",
    "Download",
    "DownloadRecords",
    "DownloadRequest",
    "Downloader",
    "global_max_bytes",
]
