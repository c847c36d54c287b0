"""One racer of tests/test_upload_races.py, a real process: for each ``lake<TAB>folder`` line on
stdin it uploads the folder and prints one line, ``committed`` or ``<ErrorClass>: <message>``."""

import sys
from pathlib import Path

from assetlake.errors import AssetLakeError
from assetlake.upload import upload_folder

for line in sys.stdin:
    lake, folder = line.rstrip("\n").split("\t")
    try:
        upload_folder(Path(folder), lake, workers=4, progress=False)
        print("committed", flush=True)
    except AssetLakeError as error:
        print(f"{type(error).__name__}: {error}", flush=True)
