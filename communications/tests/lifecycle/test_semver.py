import pytest

from communications import semver


@pytest.mark.parametrize(("lower", "higher"), [
    ("1.9.0", "1.10.0"),
    ("1.0.9", "1.0.10"),
    ("0.9.9", "1.0.0"),
    ("1.0.0-rc.1", "1.0.0"),
    ("1.0.0-alpha", "1.0.0-alpha.1"),
    ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
    ("1.0.0-alpha.beta", "1.0.0-beta"),
    ("1.0.0-beta", "1.0.0-beta.2"),
    ("1.0.0-beta.2", "1.0.0-beta.11"),
    ("1.0.0-beta.11", "1.0.0-rc.1"),
    ("1.0.0", "1.0.1-alpha"),
])
def test_precedence_follows_semver_rules(lower, higher):
    assert semver.key(lower) < semver.key(higher)
    assert semver.compare(lower, higher) == -1
    assert semver.compare(higher, lower) == 1


def test_build_metadata_is_ignored_for_precedence():
    assert semver.compare("1.0.0+build.1", "1.0.0+build.2") == 0


@pytest.mark.parametrize("value", ["1", "1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0 ", "", None, "a.b.c"])
def test_invalid_versions_are_rejected(value):
    assert not semver.is_valid(value)
    with pytest.raises(ValueError):
        semver.key(value)


def test_max_by_key_picks_highest_version():
    assert max(["1.9.0", "1.10.0", "1.10.0-rc.1", "1.2.3"], key=semver.key) == "1.10.0"


@pytest.mark.parametrize("value", ["1.0.0", "1.0.0-alpha.1+build.5", "0.0.0-0", "1.0.0-x-y-z.--", "01.0.0", "1.0.0-01",
                                   "1.0", "1.0.0+", "1.0.0-alpha..1", "1.0.0\n"])
def test_schema_pattern_agrees_with_the_package(value):
    import re

    assert bool(re.fullmatch(semver.PATTERN, value)) == semver.is_valid(value)
