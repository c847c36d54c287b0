"""One racer of tests/test_upload_races.py, a real process: for each ``lake<TAB>folder`` line on
stdin it says ``ready``, waits for its byte on the release pipe (file descriptor ``argv[1]``,
shared with the other racer: one write of two bytes releases both at once), uploads the folder
and prints one line, ``committed`` or ``<ErrorClass>: <message>``."""

import os
import sys
from pathlib import Path

from assetlake.errors import AssetLakeError
from assetlake.upload import upload_folder

if __name__ == "__main__":
    release = int(sys.argv[1])
    for line in sys.stdin:
        lake, folder = line.rstrip("\n").split("\t")
        print("ready", flush=True)
        if os.read(release, 1) != b"g":
            sys.exit("the release pipe closed")
        try:
            upload_folder(Path(folder), lake, workers=4)
            print("committed", flush=True)
        except AssetLakeError as error:
            print(f"{type(error).__name__}: {error}", flush=True)
