"""assetlake: a catalogue of immutable neurophysiology data assets in S3, with JSON sidecars.

Heavy parts (boto3, zarr, pynwb) are imported by the functions that need them, never here, so the
CLI starts fast.
"""

__version__ = "0.1.0"
