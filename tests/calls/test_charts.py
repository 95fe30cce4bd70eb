"""The dashboard's server-side SVG bar charts."""
import re

from calls.review.charts import HEIGHT, BOTTOM, TOP, Column, bar_chart


def test_bars_are_scaled_to_the_tallest_stacked_coloured_and_linked():
    svg = bar_chart([Column("Mon", "/calls?day=mon", (("Completed", 3), ("Busy", 1))),
                     Column("Tue", "/calls?day=tue", (("Busy", 2),))],
                    title="Calls <per> day", colours={"Busy": "#ef6c00"})

    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    full = HEIGHT - TOP - BOTTOM
    assert heights == [full * 3 / 4, full * 1 / 4, full * 2 / 4]  # Monday's 4 calls are the full height
    assert re.findall(r'fill="(#[0-9a-f]+)"', svg)[1:] == ["#ef6c00", "#ef6c00"]  # Busy keeps its colour
    assert '<a href="/calls?day=mon" class="chart-column"><title>Mon: Completed 3, Busy 1</title>' in svg
    assert "Calls &lt;per&gt; day" in svg and "<per>" not in svg  # text is escaped


def test_an_empty_chart_still_draws():
    svg = bar_chart([Column("Mon", "/x", (("calls", 0),))], title="Nothing")
    assert "<svg" in svg and "<rect" not in svg and "<title>Mon: none</title>" in svg
