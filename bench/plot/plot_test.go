package plot

import (
	"bytes"
	"errors"
	"image/png"
	"math"
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
	y := ByPercentile(h, 1)
	rates := []string{"1000", "2000", "5000"}
	return []Panel{
		{Title: "Latency by percentile", XLabel: "percentile", YLabel: "latency (µs)", X: PercentileLabels,
			Series: []Series{{Name: "direct", Y: y}, {Name: "floor", Y: scale(y, 2), Style: 1}, {Name: "idle"}}},
		{Title: "Added latency vs rate", XLabel: "rate (req/s)", YLabel: "added (µs)", X: rates, YMin0: true,
			Series: []Series{
				{Name: "floor p50", Y: []float64{90, math.NaN(), 120}, Style: 1},
				{Name: "floor p99", Y: []float64{200, 260, 400}, Style: 1, Square: true},
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

func TestWriteSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.svg")
	if err := WriteFile(path, panels()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(strings.TrimSpace(s), "<svg") || !strings.HasSuffix(strings.TrimSpace(s), "</svg>") {
		t.Fatalf("not an svg document: %.80s", s)
	}
	for _, want := range []string{"Latency by percentile", "Added latency vs rate", "latency (µs)", "rate (req/s)",
		"direct", "floor p50", "floor p99", "p99.99", "max", "5000"} {
		if !strings.Contains(s, ">"+want+"<") {
			t.Errorf("svg lacks text %q", want)
		}
	}
	if strings.Contains(s, ">idle<") {
		t.Error("a series without data is in the legend")
	}
	if !strings.Contains(s, `viewBox="0 0 1000 880"`) {
		t.Error("two panels are not stacked into one 880-pixel-high image")
	}
}

func TestWritePNG(t *testing.T) {
	// One small panel: rasterising is slow under -race.
	path := filepath.Join(t.TempDir(), "out.png")
	small := []Panel{{Title: "p", X: []string{"a", "b"}, Series: []Series{{Name: "a", Y: []float64{1, 2}}}}}
	if err := WriteFile(path, small); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != panelWidth || b.Dy() != panelHeight {
		t.Fatalf("png is %v", b.Size())
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "out.pdf"), panels()); err != ErrFormat {
		t.Fatalf("pdf: %v", err)
	}
	if err := Write(&bytes.Buffer{}, "jpg", panels()); err != ErrFormat {
		t.Fatalf("jpg: %v", err)
	}
	if err := WriteFile(filepath.Join(dir, "none.svg"), nil); err != ErrEmpty {
		t.Fatalf("no panels: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.svg")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a file was created for no panels")
	}
	bad := []Panel{{Title: "t", X: []string{"a", "b"}, Series: []Series{{Name: "s", Y: []float64{1}}}}}
	if err := Write(&bytes.Buffer{}, "svg", bad); err == nil || !strings.Contains(err.Error(), `"s" has 1 values for 2`) {
		t.Fatalf("mismatched series: %v", err)
	}
	if err := WriteFile(filepath.Join(dir, "bad.png"), bad); err == nil {
		t.Fatal("mismatched series written to a file")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.png")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed figure left a file behind")
	}
	neg := []Panel{{Title: "t", X: []string{"a"}, Series: []Series{{Name: "s", Y: []float64{1}, Style: -3}}}}
	if err := Write(&bytes.Buffer{}, "svg", neg); err != nil {
		t.Fatalf("negative style: %v", err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, "svg", []Panel{{Title: "Quiet", X: []string{"a"}}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), ">Quiet (no data)<") {
		t.Fatal("an empty panel is not titled as such")
	}
}

func TestByPercentile(t *testing.T) {
	h := hdrhistogram.New(1, 1e6, 3)
	for i := int64(1); i <= 100; i++ {
		_ = h.RecordValue(i * 10)
	}
	y := ByPercentile(h, 1000)
	if len(y) != len(Percentiles) || len(PercentileLabels) != len(Percentiles) {
		t.Fatalf("%d values, %d percentiles, %d labels", len(y), len(Percentiles), len(PercentileLabels))
	}
	if y[0] != 0.01 || y[1] != 0.5 || y[len(y)-1] != 1 {
		t.Fatalf("min %v, p50 %v, max %v", y[0], y[1], y[len(y)-1])
	}
	for i := 1; i < len(y); i++ {
		if y[i] < y[i-1] {
			t.Fatalf("not monotonic at %s: %v", PercentileLabels[i], y[i-1:i+1])
		}
	}
	if ByPercentile(hdrhistogram.New(1, 10, 1), 1) != nil || ByPercentile(nil, 1) != nil {
		t.Fatal("empty histogram gave values")
	}
}
