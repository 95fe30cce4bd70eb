import pytest

from contacts.formulas import escape_formula


@pytest.mark.parametrize("raw", ["=HYPERLINK(\"x\")", "+34600123456", "-1+2", "@SUM(A1)", "\t=1"])
def test_it_escapes_formula_like_cells(raw):
    assert escape_formula(raw) == "'" + raw


@pytest.mark.parametrize("raw", ["Ana", "", 42, None, 3.5, "a=b"])
def test_it_leaves_other_cells_alone(raw):
    assert escape_formula(raw) == raw
