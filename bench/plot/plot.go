// Package plot renders benchmark figures to SVG or PNG files with gonum's
// plotting library: a column of panels, each a set of named lines, so a
// figure reads on its own, without the tool. bench/overhead draws latency
// CDFs per target and overhead against rate with it; `tollgate bench run
// --plot` draws the run's latency CDFs.
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
	"sort"
	"strconv"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Series is one named line.
type Series struct {
	Name string
	X, Y []float64
	// Dashed draws the line dashed (e.g. p99 beside a solid p50).
	Dashed bool
	// Style picks the colour: series with the same Style share it (e.g.
	// one target's p50 and p99). Zero-based.
	Style int
	// Points marks every point, for lines with few points.
	Points bool
}

// Panel is one plot.
type Panel struct {
	Title, XLabel, YLabel string
	// LogX puts the x axis on a log scale (x values must be > 0; others
	// are dropped).
	LogX bool
	// XTicks, when set, replaces the x axis ticks: value → label (for a
	// categorical axis such as percentiles).
	XTicks map[float64]string
	// YMin0 starts the y axis at 0.
	YMin0 bool
	// Headroom extends the y axis above the data by this fraction of its
	// range, to keep the legend (top left) clear of the lines.
	Headroom float64
	Series   []Series
}

// ErrFormat is returned for a file name that is neither .svg nor .png.
var ErrFormat = errors.New("plot: file name must end in .svg or .png")

// WriteFile renders panels, one above the other, to path (.svg or .png).
func WriteFile(path string, panels []Panel) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".svg" && ext != ".png" {
		return ErrFormat
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: cannot create %s: %w", path, err)
	}
	if err := Write(f, ext[1:], panels); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// Panel sizes: wide enough for a legend beside eight lines.
const (
	panelWidth  = 9 * vg.Inch
	panelHeight = 4 * vg.Inch
)

// Write renders panels to w as "svg" or "png".
func Write(w io.Writer, format string, panels []Panel) error {
	if len(panels) == 0 {
		return errors.New("plot: nothing to draw")
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		pl, err := build(p)
		if err != nil {
			return err
		}
		plots[i] = []*plot.Plot{pl}
	}
	h := panelHeight * vg.Length(len(panels))
	var canvas interface {
		vg.CanvasSizer
	}
	var writeTo func(io.Writer) (int64, error)
	switch format {
	case "svg":
		c := vgsvg.New(panelWidth, h)
		canvas, writeTo = c, c.WriteTo
	case "png":
		c := vgimg.NewWith(vgimg.UseWH(panelWidth, h), vgimg.UseDPI(110))
		canvas, writeTo = c, vgimg.PngCanvas{Canvas: c}.WriteTo
	default:
		return ErrFormat
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	cs := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(cs[i][0])
	}
	if _, err := writeTo(w); err != nil {
		return fmt.Errorf("plot: cannot write %s: %w", format, err)
	}
	return nil
}

func build(p Panel) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text = p.XLabel
	pl.Y.Label.Text = p.YLabel
	// CDFs and overhead-vs-rate lines rise to the right: the top left
	// corner stays clear for the legend.
	pl.Legend.Top = true
	pl.Legend.Left = true
	pl.Legend.XOffs = vg.Millimeter * 2
	pl.Add(plotter.NewGrid())
	if p.LogX {
		pl.X.Scale = plot.LogScale{}
		pl.X.Tick.Marker = ticks125{}
	}
	if len(p.XTicks) > 0 {
		var ts []plot.Tick
		for v, l := range p.XTicks {
			ts = append(ts, plot.Tick{Value: v, Label: l})
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].Value < ts[j].Value })
		pl.X.Tick.Marker = plot.ConstantTicks(ts)
		pl.X.Min, pl.X.Max = ts[0].Value-0.25, ts[len(ts)-1].Value+0.25
	}
	empty := true
	for _, s := range p.Series {
		xys := make(plotter.XYs, 0, len(s.X))
		for i := range s.X {
			x, y := s.X[i], s.Y[i]
			if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) || (p.LogX && x <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: y})
		}
		if len(xys) == 0 {
			continue
		}
		empty = false
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("plot: %s: %w", s.Name, err)
		}
		l.Color = plotutil.Color(s.Style)
		l.Width = vg.Points(1.5)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		pl.Add(l)
		if s.Points {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, fmt.Errorf("plot: %s: %w", s.Name, err)
			}
			sc.Color = l.Color
			sc.Shape = plotutil.Shape(s.Style)
			pl.Add(sc)
			pl.Legend.Add(s.Name, l, sc)
		} else {
			pl.Legend.Add(s.Name, l)
		}
	}
	if empty {
		pl.Title.Text += " (no data)"
	}
	if p.YMin0 && pl.Y.Min > 0 {
		pl.Y.Min = 0
	}
	if p.Headroom > 0 && pl.Y.Max > pl.Y.Min {
		pl.Y.Max += (pl.Y.Max - pl.Y.Min) * p.Headroom
	}
	return pl, nil
}

// CDFQuantiles are the quantiles (in %) at which CDF samples a histogram:
// every percent, then finer towards the tail, so the tail bends show.
var CDFQuantiles = func() []float64 {
	var qs []float64
	for q := 0.0; q < 99; q++ {
		qs = append(qs, q)
	}
	for _, step := range []struct{ from, to, by float64 }{{99, 99.9, 0.1}, {99.9, 99.99, 0.01}} {
		for i := 0; ; i++ {
			q := step.from + float64(i)*step.by
			if q >= step.to-step.by/2 {
				break
			}
			qs = append(qs, math.Round(q*1000)/1000)
		}
	}
	return append(qs, 99.99, 99.999, 100)
}()

// CDF samples h as a cumulative distribution: x the value divided by unit
// (e.g. 1000 for a microsecond histogram plotted in milliseconds), y the
// fraction of values at or below it.
func CDF(h *hdrhistogram.Histogram, unit float64) (x, y []float64) {
	if h == nil || h.TotalCount() == 0 {
		return nil, nil
	}
	if unit <= 0 {
		unit = 1
	}
	for _, q := range CDFQuantiles {
		v := float64(h.ValueAtQuantile(q))
		if q == 0 {
			v = float64(h.Min())
		}
		x = append(x, v/unit)
		y = append(y, q/100)
	}
	return x, y
}

// ticks125 marks a log axis at 1, 2 and 5 times each power of ten, with
// minor ticks between: plot.LogTicks labels powers of ten only, which
// leaves a latency axis spanning less than a decade almost unlabelled.
type ticks125 struct{}

// Ticks implements plot.Ticker.
func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	var ts []plot.Tick
	labelled := 0
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		p := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * p
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
				labelled++
			}
			ts = append(ts, t)
		}
	}
	// A narrow axis (less than a decade) would keep one or two labels:
	// label every tick then.
	if labelled < 3 {
		for i := range ts {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', -1, 64)
		}
	}
	return ts
}
