package plot

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func panels() []Panel {
	h := hdrhistogram.New(1, 3600e6, 3)
	for i := int64(1); i <= 1000; i++ {
		_ = h.RecordValue(50 + i%100 + i*i/10000)
	}
	x, y := CDF(h, 1)
	return []Panel{
		{Title: "Latency CDF", XLabel: "latency (µs)", YLabel: "fraction", LogX: true,
			Series: []Series{{Name: "direct", X: x, Y: y}, {Name: "floor", X: scale(x, 2), Y: y, Style: 1}}},
		{Title: "Added latency vs rate", XLabel: "rate (req/s)", YLabel: "added (µs)", YMin0: true,
			Series: []Series{
				{Name: "floor p50", X: []float64{1000, 2000, 5000}, Y: []float64{90, 100, 120}, Style: 1, Points: true},
				{Name: "floor p99", X: []float64{1000, 2000, 5000}, Y: []float64{200, 260, 400}, Style: 1, Dashed: true, Points: true},
			}},
	}
}

func scale(xs []float64, k float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * k
	}
	return out
}

func TestWriteSVGAndPNG(t *testing.T) {
	dir := t.TempDir()
	svg := filepath.Join(dir, "out.svg")
	if err := WriteFile(svg, panels()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(svg)
	for _, want := range []string{"<svg", "Latency CDF", "Added latency vs rate", "floor p99", "direct"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Fatalf("svg lacks %q", want)
		}
	}
	// One small panel: rasterising is slow under -race.
	pngPath := filepath.Join(dir, "out.png")
	small := []Panel{{Title: "p", Series: []Series{{Name: "a", X: []float64{1, 2}, Y: []float64{1, 2}}}}}
	if err := WriteFile(pngPath, small); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 300 {
		t.Fatalf("png is %v", b)
	}
	if err := WriteFile(filepath.Join(dir, "out.pdf"), panels()); err != ErrFormat {
		t.Fatalf("pdf: %v", err)
	}
}

func TestCDF(t *testing.T) {
	h := hdrhistogram.New(1, 1e6, 3)
	for i := int64(1); i <= 100; i++ {
		_ = h.RecordValue(i * 10)
	}
	x, y := CDF(h, 1000)
	if len(x) != len(CDFQuantiles) || y[0] != 0 || y[len(y)-1] != 1 || x[0] != 0.01 || x[len(x)-1] != 1 {
		t.Fatalf("cdf ends (%v,%v) (%v,%v)", x[0], y[0], x[len(x)-1], y[len(y)-1])
	}
	for i := 1; i < len(x); i++ {
		if x[i] < x[i-1] || y[i] <= y[i-1] {
			t.Fatalf("cdf not monotonic at %d: %v %v", i, x[i-1:i+1], y[i-1:i+1])
		}
	}
	if x, _ := CDF(hdrhistogram.New(1, 10, 1), 1); x != nil {
		t.Fatal("empty histogram gave points")
	}
	if !strings.HasPrefix(ErrFormat.Error(), "plot:") {
		t.Fatal("error prefix")
	}
}

func TestTicks125(t *testing.T) {
	labels := func(lo, hi float64) []string {
		var out []string
		for _, tk := range (ticks125{}).Ticks(lo, hi) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return out
	}
	if got := strings.Join(labels(0.8, 120), " "); got != "1 2 5 10 20 50 100" {
		t.Fatalf("wide axis: %s", got)
	}
	if got := strings.Join(labels(21, 86), " "); got != "30 40 50 60 70 80" {
		t.Fatalf("narrow axis: %s", got)
	}
	if len((ticks125{}).Ticks(0, 10)) != 0 {
		t.Fatal("ticks for a non-positive axis")
	}
}
