from pathlib import Path

import pytest

from configs.app_config import CONFIG_DIR, ConfigError, load_config, parse_override, preset_path


@pytest.mark.parametrize("name", ["default", "replay", "live", "cpu-realtime", "demo"])
def test_every_preset_validates(name: str) -> None:
    config = load_config(preset_path(name))

    assert config.detector.size == "nano"


def test_a_typo_names_the_file_and_the_dotted_field(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("detector:\n  confidence_treshold: 0.5\n")

    with pytest.raises(
        ConfigError,
        match=r"invalid config .*mine\.yaml: detector\.confidence_treshold: Extra inputs",
    ):
        load_config(path)


def test_an_out_of_range_value_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("stream:\n  frame_queue_size: 0\n")

    with pytest.raises(ConfigError, match=r"mine\.yaml: stream\.frame_queue_size: Input should be"):
        load_config(path)


def test_a_bad_override_names_the_flag_not_the_file() -> None:
    with pytest.raises(ConfigError, match=r"command-line value detector\.threshold=1\.5"):
        load_config(preset_path("default"), {"detector.threshold": 1.5})


def test_overrides_reach_nested_fields() -> None:
    key, value = parse_override("stream.reconnect.max_delay_s=2.5")

    config = load_config(preset_path("live"), {key: value})

    assert config.stream.reconnect.max_delay_s == 2.5
    assert config.stream.queue_policy == "latest"


def test_an_override_without_equals_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"must look like section\.field=value"):
        parse_override("detector.threshold")


def test_a_missing_file_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not found; give a preset name or an existing YAML"):
        load_config(tmp_path / "nope.yaml")


def test_a_preset_name_is_not_shadowed_by_a_folder_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()

    assert preset_path("demo") == CONFIG_DIR / "demo.yaml"


def test_a_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")

    with pytest.raises(ConfigError, match=r"the top level must be a mapping"):
        load_config(path)
