import pytest

from contacts.formulas import escape_formula


@pytest.mark.parametrize("raw", ["=HYPERLINK(\"x\")", "+1+2", "-1+2", "@SUM(A1)", "\t=1", "+34 600", "=1", "-2-3",
                                 "+cmd|' /C calc'!A0", "-@x"])
def test_it_escapes_formula_like_cells(raw):
    assert escape_formula(raw) == "'" + raw


@pytest.mark.parametrize("raw", ["Ana", "", 42, None, 3.5, "a=b", "+34600123456", "-5", "+1.5"])
def test_it_leaves_other_cells_alone(raw):
    assert escape_formula(raw) == raw
