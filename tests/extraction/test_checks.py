"""System checks of post-call settings."""
from extraction.checks import extraction_settings_check


def ids(settings_check_result):
    return [problem.id for problem in settings_check_result]


def test_it_accepts_the_default_configuration(settings):

    assert extraction_settings_check() == []


def test_it_reports_a_schema_that_is_not_a_model(settings):
    settings.EXTRACTION_SCHEMA = "tests.extraction.custom_schema.NotAModel"

    assert ids(extraction_settings_check()) == ["extraction.E001"]


def test_it_reports_an_unknown_diarization_backend(settings):
    settings.DIARIZATION_BACKEND = "whisperx"

    assert ids(extraction_settings_check()) == ["extraction.E003"]
