"""``hpp up``'s wiring of the children: keys, delegation, the UI's storage secret."""

from __future__ import annotations

import json
from pathlib import Path

from core.settings import (
    hash_api_key,
)
from hpp.up import LOCAL_KEY_NAME, UI_KEY_NAME, _child_environment
from tests.support.up_settings import up_settings


def test_the_ui_key_acts_for_browsers_and_their_ids_survive_a_restart(tmp_path: Path) -> None:
    env = _child_environment(up_settings(tmp_path), redis_url="redis://r:6379/0", state=tmp_path)
    again = _child_environment(up_settings(tmp_path), redis_url="redis://r:6379/0", state=tmp_path)

    keys = json.loads(env["HPP_API_KEYS"])
    assert json.loads(env["HPP_DELEGATE_KEY_NAMES"]) == [UI_KEY_NAME]
    assert keys[UI_KEY_NAME] == hash_api_key(env["HPP_UI_API_KEY"])
    assert UI_KEY_NAME not in json.loads(env["HPP_ADMIN_KEY_NAMES"])
    assert len(env["HPP_UI_STORAGE_SECRET"]) >= 32
    assert again["HPP_UI_STORAGE_SECRET"] == env["HPP_UI_STORAGE_SECRET"]
    assert (tmp_path / "ui-storage-secret").stat().st_mode & 0o777 == 0o600


def test_the_local_key_is_trusted_for_feedback_and_the_ui_key_is_not(tmp_path: Path) -> None:
    env = _child_environment(up_settings(tmp_path), redis_url="redis://r:6379/0", state=tmp_path)

    assert json.loads(env["HPP_FEEDBACK_KEY_NAMES"]) == [LOCAL_KEY_NAME]
    assert LOCAL_KEY_NAME in json.loads(env["HPP_API_KEYS"])
