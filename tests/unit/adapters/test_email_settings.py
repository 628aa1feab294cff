"""`[adapters.email]` in the shipped bot.toml: documented, off by default, valid when switched
on, and refused with one clear line when it cannot work."""

from __future__ import annotations

import pytest

from bot.desk.errors import ConfigError
from bot.runtime.bootstrap import adapter_settings, enabled_networks
from tests.conftest import SHIPPED, config_with


def shipped_email_on(extra_replace: dict[str, str] | None = None) -> str:
    text = SHIPPED.read_text()
    section = text[text.index("[adapters.email]"):]
    on = section.replace("enabled = false", "enabled = true", 1)
    for old, new in (extra_replace or {}).items():
        on = on.replace(old, new)
    return text.replace(section, on)


def test_the_shipped_email_section_is_off_and_valid() -> None:
    cfg = config_with("sqlite:///x.db")
    assert "email" not in enabled_networks(cfg)
    settings = adapter_settings(cfg)["email"]
    assert settings.trust == "authentication-results" and settings.authserv_id == "mx.example.com"  # type: ignore[attr-defined]


def test_switched_on_it_validates_with_its_password_from_the_environment() -> None:
    from bot.runtime.config import parse_config

    cfg = parse_config(shipped_email_on(), "bot.toml", env={"MAIL_PASSWORD": "pw"})
    assert "email" in enabled_networks(cfg)
    settings = adapter_settings(cfg)["email"]
    assert settings.imap_password.get_secret_value() == "pw"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ('authserv_id = "mx.example.com"', 'authserv_id = ""', "adapters.email.authserv_id: expected the authserv-id"),
        ('address = "support@example.com"', 'address = "support"', "adapters.email.address: expected an e-mail address, found 'support'"),
        ('trust = "authentication-results"', 'trust = "spf"', "adapters.email.trust"),
        ("# subject_prefix = \"#\"", 'subject_prefix = "[x]"', "adapters.email.subject_prefix"),
    ],
)
def test_a_section_that_cannot_work_is_refused_with_the_key(old: str, new: str, said: str) -> None:
    from bot.runtime.config import parse_config

    cfg = parse_config(shipped_email_on({old: new}), "bot.toml", env={"MAIL_PASSWORD": "pw"})
    with pytest.raises(ConfigError) as err:
        adapter_settings(cfg)
    assert said in str(err.value)
