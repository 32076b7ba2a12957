"""Errors as Python classes by kind: each a parmap.Error with .kind, the builtin it stands for
where there is one, the setting named, and no password anywhere in it."""

import builtins

import pytest

import parmap
from parmap.mapper.parallel_query_executor import execute_query_parallel

QUERY = "SELECT * FROM src ORDER BY id"
SECRET = "Sw0rdf1sh-not-4-logs"


def attributes(error):
    return " ".join(str(getattr(error, a)) for a in
                    ("kind", "native_code", "engine", "table", "chunk", "statement"))


def test_the_classes_by_kind():
    classes = {
        "config": (parmap.ConfigError, ValueError),
        "connect": (parmap.ConnectError, builtins.ConnectionError),
        "transient": (parmap.TransientError, None),
        "in_doubt": (parmap.InDoubtError, None),
        "data": (parmap.DataError, None),
        "schema": (parmap.SchemaError, None),
        "timeout": (parmap.ServerTimeoutError, builtins.TimeoutError),
        "cancelled": (parmap.Cancelled, None),
        "internal": (parmap.InternalError, None),
    }
    for cls, builtin in classes.values():
        assert issubclass(cls, parmap.Error) and issubclass(cls, RuntimeError)
        assert builtin is None or issubclass(cls, builtin)
        assert cls.__module__ == "parmap" and cls.__doc__
    # The mapper's module exports them too, and parmap.ConnectError does not hide the builtin.
    from parmap.mapper import parallel_query_executor as executor
    assert executor.ConfigError is parmap.ConfigError and executor.Error is parmap.Error
    assert not hasattr(parmap, "ConnectionError")


@pytest.mark.parametrize("params,keywords,name", [
    ({"max_workers": "0"}, {}, "max_workers"),
    ({"chunk_size": "lots"}, {}, "chunk_size"),
    ({"enable_parallel": "maybe"}, {}, "enable_parallel"),
    ({"min_rows_for_parallel": "-1"}, {}, "min_rows_for_parallel"),
    ({}, {"max_worker": 3}, "max_workers"),  # a typo of a setting, as a keyword
    ({}, {"chunk_size": 0}, "chunk_size"),
    ({}, {"mode": "sideways"}, "mode"),
])
def test_a_bad_parameter_raises_config_error_naming_it(sqlite_pair, params, keywords, name):
    src_url, dst_url, _, dst = sqlite_pair
    with pytest.raises(parmap.ConfigError) as info:
        execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=params, **keywords)
    assert info.value.kind == "config"
    assert name in str(info.value), str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_bad_environment_variable_raises_config_error_naming_it(sqlite_pair, monkeypatch):
    src_url, dst_url, _, _ = sqlite_pair
    monkeypatch.setenv("MAPPER_MAX_WORKERS", "many")
    with pytest.raises(parmap.ConfigError, match="MAPPER_MAX_WORKERS"):
        execute_query_parallel(src_url, QUERY, dst_url, "", "dst")


def test_a_missing_table_is_a_schema_error(sqlite_pair):
    src_url, dst_url, _, _ = sqlite_pair
    with pytest.raises(parmap.SchemaError) as info:
        execute_query_parallel(src_url, QUERY, dst_url, "", "no_such_table")
    assert info.value.kind == "schema" and "no_such_table" in str(info.value)


def test_a_refused_login_is_a_connect_error_without_the_password(mariadb, sqlite_pair):
    """The MariaDB test server refuses a wrong password: the error says so, names the server,
    and holds the password nowhere."""
    src_url, _, _, _ = sqlite_pair
    p = mariadb.params
    url = f"mysql://{p['user']}:{SECRET}@{p['host']}:{p['port']}/{p['database']}"
    with pytest.raises(parmap.ConnectError) as info:
        execute_query_parallel(src_url, QUERY, url, "", "dst", max_retries=0)
    assert isinstance(info.value, ConnectionError)
    assert info.value.kind == "connect"
    text = str(info.value) + " " + attributes(info.value) + " " + repr(info.value.args)
    assert SECRET not in text
    assert "denied" in text.lower(), text


def test_an_unreachable_server_is_a_connect_error_without_the_password(sqlite_pair):
    src_url, _, _, _ = sqlite_pair
    url = f"postgresql://etl:{SECRET}@127.0.0.1:1/db?connect_timeout=2"
    with pytest.raises(parmap.ConnectError) as info:
        execute_query_parallel(src_url, QUERY, url, "public", "dst", max_retries=0)
    text = str(info.value) + " " + attributes(info.value)
    assert SECRET not in text and "127.0.0.1" in text
