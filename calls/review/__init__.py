"""What staff see of a call: admin display, upload forms, transcript turns, spreadsheet exports."""
