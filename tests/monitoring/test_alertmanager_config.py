"""Where Alertmanager's config is read from: the secrets file's cluster-configs.secrets.alertmanager,
as a map or as the YAML text the generated secrets file writes, into the Secret the phase applies;
a missing or unusable config is a permanent error naming the key."""

from __future__ import annotations

import base64

import pytest
import yaml

from digit_tui.errors import PermanentError
from digit_tui.tasks.monitoring import CONFIG_KEY, CONFIG_SECRET, AlertmanagerConfig

DEFAULTS = {"cluster-configs": {"secrets": {"alertmanager": {"namespace": "monitoring", "name": "alertmanager-main"}}}}
CONFIG = {"route": {"receiver": "ops"}, "receivers": [{"name": "ops"}]}


def values(config: object) -> dict[str, object]:
    return {"cluster-configs": {"secrets": {"alertmanager": {"config": config}}}}


@pytest.mark.parametrize("given", [CONFIG, yaml.safe_dump(CONFIG)], ids=["map", "text"])
def test_the_secret_holds_the_secrets_files_config(given: object) -> None:
    alert = AlertmanagerConfig.from_values(values(given), DEFAULTS)
    assert alert.as_text is isinstance(given, str)
    secret = alert.secret()
    assert secret["metadata"] == {"name": CONFIG_SECRET, "namespace": "monitoring"}
    assert yaml.safe_load(base64.b64decode(secret["data"][CONFIG_KEY])) == CONFIG


@pytest.mark.parametrize("given", [None, "", "route: [", {"route": {"receiver": "x"}}], ids=["none", "empty", "bad", "no-receivers"])
def test_a_missing_or_unusable_config_is_permanent(given: object) -> None:
    with pytest.raises(PermanentError) as err:
        AlertmanagerConfig.from_values(values(given), DEFAULTS)
    assert "cluster-configs.secrets.alertmanager.config" in str(err.value)


@pytest.mark.parametrize(("given", "defaults", "level"), [
    (yaml.safe_dump(CONFIG), DEFAULTS, "warning"),           # DIGIT's cluster-configs would write it unreadably
    (CONFIG, DEFAULTS, "info"),                              # a map: DIGIT's chart writes it as YAML
    (yaml.safe_dump(CONFIG), {}, "info"),                    # the sample's cluster-configs names no such Secret
], ids=["digit-text", "digit-map", "sample-text"])
def test_the_render_warns_only_where_the_sources_own_secret_would_be_unreadable(
        given: object, defaults: dict[str, object], level: str) -> None:
    said_level, said = AlertmanagerConfig.from_values(values(given), defaults).note()
    assert said_level == level
    assert f"Alertmanager reads Secret monitoring/{CONFIG_SECRET}" in said
    assert ("monitoring/alertmanager-main" in said) is (level == "warning")
