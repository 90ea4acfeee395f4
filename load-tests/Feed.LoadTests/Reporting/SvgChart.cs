using System.Globalization;
using System.Security;
using System.Text;

namespace Feed.LoadTests.Reporting;

/// <summary>Renders a <see cref="Chart"/> as a self-contained SVG: axes with grid lines, one polyline per series, a legend and markers.</summary>
public static class SvgChart
{
    private const double Width = 960;
    private const double Height = 440;
    private const double Left = 80;
    private const double Right = 30;
    private const double Top = 64;
    private const double Bottom = 56;
    private const double PlotWidth = Width - Left - Right;
    private const double PlotHeight = Height - Top - Bottom;

    public static string Render(Chart chart)
    {
        var svg = new StringBuilder();
        Append(svg, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{Width}" height="{Height}" viewBox="0 0 {Width} {Height}" font-family="sans-serif" font-size="12">""");
        Append(svg, $"""<rect width="{Width}" height="{Height}" fill="white"/>""");
        Append(svg, $"""<text x="{Left}" y="22" font-size="15" font-weight="bold">{Escape(chart.Title)}</text>""");

        var drawable = chart.Series.SelectMany(s => s.Points).Where(p => IsDrawable(p.Y, chart.LogScale)).ToList();
        if (drawable.Count == 0)
        {
            Append(svg, $"""<text x="{Left + PlotWidth / 2}" y="{Top + PlotHeight / 2}" text-anchor="middle">no data</text>""");
            return svg.Append("</svg>").ToString();
        }

        var x = Axis.Linear(drawable.Max(p => p.X), chart.Markers.Select(m => m.X));
        var y = chart.LogScale
            ? Axis.Logarithmic(drawable.Min(p => p.Y), drawable.Max(p => p.Y))
            : Axis.Linear(drawable.Max(p => p.Y), []);
        double Px(double value) => Left + x.Fraction(value) * PlotWidth;
        double Py(double value) => Top + PlotHeight - y.Fraction(value) * PlotHeight;

        foreach (var tick in y.Ticks)
        {
            var major = !chart.LogScale || IsPowerOfTen(tick);
            Append(svg, $"""<line x1="{Left}" y1="{Py(tick):0.#}" x2="{Left + PlotWidth}" y2="{Py(tick):0.#}" stroke="{(major ? "#ccc" : "#eee")}"/>""");
            if (major || y.Ticks.Count <= 12)
            {
                Append(svg, $"""<text x="{Left - 6}" y="{Py(tick) + 4:0.#}" text-anchor="end">{Label(tick)}</text>""");
            }
        }
        foreach (var tick in x.Ticks)
        {
            Append(svg, $"""<line x1="{Px(tick):0.#}" y1="{Top}" x2="{Px(tick):0.#}" y2="{Top + PlotHeight}" stroke="#eee"/>""");
            Append(svg, $"""<text x="{Px(tick):0.#}" y="{Top + PlotHeight + 16}" text-anchor="middle">{Label(tick)}</text>""");
        }
        Append(svg, $"""<rect x="{Left}" y="{Top}" width="{PlotWidth}" height="{PlotHeight}" fill="none" stroke="#888"/>""");
        Append(svg, $"""<text x="{Left + PlotWidth / 2}" y="{Height - 12}" text-anchor="middle">{Escape(chart.XLabel)}</text>""");
        Append(svg, $"""<text transform="translate(18 {Top + PlotHeight / 2}) rotate(-90)" text-anchor="middle">{Escape(chart.YLabel)}</text>""");

        // Last series first, so that where lines coincide (p99 = max at low rates) the earlier one shows.
        foreach (var series in chart.Series.Reverse())
        {
            foreach (var segment in Segments(series.Points, chart.LogScale))
            {
                if (segment.Count == 1)
                {
                    Append(svg, $"""<circle cx="{Px(segment[0].X):0.#}" cy="{Py(segment[0].Y):0.#}" r="2.5" fill="{series.Color}"/>""");
                    continue;
                }
                var points = string.Join(' ', segment.Select(p => Invariant($"{Px(p.X):0.#},{Py(p.Y):0.#}")));
                Append(svg, $"""<polyline fill="none" stroke="{series.Color}" stroke-width="1.6" points="{points}"/>""");
            }
        }

        foreach (var marker in chart.Markers)
        {
            Append(svg, $"""<line x1="{Px(marker.X):0.#}" y1="{Top}" x2="{Px(marker.X):0.#}" y2="{Top + PlotHeight}" stroke="#555" stroke-dasharray="5 4"/>""");
            Append(svg, $"""<text x="{Px(marker.X) + 4:0.#}" y="{Top + 14}" fill="#333">{Escape(marker.Label)}</text>""");
        }

        var legendX = Left;
        foreach (var series in chart.Series)
        {
            Append(svg, $"""<line x1="{legendX}" y1="42" x2="{legendX + 22}" y2="42" stroke="{series.Color}" stroke-width="3"/>""");
            Append(svg, $"""<text x="{legendX + 28}" y="46">{Escape(series.Name)}</text>""");
            legendX += 44 + 7 * series.Name.Length;
        }
        return svg.Append("</svg>").ToString();
    }

    private static bool IsDrawable(double y, bool log) => !double.IsNaN(y) && !double.IsInfinity(y) && (!log || y > 0);

    /// <summary>Runs of consecutive drawable points; a missing value breaks the line.</summary>
    private static IEnumerable<List<ChartPoint>> Segments(IReadOnlyList<ChartPoint> points, bool log)
    {
        var run = new List<ChartPoint>();
        foreach (var point in points)
        {
            if (IsDrawable(point.Y, log))
            {
                run.Add(point);
                continue;
            }
            if (run.Count > 0)
            {
                yield return run;
                run = [];
            }
        }
        if (run.Count > 0)
        {
            yield return run;
        }
    }

    private static bool IsPowerOfTen(double value) => Math.Abs(Math.Log10(value) - Math.Round(Math.Log10(value))) < 1e-9;

    private static string Label(double value) =>
        value.ToString(Math.Abs(value) < 1 && value != 0 ? "0.###" : "#,0.##", CultureInfo.InvariantCulture);

    private static string Escape(string text) => SecurityElement.Escape(text) ?? "";

    private static void Append(StringBuilder svg, FormattableString line) => svg.AppendLine(line.ToString(CultureInfo.InvariantCulture));

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>An axis range with its tick values.</summary>
    private sealed record Axis(double Min, double Max, IReadOnlyList<double> Ticks, bool Log)
    {
        public double Fraction(double value) => Log
            ? (Math.Log10(value) - Math.Log10(Min)) / (Math.Log10(Max) - Math.Log10(Min))
            : (value - Min) / (Max - Min);

        /// <summary>From zero to a round number at or above every value, with about eight ticks.</summary>
        public static Axis Linear(double max, IEnumerable<double> alsoInclude)
        {
            max = Math.Max(max, alsoInclude.DefaultIfEmpty(0).Max());
            if (max <= 0)
            {
                max = 1;
            }
            var step = NiceStep(max / 8);
            var top = Math.Ceiling(max / step) * step;
            var ticks = Enumerable.Range(0, (int)Math.Round(top / step) + 1).Select(i => i * step).ToList();
            return new Axis(0, top, ticks, Log: false);
        }

        /// <summary>Whole decades around the values, with ticks at 1, 2 and 5 of each decade.</summary>
        public static Axis Logarithmic(double min, double max)
        {
            var low = Math.Pow(10, Math.Floor(Math.Log10(min)));
            var high = Math.Pow(10, Math.Ceiling(Math.Log10(max)));
            if (high <= low)
            {
                high = low * 10;
            }
            var ticks = new List<double>();
            for (var decade = low; decade < high * 1.0001; decade *= 10)
            {
                ticks.AddRange(new[] { decade, 2 * decade, 5 * decade }.Where(t => t <= high * 1.0001));
            }
            return new Axis(low, high, ticks, Log: true);
        }

        private static double NiceStep(double raw)
        {
            var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
            var normalized = raw / magnitude;
            return magnitude * (normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 5 ? 5 : 10);
        }
    }
}
