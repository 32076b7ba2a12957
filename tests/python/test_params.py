"""Params and configuration: the mapper's keys and values, the environment, errors."""

import pytest

import parmap
from parmap.mapper.parallel_query_executor import (
    create_parallel_processor,
    get_parallel_config_from_params,
    should_use_parallel_processing,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("MAPPER_PARALLEL_ENABLED", "MAPPER_MAX_WORKERS", "MAPPER_CHUNK_SIZE",
                 "MAPPER_MIN_ROWS_FOR_PARALLEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("value,expected", [
    ("Y", True), ("N", False), ("y", True), ("n", False), (True, True), (False, False),
    ("true", True), ("False", False), ("1", True), (0, False), ("yes", True), ("no", False),
])
def test_enable_parallel_values(value, expected):
    assert get_parallel_config_from_params({"enable_parallel": value}).enable_parallel is expected


def test_numbers_as_strings_or_ints():
    config = get_parallel_config_from_params(
        {"max_workers": "4", "chunk_size": 1000, "min_rows_for_parallel": " 20 "})
    assert (config.max_workers, config.chunk_size, config.min_rows_for_parallel) == (4, 1000, 20)
    assert config.origin["max_workers"] == "param"


def test_defaults_without_params():
    config = get_parallel_config_from_params()
    assert config.enable_parallel is True
    assert config.max_workers == parmap.default_max_workers() >= 1
    assert config.chunk_size == 50000
    assert config.min_rows_for_parallel == 100000
    assert config.origin["chunk_size"] == "default"


def test_environment_then_params(monkeypatch):
    monkeypatch.setenv("MAPPER_MAX_WORKERS", "5")
    monkeypatch.setenv("MAPPER_PARALLEL_ENABLED", "N")
    monkeypatch.setenv("MAPPER_CHUNK_SIZE", "123")
    config = get_parallel_config_from_params({"max_workers": "2"})
    assert config.max_workers == 2
    assert config.enable_parallel is False
    assert config.chunk_size == 123
    assert config.origin["chunk_size"] == "environment"


def test_none_counts_as_not_given(monkeypatch):
    monkeypatch.setenv("MAPPER_MAX_WORKERS", "5")
    assert get_parallel_config_from_params({"max_workers": None}).max_workers == 5


def test_the_jobs_own_keys_are_reported_not_fatal():
    config = get_parallel_config_from_params(
        {"enable_parallel": "Y", "run_date": "2026-12-01", "batch_id": 7, "options": {"a": 1}})
    assert config.ignored_params == ["batch_id", "options", "run_date"]


@pytest.mark.parametrize("params,words", [
    ({"max_worker": "3"}, "did you mean 'max_workers'"),
    ({"chunk_size": "lots"}, "invalid value 'lots' for job param 'chunk_size'"),
    ({"max_workers": "0"}, "max_workers"),
    ({"enable_parallel": "maybe"}, "enable_parallel"),
    ({"chunk_size": 2.5}, "chunk_size"),
])
def test_bad_params_raise_a_config_error(params, words):
    with pytest.raises(parmap.Error) as info:
        get_parallel_config_from_params(params)
    assert info.value.kind == "config"
    assert words in str(info.value)
    assert isinstance(info.value, RuntimeError)


def test_bad_environment_raises_a_config_error(monkeypatch):
    monkeypatch.setenv("MAPPER_CHUNK_SIZE", "-4")
    with pytest.raises(parmap.Error) as info:
        get_parallel_config_from_params({})
    assert info.value.kind == "config"
    assert "MAPPER_CHUNK_SIZE" in str(info.value)


def test_params_must_be_a_mapping():
    with pytest.raises(TypeError):
        get_parallel_config_from_params(["max_workers", 3])


def test_should_use_parallel_processing():
    on = {"enable_parallel": "Y", "max_workers": "4", "min_rows_for_parallel": "1000"}
    assert should_use_parallel_processing(on, 1000)
    assert should_use_parallel_processing(1000, on)  # either order
    assert not should_use_parallel_processing(on, 999)
    assert not should_use_parallel_processing({**on, "enable_parallel": "N"}, 10**9)
    assert not should_use_parallel_processing({**on, "max_workers": 1}, 10**9)
    config = get_parallel_config_from_params(on)
    assert should_use_parallel_processing(config, 5000)
    assert should_use_parallel_processing(config=config, estimated_rows=5000)


def test_create_parallel_processor():
    processor = create_parallel_processor({"max_workers": "3", "enable_parallel": "Y",
                                           "job_name": "nightly"})
    assert processor.config.max_workers == 3
    assert processor.config.ignored_params == ["job_name"]
    assert processor.should_use_parallel_processing(10**6)
    with pytest.raises(parmap.Error):
        create_parallel_processor({"chunksize": "3"})


def test_settings_as_keywords():
    processor = create_parallel_processor({"max_workers": "3"}, max_workers=5, chunk_size="10")
    assert (processor.config.max_workers, processor.config.chunk_size) == (5, 10)


# The priority matrix: for each setting, every combination of a job param and a MAPPER_*
# variable, in the value forms jobs use. Each row: param, variable, default, a value for the
# variable, a value for the param (as the job gives it) and what each resolves to.
MATRIX_SETTINGS = [
    ("enable_parallel", "MAPPER_PARALLEL_ENABLED", True, ("N", False), ("Y", True)),
    ("enable_parallel", "MAPPER_PARALLEL_ENABLED", True, ("N", False), (True, True)),
    ("enable_parallel", "MAPPER_PARALLEL_ENABLED", True, ("Y", True), ("N", False)),
    ("enable_parallel", "MAPPER_PARALLEL_ENABLED", True, ("true", True), (False, False)),
    ("enable_parallel", "MAPPER_PARALLEL_ENABLED", True, ("n", False), ("y", True)),
    ("max_workers", "MAPPER_MAX_WORKERS", None, ("5", 5), (2, 2)),
    ("max_workers", "MAPPER_MAX_WORKERS", None, ("7", 7), ("3", 3)),
    ("chunk_size", "MAPPER_CHUNK_SIZE", 50000, ("123", 123), (4567, 4567)),
    ("chunk_size", "MAPPER_CHUNK_SIZE", 50000, ("9", 9), ("10", 10)),
    ("min_rows_for_parallel", "MAPPER_MIN_ROWS_FOR_PARALLEL", 100000, ("77", 77), (0, 0)),
    ("min_rows_for_parallel", "MAPPER_MIN_ROWS_FOR_PARALLEL", 100000, ("1", 1), ("250", 250)),
]


@pytest.mark.parametrize("with_env", [False, True], ids=["no-env", "env"])
@pytest.mark.parametrize("with_param", [False, True], ids=["no-param", "param"])
@pytest.mark.parametrize("setting", MATRIX_SETTINGS,
                         ids=[f"{s[0]}-{s[3][0]}-{s[4][0]!r}" for s in MATRIX_SETTINGS])
def test_priority_matrix(monkeypatch, setting, with_param, with_env):
    name, variable, default, (env_value, env_means), (param_value, param_means) = setting
    if default is None:
        default = parmap.default_max_workers()
    if with_env:
        monkeypatch.setenv(variable, env_value)
    params = {name: param_value} if with_param else {}
    # Another setting given both ways, and a job key, must not change this one's resolution.
    other = "chunk_size" if name != "chunk_size" else "max_workers"
    params[other] = "6"
    params["run_date"] = "2026-12-01"
    config = get_parallel_config_from_params(params)
    if with_param:
        want, origin = param_means, "param"
    elif with_env:
        want, origin = env_means, "environment"
    else:
        want, origin = default, "default"
    assert getattr(config, name) == want
    assert type(getattr(config, name)) is type(want)
    assert config.origin[name] == origin
    assert getattr(config, other) == 6 and config.origin[other] == "param"
    # The processor and the copy call resolve the same way.
    assert getattr(create_parallel_processor(params).config, name) == want
