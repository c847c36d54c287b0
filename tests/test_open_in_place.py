"""Analysts need no assetlake: a committed asset opens in place from S3 with zarr and hdmf-zarr.

The reading side runs in a fresh Python process whose code never imports assetlake, exactly as a
notebook would, against the moto server over HTTP.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from nwbfiles import RATE, nwbfile_with_series, traces

from assetlake.builder import AssetBuilder
from assetlake.formats import zarr_data_io
from assetlake.naming import AssetName
from assetlake.schema.samples import raw_sidecars

ACQUIRED = datetime(2024, 3, 1, 14, 5, 9, tzinfo=timezone(timedelta(hours=-8)))
RAW = "ecephys_123456_2024-03-01_14-05-09"
CHILD = textwrap.dedent(
    """
    import json, math, sys
    import numpy as np
    import zarr
    from hdmf_zarr import NWBZarrIO

    root, endpoint, expected = sys.argv[1], sys.argv[2], sys.argv[3]
    options = {"client_kwargs": {"endpoint_url": endpoint}}
    want = np.load(expected)

    ap = zarr.open(f"{root}/traces.zarr", mode="r", storage_options=options)["ap"]
    assert np.array_equal(ap[:], want["ap"]) and ap.chunks == (30000, 8), ap.chunks
    assert np.array_equal(ap[30000:30010, 2], want["ap"][30000:30010, 2])

    with NWBZarrIO(f"{root}/ecephys.nwb.zarr", mode="r", storage_options=options) as io:
        series = io.read().acquisition["ElectricalSeries"]
        assert np.array_equal(series.data[:], want["ap"]) and series.rate == 30000.0

    image = zarr.open_group(f"{root}/volume.ome.zarr", mode="r", storage_options=options)
    (ms,) = image.attrs["multiscales"]
    assert ms["version"] == "0.4", ms
    assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
    assert all(a["type"] == "space" and a["unit"] == "micrometer" for a in ms["axes"])
    shapes, scales = [], []
    for dataset in ms["datasets"]:
        transforms = dataset["coordinateTransformations"]
        assert transforms[0]["type"] == "scale" and len(transforms[0]["scale"]) == 3
        assert [t["type"] for t in transforms[1:]] in ([], ["translation"])
        level = image[dataset["path"]]
        assert level.ndim == len(ms["axes"]) and level._dimension_separator == "/"
        shapes.append(level.shape)
        scales.append(transforms[0]["scale"])
    for (big, small), (fine, coarse) in zip(zip(shapes, shapes[1:]), zip(scales, scales[1:])):
        assert small == tuple(math.ceil(n / 2) for n in big), (big, small)
        assert coarse == [2 * s for s in fine], (fine, coarse)
    assert np.array_equal(image["0"][:], want["volume"])
    assert "assetlake" not in sys.modules, "the child imported assetlake"
    print(json.dumps({"levels": len(shapes), "shapes": shapes, "scales": scales}))
    """
)


def test_analyst_opens_zarr_nwb_zarr_and_ome_zarr_without_assetlake(
    s3_lake: str, moto_server: str, tmp_path: Path
) -> None:
    data = traces(samples=70_000, channels=8)
    volume = np.arange(16 * 20 * 24, dtype=np.uint16).reshape(16, 20, 24)
    sidecars = raw_sidecars(AssetName.raw("ecephys", "123456", ACQUIRED), ACQUIRED)
    models = {filename.removesuffix(".json"): model for filename, model in sidecars.items()}
    with AssetBuilder.raw(models.pop("data_description"), models.pop("subject"), **models) as asset:
        asset.write_array("traces.zarr", "ap", data, sampling_rate=RATE)
        asset.write_nwb(nwbfile_with_series(zarr_data_io(data, sampling_rate=RATE)))
        asset.write_ome_zarr(volume, voxel_size=(4.0, 0.5, 0.5), levels=3, chunks=(8, 16, 16))
        asset.commit(s3_lake)
    expected = tmp_path / "expected.npz"
    np.savez(expected, ap=data, volume=volume)
    script = tmp_path / "analyst.py"
    script.write_text(CHILD)
    run = subprocess.run(
        [sys.executable, str(script), f"{s3_lake}/{RAW}", moto_server, str(expected)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen == {
        "levels": 3,
        "shapes": [[16, 20, 24], [8, 10, 12], [4, 5, 6]],
        "scales": [[4.0, 0.5, 0.5], [8.0, 1.0, 1.0], [16.0, 2.0, 2.0]],
    }
