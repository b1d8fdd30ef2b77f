package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/consort-ml/consort/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart geometry: 6.5 x 4 inches (a report's text width) at 150 dpi.
const (
	plotWidth  = 6.5 * vg.Inch
	plotHeight = 4 * vg.Inch
	plotDPI    = 150
)

// plotPixels is the size of every PNG consort plot writes.
var plotPixels = [2]int{int(math.Round(float64(plotWidth) / 72 * plotDPI)), int(math.Round(float64(plotHeight) / 72 * plotDPI))}

// maxMetricsFile bounds the metrics file read (a row is under 100 bytes:
// this is over a million rounds).
const maxMetricsFile = 128 << 20

// maxRound bounds the round numbers of a metrics file.
const maxRound = 1 << 30

// errMetrics marks a metrics file that cannot be read as such.
var errMetrics = errors.New("metrics")

// metricsTable is a run's metrics.csv by column; a missing value is NaN.
type metricsTable struct {
	Round, Accuracy, Loss, BytesUp, Epsilon []float64
}

// readMetricsFile reads the coordinator's metrics.csv (header row; columns
// found by name, unknown ones ignored, "round" required).
func readMetricsFile(path string) (*metricsTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxMetricsFile {
		return nil, fmt.Errorf("%w: %s is %d bytes (at most %d)", errMetrics, path, st.Size(), maxMetricsFile)
	}
	return parseMetrics(path, io.LimitReader(f, maxMetricsFile))
}

// parseMetrics parses a metrics CSV. Negative accuracy and loss (the
// coordinator's "none reported") and empty or NaN cells are missing values.
func parseMetrics(name string, r io.Reader) (*metricsTable, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: no header row", errMetrics, name)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	if _, ok := col["round"]; !ok {
		return nil, fmt.Errorf("%w: %s: no \"round\" column", errMetrics, name)
	}
	t := &metricsTable{}
	// Every column is non-negative; the coordinator writes -1 for "none".
	cols := []struct {
		name string
		dst  *[]float64
	}{
		{"round", &t.Round}, {"accuracy", &t.Accuracy}, {"loss", &t.Loss},
		{"bytes_up", &t.BytesUp}, {"epsilon", &t.Epsilon},
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s line %d: not CSV", errMetrics, name, line)
		}
		if len(rec) != len(header) {
			return nil, fmt.Errorf("%w: %s line %d: %d fields, the header has %d", errMetrics, name, line, len(rec), len(header))
		}
		for _, c := range cols {
			v := math.NaN()
			if i, ok := col[c.name]; ok {
				s := strings.TrimSpace(rec[i])
				if s != "" {
					if v, err = strconv.ParseFloat(s, 64); err != nil {
						return nil, fmt.Errorf("%w: %s line %d column %q: not a number", errMetrics, name, line, c.name)
					}
				}
				if v < 0 {
					v = math.NaN()
				}
			}
			*c.dst = append(*c.dst, v)
		}
		if r := t.Round[len(t.Round)-1]; math.IsNaN(r) {
			return nil, fmt.Errorf("%w: %s line %d: no round number", errMetrics, name, line)
		} else if r != math.Trunc(r) || r > maxRound {
			return nil, fmt.Errorf("%w: %s line %d: the round is not a whole number up to %d", errMetrics, name, line, maxRound)
		}
	}
	if len(t.Round) == 0 {
		return nil, fmt.Errorf("%w: %s: no rounds", errMetrics, name)
	}
	return t, nil
}

// hasValues reports whether xs holds any value that is not missing (and,
// with positive, any above zero).
func hasValues(xs []float64, positive bool) bool {
	for _, x := range xs {
		if !math.IsNaN(x) && (!positive || x > 0) {
			return true
		}
	}
	return false
}

// plotBaseline is a horizontal reference line (a model measured once).
type plotBaseline struct {
	Label string
	Value float64
}

// plotOptions say what the charts show.
type plotOptions struct {
	// Title prefixes every chart's title (e.g. the run's name).
	Title string
	// AccuracyOn names the data each per-round accuracy is measured on.
	AccuracyOn string
	// Baselines are drawn on the accuracy chart as dashed lines; their
	// labels must name their data set.
	Baselines []plotBaseline
	// FinalLabel and Final mark one value at the last round, e.g. the final
	// model's accuracy on the test set the baselines use.
	FinalLabel string
	Final      float64
}

// plotChart is one chart written by renderPlots, with the numbers behind it
// (also written to charts.json beside the PNGs).
type plotChart struct {
	File   string        `json:"file"`
	Shows  string        `json:"shows"`
	Title  string        `json:"title"`
	YLabel string        `json:"y_label"`
	Series []chartSeries `json:"series"`
}

// chartSeries is one line or marker of a chart: its legend label and its
// (round, value) points.
type chartSeries struct {
	Label  string       `json:"label"`
	Points [][2]float64 `json:"points"`
}

// record appends a series to c.
func (c *plotChart) record(label string, xys plotter.XYs) {
	pts := make([][2]float64, len(xys))
	for i, xy := range xys {
		pts[i] = [2]float64{xy.X, xy.Y}
	}
	c.Series = append(c.Series, chartSeries{Label: label, Points: pts})
}

// renderPlots writes the PNG charts of a run into dir: accuracy.png always,
// loss.png when losses were reported, bytes.png when bytes were, and
// epsilon.png with differential privacy; and charts.json, the numbers
// behind every chart.
func renderPlots(dir string, t *metricsTable, o plotOptions) ([]plotChart, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	title := func(s string) string {
		if o.Title == "" {
			return s
		}
		return o.Title + ": " + s
	}
	on := o.AccuracyOn
	if on == "" {
		on = "the nodes' held-out rows"
	}
	var out []plotChart
	var cur plotChart
	save := func(name, shows string, p *plot.Plot, leg *plot.Legend) error {
		path := filepath.Join(dir, name)
		if err := savePlot(path, p, leg); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		cur.File, cur.Shows, cur.Title, cur.YLabel = path, shows, p.Title.Text, p.Y.Label.Text
		out = append(out, cur)
		cur = plotChart{}
		return nil
	}

	// Accuracy.
	p, leg := newChart(title("accuracy per round"), "round", "accuracy (fraction correct)")
	acc := series(t.Round, t.Accuracy, 1)
	first, last := t.Round[0], t.Round[len(t.Round)-1]
	lo := 1.0
	if len(acc) > 0 {
		l, err := plotter.NewLine(acc)
		if err != nil {
			return nil, err
		}
		l.Width = vg.Points(2)
		l.Color = plotColors[0]
		p.Add(l)
		leg.Add("federated model, on "+on, l)
		cur.record("federated model, on "+on, acc)
		for _, xy := range acc {
			lo = min(lo, xy.Y)
		}
	}
	for i, b := range o.Baselines {
		xys := plotter.XYs{{X: first, Y: b.Value}, {X: last, Y: b.Value}}
		cur.record(b.Label, xys)
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color = plotColors[(i+1)%len(plotColors)]
		l.Width = vg.Points(1.5)
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(l)
		leg.Add(b.Label, l)
		lo = min(lo, b.Value)
	}
	if o.FinalLabel != "" {
		cur.record(o.FinalLabel, plotter.XYs{{X: last, Y: o.Final}})
		s, err := plotter.NewScatter(plotter.XYs{{X: last, Y: o.Final}})
		if err != nil {
			return nil, err
		}
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(4)
		s.Color = color.Black
		p.Add(s)
		leg.Add(o.FinalLabel, s)
		lo = min(lo, o.Final)
	}
	p.Y.Min, p.Y.Max = math.Max(0, math.Floor((lo-0.05)*10)/10), 1.02
	setRounds(p, first, last)
	if err := save("accuracy.png", "accuracy per round of the federated model on "+on, p, leg); err != nil {
		return nil, err
	}

	// Loss.
	if hasValues(t.Loss, false) {
		p, leg := newChart(title("loss per round"), "round", "cross-entropy loss (nats per row)")
		cur.record("federated model, on "+on, series(t.Round, t.Loss, 1))
		if err := addLine(p, leg, series(t.Round, t.Loss, 1), "federated model, on "+on, 0); err != nil {
			return nil, err
		}
		headroom(p, series(t.Round, t.Loss, 1))
		setRounds(p, first, last)
		if err := save("loss.png", "loss per round of the federated model on "+on, p, leg); err != nil {
			return nil, err
		}
	}

	// Bytes.
	if hasValues(t.BytesUp, true) {
		p, leg := newChart(title("bytes per round"), "round", "bytes received by the aggregator (KiB)")
		cur.record("protocol payload from all nodes, per round", series(t.Round, t.BytesUp, 1.0/1024))
		if err := addLine(p, leg, series(t.Round, t.BytesUp, 1.0/1024), "protocol payload from all nodes, per round", 0); err != nil {
			return nil, err
		}
		headroom(p, series(t.Round, t.BytesUp, 1.0/1024))
		setRounds(p, first, last)
		if err := save("bytes.png", "protocol bytes the aggregator received per round", p, leg); err != nil {
			return nil, err
		}
	}

	// Privacy.
	if hasValues(t.Epsilon, true) {
		p, leg := newChart(title("privacy spent"), "round", "epsilon spent so far (at the run's delta)")
		cur.record("cumulative epsilon (RDP accountant)", series(t.Round, t.Epsilon, 1))
		if err := addLine(p, leg, series(t.Round, t.Epsilon, 1), "cumulative epsilon (RDP accountant)", 0); err != nil {
			return nil, err
		}
		headroom(p, series(t.Round, t.Epsilon, 1))
		setRounds(p, first, last)
		if err := save("epsilon.png", "cumulative differential-privacy epsilon per round", p, leg); err != nil {
			return nil, err
		}
	}
	js, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, "charts.json"), append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	return out, nil
}

// plotColors are distinguishable for the common colour-vision deficiencies
// (Okabe and Ito's palette).
var plotColors = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // bluish green
	color.RGBA{204, 121, 167, 255}, // reddish purple
	color.RGBA{230, 159, 0, 255},   // orange
}

// setRounds sets the x range to the rounds with a margin on the right, so
// that a marker at the last round is not cut.
func setRounds(p *plot.Plot, first, last float64) {
	p.X.Min, p.X.Max = first, math.Max(last, first+1)
	p.X.Max += (p.X.Max - p.X.Min) * 0.03
}

// headroom puts the top of the y range above the highest value, so that
// a flat line does not lie on the chart's top edge.
func headroom(p *plot.Plot, xys plotter.XYs) {
	hi := 0.0
	for _, xy := range xys {
		hi = math.Max(hi, xy.Y)
	}
	top := hi * 1.15
	if math.IsInf(top, 0) {
		top = hi
	}
	p.Y.Min, p.Y.Max = 0, math.Max(top, 1e-9)
}

// newChart returns a plot with a title, axis labels and a grid, and the
// legend to be drawn below it.
func newChart(title, x, y string) (*plot.Plot, *plot.Legend) {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Tick.Marker = integerTicks{}
	p.Add(plotter.NewGrid())
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.Padding = vg.Points(3)
	leg.ThumbnailWidth = vg.Points(24)
	return p, &leg
}

// addLine adds one solid series.
func addLine(p *plot.Plot, leg *plot.Legend, xys plotter.XYs, label string, colour int) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Width = vg.Points(2)
	l.Color = plotColors[colour%len(plotColors)]
	p.Add(l)
	if len(xys) == 1 {
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.Color = l.Color
		p.Add(s)
	}
	leg.Add(label, l)
	return nil
}

// series pairs x with scale*y, leaving out missing values.
func series(x, y []float64, scale float64) plotter.XYs {
	out := make(plotter.XYs, 0, len(x))
	for i := range x {
		if !math.IsNaN(y[i]) && !math.IsInf(y[i], 0) {
			out = append(out, plotter.XY{X: x[i], Y: y[i] * scale})
		}
	}
	return out
}

// integerTicks labels rounds with whole numbers only.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := math.Max(1, math.Ceil((hi-lo)/10))
	if step > 2 {
		// 1, 2, 5, 10, 20, 50, ...
		mag := math.Pow(10, math.Floor(math.Log10(step)))
		switch {
		case step <= 2*mag:
			step = 2 * mag
		case step <= 5*mag:
			step = 5 * mag
		default:
			step = 10 * mag
		}
	}
	var ts []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi && len(ts) < 30; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ts
}

// savePlot draws p with its legend in a strip below the axes (never over a
// line) and writes a PNG of plotPixels.
func savePlot(path string, p *plot.Plot, leg *plot.Legend) error {
	img := vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(plotDPI))
	dc := draw.New(img)
	// White background: a transparent PNG is unreadable on dark viewers.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	strip := leg.Rectangle(dc).Size().Y
	if strip > 0 {
		strip += 2 * vg.Points(6)
	}
	p.Draw(draw.Crop(dc, 0, 0, strip, 0))
	if strip > 0 {
		lc := draw.Crop(dc, 0, 0, 0, -(plotHeight - strip))
		leg.XOffs = vg.Points(48) // under the plotting area, past the y axis labels
		leg.YOffs = -vg.Points(6)
		leg.Draw(lc)
	}
	w := &fileBuffer{}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return err
	}
	return atomicfile.Write(path, w.b, 0o644)
}

// fileBuffer collects bytes for an atomic write.
type fileBuffer struct{ b []byte }

func (f *fileBuffer) Write(p []byte) (int, error) { f.b = append(f.b, p...); return len(p), nil }

// baselineFlag collects repeated --baseline "LABEL=VALUE" values.
type baselineFlag []plotBaseline

func (b *baselineFlag) String() string { return fmt.Sprint(len(*b)) }

func (b *baselineFlag) Set(v string) error {
	i := strings.LastIndex(v, "=")
	if i <= 0 {
		return errors.New(`want "LABEL=VALUE", e.g. "centralised, test set=0.95"`)
	}
	x, err := strconv.ParseFloat(v[i+1:], 64)
	if err != nil || x < 0 || x > 1 {
		return errors.New("the value must be an accuracy between 0 and 1")
	}
	*b = append(*b, plotBaseline{Label: v[:i], Value: x})
	return nil
}

// runPlot implements 'consort plot --metrics FILE [--out DIR]'.
func runPlot(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("plot", "plot --metrics FILE [--out DIR] [--title T] [--accuracy-on DATA] [--baseline LABEL=VALUE]...",
		"consort plot --metrics coord-state/metrics.csv --out report/",
		`consort plot --metrics metrics.csv --out report/ --title "clinic study" --baseline "centralised, test set=0.953"`,
		"consort plot --metrics metrics.csv --json")
	metricsPath := fs.String("metrics", "", "the coordinator's metrics.csv (STATE/metrics.csv; required)")
	outDir := fs.String("out", "", "directory for the PNG files (default: the metrics file's directory)")
	title := fs.String("title", "", "prefix of every chart's title, e.g. the federation's name")
	accuracyOn := fs.String("accuracy-on", "the nodes' held-out rows", "the data the per-round accuracy was measured on, for the legend")
	var baselines baselineFlag
	fs.Var(&baselines, "baseline", `a reference accuracy drawn as a dashed line, "LABEL=VALUE" (name its data set in LABEL); repeatable`)
	jsonOut := fs.Bool("json", false, "print the charts written as one JSON object")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *metricsPath == "" {
		return usagef("--metrics is required")
	}
	t, err := readMetricsFile(*metricsPath)
	if err != nil {
		return withCode(err, exitInput)
	}
	dir := *outDir
	if dir == "" {
		dir = filepath.Dir(*metricsPath)
	}
	charts, err := renderPlots(dir, t, plotOptions{Title: *title, AccuracyOn: *accuracyOn, Baselines: baselines})
	if err != nil {
		return err
	}
	if *jsonOut {
		return writeJSON(stdout, struct {
			Rounds int         `json:"rounds"`
			Charts []plotChart `json:"charts"`
		}{len(t.Round), charts})
	}
	for _, c := range charts {
		fmt.Fprintf(stdout, "%s: %s\n", c.File, c.Shows)
	}
	fmt.Fprintf(stdout, "%s: the numbers behind the charts\n", filepath.Join(dir, "charts.json"))
	return nil
}
