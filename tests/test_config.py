"""Config: environment first, then the env file, then the default; casts that name the variable."""

from pathlib import Path

import pytest

from microasgi.config import CommaSeparatedStrings, Config, Environ, EnvironError, Secret


def write_env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return path


def test_environment_wins_over_the_file_which_wins_over_the_default(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, "HOST=file.example\nPORT=8001\n")
    config = Config(env_file, environ={"HOST": "env.example"})
    assert config("HOST") == "env.example"
    assert config("PORT", cast=int, default=80) == 8001
    assert config("WORKERS", cast=int, default=4) == 4
    assert config("WORKERS", cast=int, default="5") == 5  # a string default is cast too
    assert config("MISSING", default=None) is None


def test_env_file_syntax(tmp_path: Path) -> None:
    env_file = write_env(
        tmp_path,
        "# a comment\n\nexport NAME = value with spaces \nQUOTED='a # b'\nDOUBLE=\"x\"\nEMPTY=\n",
    )
    config = Config(env_file, environ={})
    assert config.file_values == {
        "NAME": "value with spaces",
        "QUOTED": "a # b",
        "DOUBLE": "x",
        "EMPTY": "",
    }


def test_a_malformed_env_file_line_names_the_file_and_line(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, "GOOD=1\njust words\n")
    with pytest.raises(ValueError, match=r"\.env:2: expected NAME=value, got 'just words'"):
        Config(env_file, environ={})


def test_a_missing_env_file_is_a_warning_not_an_error(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="not found"):
        config = Config(tmp_path / "nope.env", environ={"A": "1"})
    assert config("A") == "1"


def test_a_missing_setting_without_default_names_it() -> None:
    with pytest.raises(KeyError, match="'APP_SECRET' is missing and has no default"):
        Config(environ={}, env_prefix="APP_")("SECRET")


def test_env_prefix_is_prepended_to_every_name() -> None:
    config = Config(environ={"APP_PORT": "9000", "PORT": "1"}, env_prefix="APP_")
    assert config("PORT", cast=int) == 9000


@pytest.mark.parametrize("text", ["1", "true", "True", "YES", "y", "t", "on", " On "])
def test_bool_accepts_the_usual_true_spellings(text: str) -> None:
    assert Config(environ={"DEBUG": text})("DEBUG", cast=bool) is True


@pytest.mark.parametrize("text", ["0", "false", "FALSE", "no", "n", "f", "off"])
def test_bool_accepts_the_usual_false_spellings(text: str) -> None:
    assert Config(environ={"DEBUG": text})("DEBUG", cast=bool) is False


def test_bool_refuses_anything_else_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="'DEBUG' has value 'maybe', which is not a bool"):
        Config(environ={"DEBUG": "maybe"})("DEBUG", cast=bool)


def test_a_failed_cast_names_the_variable_value_and_type() -> None:
    config = Config(environ={"PORT": "eighty"})
    with pytest.raises(ValueError, match="'PORT' has value 'eighty', not a valid int") as info:
        config("PORT", cast=int)
    assert isinstance(info.value.__cause__, ValueError)


def test_secret_hides_its_value_in_repr() -> None:
    secret = Config(environ={"KEY": "hunter2"})("KEY", cast=Secret)
    assert repr(secret) == "Secret('**********')"
    assert "hunter2" not in repr({"key": secret})
    assert str(secret) == "hunter2"
    assert secret
    assert not Secret("")
    assert secret == Secret("hunter2")
    assert secret != "hunter2"
    assert hash(secret) == hash(Secret("hunter2"))


def test_comma_separated_strings() -> None:
    hosts = Config(environ={"HOSTS": " a.example, b.example,, c "})(
        "HOSTS", cast=CommaSeparatedStrings
    )
    assert list(hosts) == ["a.example", "b.example", "c"]
    assert hosts == ["a.example", "b.example", "c"]
    assert hosts == CommaSeparatedStrings(["a.example", "b.example", "c"])
    assert hosts != "a.example"
    assert hosts[0] == "a.example"
    assert hosts[1:] == ["b.example", "c"]
    assert len(hosts) == 3
    assert str(hosts) == "a.example, b.example, c"
    assert repr(hosts) == "CommaSeparatedStrings(['a.example', 'b.example', 'c'])"
    assert list(CommaSeparatedStrings("")) == []


def test_environ_refuses_to_change_a_variable_once_read() -> None:
    backing = {"PORT": "8000", "OTHER": "x"}
    environ = Environ(backing)
    environ["NEW"] = "set before any read"
    del environ["OTHER"]
    config = Config(environ=environ)
    assert config("PORT", cast=int) == 8000
    with pytest.raises(EnvironError, match="Cannot set environment variable 'PORT'"):
        environ["PORT"] = "9000"
    with pytest.raises(EnvironError, match="Cannot delete environment variable 'PORT'"):
        del environ["PORT"]
    assert backing == {"PORT": "8000", "NEW": "set before any read"}
    assert sorted(environ) == ["NEW", "PORT"]
    assert len(environ) == 2


def test_the_default_environ_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROASGI_TEST_SETTING", "42")
    assert Config()("MICROASGI_TEST_SETTING", cast=int) == 42
