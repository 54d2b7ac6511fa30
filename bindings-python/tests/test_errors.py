"""Core errors become typed Python exceptions with the message, the source chain and fields."""

from __future__ import annotations

import asyncio
import traceback
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


# Distinctive passwords seeded into every place a secret can come from.
SECRETS = ("pg-pass-Zq7xK", "redis-pass-Zq7xK", "jwt-Zq7xK", "dsn-pass-Zq7xK", "reserved-pass-Zq7xK", "api-pass-Zq7xK", "7731977")


def shown(value: object) -> str:
    """Every printable form of a value (and of an exception: its args and attributes)."""
    forms = [str(value), repr(value)]
    if isinstance(value, BaseException):
        forms += [*traceback.format_exception_only(type(value), value), repr(value.args), repr(vars(value))]
    return "\n".join(forms)


def assert_no_secret(value: object) -> None:
    text = shown(value)
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{leaked} shown in {text}"


def test_no_secret_in_a_config_object(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "POSTGRES_PASSWORD=pg-pass-Zq7xK\nREDIS_PASSWORD=redis-pass-Zq7xK\nJWT_SECRET=jwt-Zq7xK\n"
        "DATABASE_URL=postgres://mssante:dsn-pass-Zq7xK@127.0.0.1:5432/mssante\n",
        encoding="utf-8",
    )
    (tmp_path / "mssante-diag.toml").write_text(
        '[api]\nurl = "http://ops:api-pass-Zq7xK@127.0.0.1:3000/health"\n'
        '[postgres.reserved]\nuser = "diagadmin"\npassword = "reserved-pass-Zq7xK"\n',
        encoding="utf-8",
    )
    config = Config(tmp_path)
    for value in (config, config.to_dict(), config.with_overrides(timeout_secs=2), config.with_overrides(timeout_secs=2).to_dict()):
        assert_no_secret(value)
    assert "[REDACTED]@127.0.0.1:3000" in config.to_dict()["api"]["url"], "the URL stays, its credentials do not"
    # Overrides keep the inline secret for the run, still never shown.
    assert_no_secret(Config.defaults(api={"url": "http://ops:api-pass-Zq7xK@h:1/health"}, postgres={"password": "pg-pass-Zq7xK"}).to_dict())


@pytest.mark.parametrize(
    "line",
    ["POSTGRES_PASSWORD=pg-pass-Zq7xK and more", 'POSTGRES_PASSWORD="pg-pass-Zq7xK never closed', "POSTGRES_PASSWORD=pg-pass-Zq7xK\\q"],
)
def test_a_broken_env_line_is_named_never_quoted(tmp_path: Path, line: str) -> None:
    (tmp_path / ".env").write_text(f"DOMAIN=mssante.test\n# comment\n{line}\nREDIS_PASSWORD=redis-pass-Zq7xK\n", encoding="utf-8")
    with pytest.raises(EnvFileError) as caught:
        Config(tmp_path)
    err = caught.value
    assert_no_secret(err)
    assert (err.path, err.line, err.key) == (str(tmp_path / ".env"), 3, "POSTGRES_PASSWORD")
    assert err.reason and ".env:3" in str(err) and "POSTGRES_PASSWORD" in str(err)


@pytest.mark.parametrize(
    "toml",
    [
        "[postgres]\npassword = 7731977\n",
        '[postgres]\npassword = "pg-pass-Zq7xK\n',
        '[postgres.reserved]\nuser = "r"\npassword = 7731977\n',
        '[api]\nurl = "http://ops:api-pass-Zq7xK@127.0.0.1:99999/health"\n',
    ],
)
def test_a_bad_config_value_never_quotes_a_password(tmp_path: Path, toml: str) -> None:
    (tmp_path / "mssante-diag.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Config(tmp_path)
    assert_no_secret(caught.value)
    with pytest.raises(ConfigError) as caught:
        Config.from_toml(toml)
    assert_no_secret(caught.value)


def test_a_bad_override_never_quotes_a_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.defaults(redis={"password": 7731977})
    assert_no_secret(caught.value)
    assert "password" in str(caught.value) and caught.value.key.startswith("redis")


def test_timeout_state() -> None:
    assert Config.defaults().timeout_state == "critical"
    assert Config.defaults(timeout_state="unknown").timeout_state == "unknown"
    assert Config.from_toml('timeout_state = "unknown"\n').to_dict()["timeout_state"] == "unknown"
    with pytest.raises(ConfigError) as caught:
        Config.defaults(timeout_state="maybe")
    assert caught.value.key == "timeout_state"


def test_unreadable_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GOOD=1\nBAD='unterminated\n", encoding="utf-8")
    with pytest.raises(EnvFileError) as caught:
        Config(tmp_path)
    assert caught.value.code == "ENV_FILE" and caught.value.path == str(tmp_path / ".env")
    assert (caught.value.line, caught.value.key) == (2, "BAD")
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
