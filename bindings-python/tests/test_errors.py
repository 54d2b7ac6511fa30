"""Core errors become typed Python exceptions with the message, the source chain and fields."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import mssante_diag
from mssante_diag import Config, ConfigError, DiagError, DiagIOError, EnvFileError, UnknownCheckError


def test_hierarchy() -> None:
    for cls in (ConfigError, EnvFileError, UnknownCheckError, DiagIOError):
        assert issubclass(cls, DiagError)
    assert issubclass(DiagError, Exception)
    assert ConfigError.__module__ == "mssante_diag"


def test_malformed_config_file_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "mssante-diag.toml"
    bad.write_text("timeout_secs = 2\n[postgres]\nprot = 5432\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Config(tmp_path)
    err = caught.value
    assert err.code == "CONFIG"
    assert err.file == str(bad) and err.key.startswith("postgres") and "prot" in err.reason
    assert str(bad) in str(err) and "prot" in str(err)

    bad.write_text('[postgres]\nport = "five"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Config(tmp_path, config_file=bad)
    assert caught.value.key == "postgres.port"


def test_keyword_overrides_are_checked_like_the_file() -> None:
    config = Config.defaults(timeout_secs=2, postgres={"host": "127.0.0.1", "port": 6543})
    assert config.timeout_secs == 2
    assert config.to_dict()["postgres"]["port"] == 6543
    assert config.with_overrides(lang="fr").lang == "fr"
    with pytest.raises(ConfigError, match="timeout_secs") as caught:
        Config.defaults(timeout_secs=-1)
    assert caught.value.key == "timeout_secs" and caught.value.file == "<overrides>"
    with pytest.raises(ConfigError) as caught:
        Config.defaults(redis={"prot": 1})
    assert "redis" in caught.value.key and "prot" in str(caught.value)
    with pytest.raises(ConfigError, match="api.url"):
        Config.from_toml('[api]\nurl = "not a url"\n')
    with pytest.raises(TypeError):
        Config.defaults(postgres={"port": object()})


def test_inline_secret_never_shows() -> None:
    config = Config.defaults(postgres={"password": "hunter2"})
    assert "hunter2" not in repr(config.to_dict()) and "hunter2" not in repr(config)


def test_unreadable_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GOOD=1\nBAD='unterminated\n", encoding="utf-8")
    with pytest.raises(EnvFileError) as caught:
        Config(tmp_path)
    assert caught.value.code == "ENV_FILE" and caught.value.path == str(tmp_path / ".env")
    assert ".env" in str(caught.value) and str(caught.value).count(":") >= 2, "message carries the source chain"


def test_unknown_check() -> None:
    config = Config.defaults()
    with pytest.raises(UnknownCheckError) as caught:
        mssante_diag.run_sync(config, only=["postgres.nope"])
    assert caught.value.code == "UNKNOWN_CHECK" and caught.value.name == "postgres.nope"
    with pytest.raises(UnknownCheckError):
        asyncio.run(mssante_diag.run(config, only=["nope"]))
    with pytest.raises(UnknownCheckError):
        mssante_diag.explain("nope")
    with pytest.raises(ValueError):
        mssante_diag.run_sync(config, only=["api"], quick=True)
    with pytest.raises(TypeError):
        asyncio.run(mssante_diag.run(config, only="postgres"))  # a str is not a list of names
