"""smsync.config: TOML parsing, defaults, one-line errors, render/parse round trip."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.config import (DEFAULT_ENDPOINTS, Config, ConfigError, LimitsConfig, ServicesConfig,
                           StoreConfig, load_config, parse_config, render_config, write_config)


def test_empty_file_gives_defaults():
    config = parse_config("")
    assert config.store.uri == ""
    assert config.services.imap == DEFAULT_ENDPOINTS["imap"]
    assert config.services.http == DEFAULT_ENDPOINTS["http"]
    assert config.limits.max_message_size == 50 * 1024 * 1024


def test_values_are_read():
    config = parse_config(r"""
[store]
uri = "sqlite:///srv/x"
[services]
imap = ["tcp:1143", 'tcp:1144:interface=\:\:1']
pop3 = []
[limits]
max_message_size = 1000
""")
    assert config.store.uri == "sqlite:///srv/x"
    assert config.services.imap == ("tcp:1143", r"tcp:1144:interface=\:\:1")
    assert config.services.pop3 == ()
    assert config.services.smtp == DEFAULT_ENDPOINTS["smtp"]
    assert config.limits.max_message_size == 1000


@pytest.mark.parametrize("text, fragment", [
    ("[store", "not valid TOML"),
    ("[stor]\nuri='x'", "unknown section [stor]"),
    ("[store]\nurl = 'x'", "unknown key 'url'"),
    ("[store]\nuri = 3", "uri must be a string"),
    ("[services]\nimap = 'tcp:1143'", "imap must be a list"),
    ("[services]\nimap = [1143]", "imap must be a list"),
    ("[services]\nimap = ['tcpx:1143']", "bad endpoint 'tcpx:1143'"),
    ("[services]\nimap = ['tcp:port=abc']", "bad endpoint"),
    ("[limits]\nmax_message_size = 'big'", "must be an integer"),
    ("[limits]\nmax_message_size = true", "must be an integer"),
    ("[limits]\nmax_message_size = -1", "must be positive"),
    ("store = 1", "must be a table"),
])
def test_bad_config_is_one_line(text, fragment):
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_load_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(bad) in str(info.value)


endpoint = st.sampled_from(["tcp:1143", "tcp:0:interface=127.0.0.1", r"tcp:993:interface=\:\:1",
                            "unix:/tmp/smsync.sock", "tcp6:8080"])
services = st.builds(ServicesConfig, *[st.lists(endpoint, max_size=3) for _ in range(5)])
limits = st.builds(LimitsConfig, st.integers(1, 2**40), st.integers(1, 2**40))
uri = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(uri=uri, services=services, limits=limits)
def test_render_then_parse_round_trips(uri, services, limits):
    config = Config(store=StoreConfig(uri=uri), services=services, limits=limits)
    assert parse_config(render_config(config)) == config


def test_write_then_load(tmp_path):
    path = tmp_path / "smsync.toml"
    config = Config(store=StoreConfig(uri="sqlite:///a b/\"q\""))
    write_config(path, config)
    loaded = load_config(path)
    assert loaded.store == config.store and loaded.path == path
    assert not list(tmp_path.glob("*.tmp"))


def test_every_key_the_code_reads_is_documented():
    """docs/configuration.md has a section per config section and a table row per key
    (issue 11, item 5): what the code reads is what the reference lists."""
    import re
    from pathlib import Path

    import attrs

    from smsync import config as config_module

    doc = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    parts = re.split(r"^## ", doc, flags=re.M)
    sections = {p.split("\n", 1)[0].strip(): p for p in parts[1:]}
    missing = []
    for name, cls in config_module._SECTIONS.items():
        text = sections.get(f"`[{name}]`")
        if text is None:
            missing.append(f"[{name}]")
            continue
        for field in attrs.fields(cls):
            if not re.search(rf"^\| `{field.name}` \|", text, flags=re.M):
                missing.append(f"[{name}] {field.name}")
    assert missing == []
