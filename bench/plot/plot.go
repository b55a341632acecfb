// Package plot renders benchmark figures to SVG or PNG files with
// go-analyze/charts: a column of line-chart panels over a categorical x
// axis, each a set of named lines, so a figure reads on its own, without
// the tool. bench/overhead draws latency by percentile per target and
// overhead against rate with it; `tollgate bench run --plot` draws the
// run's latency by percentile.
//
// The library loads its fonts on first use, so linking this package costs
// a process that never plots (the gateway) no memory.
//
// Who imports it: cmd/tollgate and bench/overhead. It imports nothing of
// Tollgate's.
package plot

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/go-analyze/charts"
)

// Series is one named line, one value per category of its panel.
type Series struct {
	Name string
	// Y holds the value at each of the panel's X categories; NaN or ±Inf
	// leaves a gap. An empty Y drops the series (no data).
	Y []float64
	// Style picks the colour: series with the same Style share it (e.g.
	// one target's p50 and p99). Zero-based; a negative Style is 0.
	Style int
	// Square marks the points with squares instead of circles, to tell
	// apart two series of one Style: the library draws no dashed lines.
	Square bool
}

// Panel is one line chart.
type Panel struct {
	Title, XLabel, YLabel string
	// X names the categories along the x axis, in order.
	X []string
	// YMin0 starts the y axis at 0 when no value is below it.
	YMin0  bool
	Series []Series
}

var (
	// ErrFormat is returned for a format, or file name extension, other
	// than svg or png.
	ErrFormat = errors.New("plot: file name must end in .svg or .png")
	// ErrEmpty is returned when there is no panel to draw.
	ErrEmpty = errors.New("plot: no panel to draw")
)

// WriteFile renders panels, one above the other, to path (.svg or .png).
func WriteFile(path string, panels []Panel) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".svg" && ext != ".png" {
		return ErrFormat
	}
	if len(panels) == 0 {
		return ErrEmpty
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: cannot create %s: %w", path, err)
	}
	if err := Write(f, ext[1:], panels); err != nil {
		_ = f.Close()
		_ = os.Remove(path) // no half-written figure
		return err
	}
	return f.Close()
}

// Panel size in pixels: wide enough for a legend of eight names.
const (
	panelWidth  = 1000
	panelHeight = 440
)

// Write renders panels, one above the other, to w as "svg" or "png".
func Write(w io.Writer, format string, panels []Panel) error {
	if format != charts.ChartOutputSVG && format != charts.ChartOutputPNG {
		return ErrFormat
	}
	if len(panels) == 0 {
		return ErrEmpty
	}
	height := panelHeight * len(panels)
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: format, Width: panelWidth, Height: height})
	p.FilledRect(0, 0, panelWidth, height, charts.ColorWhite, charts.ColorWhite, 0)
	for i, pn := range panels {
		opt, err := lineChart(pn)
		if err != nil {
			return err
		}
		box := charts.NewBox(0, i*panelHeight, panelWidth, (i+1)*panelHeight)
		if err := p.Child(charts.PainterBoxOption(box)).LineChart(opt); err != nil {
			return fmt.Errorf("plot: %s: %w", pn.Title, err)
		}
	}
	b, err := p.Bytes()
	if err == nil {
		_, err = w.Write(b)
	}
	if err != nil {
		return fmt.Errorf("plot: cannot write %s: %w", format, err)
	}
	return nil
}

// lineChart turns p into the library's options: each series coloured by
// its Style, non-finite values as gaps, series without data left out.
func lineChart(p Panel) (charts.LineChartOption, error) {
	theme := charts.GetTheme(charts.ThemeLight)
	var list charts.LineSeriesList
	var colours []charts.Color
	lo := math.Inf(1)
	for _, s := range p.Series {
		if len(s.Y) == 0 {
			continue
		}
		if len(s.Y) != len(p.X) {
			return charts.LineChartOption{}, fmt.Errorf("plot: %s: series %q has %d values for %d categories",
				p.Title, s.Name, len(s.Y), len(p.X))
		}
		ys := make([]float64, len(s.Y))
		for i, y := range s.Y {
			if math.IsNaN(y) || math.IsInf(y, 0) {
				y = charts.GetNullValue()
			} else {
				lo = math.Min(lo, y)
			}
			ys[i] = y
		}
		ls := charts.LineSeries{Name: s.Name, Values: ys, Symbol: charts.Symbol{Shape: charts.SymbolCircle, Size: 4}}
		if s.Square {
			ls.Symbol.Shape = charts.SymbolSquare
		}
		list = append(list, ls)
		colours = append(colours, theme.GetSeriesColor(max(s.Style, 0)))
	}
	opt := charts.NewLineChartOptionWithSeries(list)
	if len(colours) > 0 {
		theme = theme.WithSeriesColors(colours)
	}
	opt.Theme = theme
	opt.Padding = charts.Box{Top: 15, Left: 15, Right: 25, Bottom: 15}
	opt.Title = charts.TitleOption{Text: p.Title, Offset: charts.OffsetCenter,
		FontStyle: charts.NewFontStyleWithSize(15)}
	if len(list) == 0 {
		opt.Title.Text += " (no data)"
	}
	opt.Legend = charts.LegendOption{Offset: charts.OffsetStr{Top: charts.PositionBottom}}
	opt.LineStrokeWidth = 2
	opt.XAxis.Labels = p.X
	opt.XAxis.Title = p.XLabel
	opt.XAxis.BoundaryGap = charts.Ptr(true)
	y := charts.YAxisOption{Title: p.YLabel, SplitLineShow: charts.Ptr(true)}
	if p.YMin0 && lo >= 0 {
		y.Min = charts.Ptr(0.0)
	}
	opt.YAxis = []charts.YAxisOption{y}
	return opt, nil
}

// Percentiles are the quantiles (in %) of a latency-by-percentile panel,
// and PercentileLabels name them on its x axis.
var (
	Percentiles      = []float64{0, 50, 75, 90, 95, 99, 99.9, 99.99, 100}
	PercentileLabels = []string{"min", "p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99", "max"}
)

// ByPercentile returns h's value at each of Percentiles divided by unit
// (e.g. 1000 for a microsecond histogram plotted in milliseconds), or nil
// for an empty histogram.
func ByPercentile(h *hdrhistogram.Histogram, unit float64) []float64 {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	if unit <= 0 {
		unit = 1
	}
	ys := make([]float64, len(Percentiles))
	for i, q := range Percentiles {
		v := h.ValueAtQuantile(q)
		if q == 0 {
			v = h.Min()
		}
		ys[i] = float64(v) / unit
	}
	return ys
}
