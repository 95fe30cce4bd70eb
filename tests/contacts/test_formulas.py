import pytest

from contacts.formulas import escape_formula, sheet_cell


@pytest.mark.parametrize("raw", ["=HYPERLINK(\"x\")", "+1+2", "-1+2", "@SUM(A1)", "\t=1", "+34 600", "=1", "-2-3",
                                 "+cmd|' /C calc'!A0", "-@x"])
def test_it_escapes_formula_like_cells(raw):
    assert escape_formula(raw) == "'" + raw


@pytest.mark.parametrize("raw", ["Ana", "", 42, None, 3.5, "a=b", "+34600123456", "-5", "+1.5"])
def test_it_leaves_other_cells_alone(raw):
    assert escape_formula(raw) == raw


@pytest.mark.parametrize("raw, cell", [("Ana\x01 Ruiz\x0b", "Ana Ruiz"), ("\x02=1+1", "'=1+1"), ("a\tb\nc", "a\tb\nc"), (7, 7)])
def test_a_sheet_cell_drops_control_characters_and_escapes_formulas(raw, cell):
    assert sheet_cell(raw) == cell
