"""The user's AWS configuration as the bulk-path tests set it up, and who signed what."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest


def use_lab_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str, region: str
) -> None:
    """Credentials and the endpoint only from profile ``lab`` in the config files (key
    ``AKIDFROMPROFILE``): nothing in the environment but where the files are and the profile."""
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[lab]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = s\n"
    )
    config = tmp_path / "config"
    config.write_text(f"[profile lab]\nregion = {region}\nendpoint_url = {endpoint}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "lab")


def signed_by(endpoint: str, but: str = "") -> list[str]:
    """The access keys that signed requests to the latency endpoint, in order, but ``but``."""
    with urllib.request.urlopen(f"{endpoint}/_endpoint/access-keys") as reply:
        return [key for key in json.load(reply) if key != but]
