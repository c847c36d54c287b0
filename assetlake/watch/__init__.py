"""Collection from rigs: a drop-folder agent that commits finished sessions through the uploader.

``settle`` decides when a dropped entry is complete, ``schedule`` when uploads may run,
``handover`` and ``aind`` read the two kinds of manifest, ``journal`` remembers every session
across restarts, and ``agent`` ties them to the one uploader.
"""
