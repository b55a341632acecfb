package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tollgate/tollgate/bench/floor"
	"github.com/tollgate/tollgate/bench/load"
	"github.com/tollgate/tollgate/bench/overhead"
	"github.com/tollgate/tollgate/bench/plot"
	"github.com/tollgate/tollgate/bench/proc"
	"github.com/tollgate/tollgate/bench/report"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark any OpenAI-compatible endpoint, or gateway overhead against a bare proxy",
		Long: `Load tests for LLM endpoints and gateways.

  tollgate bench run       load one OpenAI-compatible base URL and report TTFT,
                           inter-token latency, end-to-end latency, throughput and goodput
  tollgate bench overhead  compare gateways with a direct path and a bare pass-through
                           proxy (the floor) on the same mock upstream`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newBenchRunCmd(), newBenchOverheadCmd(), newBenchFloorCmd())
	return cmd
}

// floorBanner is the line `tollgate bench floor` prints when it listens;
// `bench overhead` reads the URL from it (as from the mock's banner).
const floorBanner = "tollgate bench floor listening on %s (base URL %s)\n"

func newBenchFloorCmd() *cobra.Command {
	var c floor.Config
	var addr string
	cmd := &cobra.Command{
		Use:   "floor --upstream URL [--addr HOST:PORT]",
		Short: "Run the bare pass-through proxy that bench overhead measures as the floor",
		Long: `Run a bare fasthttp reverse proxy to --upstream: bytes passed through unchanged,
streams relayed read by read. It is the floor of gateway overhead (one extra
loopback hop); bench overhead starts one itself, this verb runs one by hand.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := floor.New(c)
			if err != nil {
				return err
			}
			if err := p.Listen(addr); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), floorBanner, p.Addr(), p.URL())
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return p.Close()
		},
	}
	cmd.Flags().StringVar(&c.Upstream, "upstream", "", "OpenAI base URL to forward to (paths pass through unchanged)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "listen address")
	cmd.Flags().IntVar(&c.MaxConns, "max-conns", 8192, "upstream connections at most")
	return cmd
}

// baseURLFrom reads "(base URL X)" from a banner line of `tollgate mock`
// or `tollgate bench floor`.
func baseURLFrom(line string) (string, bool) {
	_, rest, ok := strings.Cut(line, "(base URL ")
	if !ok {
		return "", false
	}
	u, _, ok := strings.Cut(rest, ")")
	return u, ok && u != ""
}

// childStarters run the mock and the floor as child processes of this
// binary, so that every measured path crosses process boundaries as a
// deployment does.
func childStarters(c *overhead.Config) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find this binary to start the mock and the floor: %w", err)
	}
	start := func(args ...string) (string, func() error, error) {
		ch, u, err := proc.StartChild(exe, args, 10*time.Second, baseURLFrom)
		if err != nil {
			return "", nil, err
		}
		return u, ch.Stop, nil
	}
	c.StartMock = func(s overhead.MockSpec) (string, func() error, error) {
		return start("mock", "--addr", s.Addr, "--tokens", strconv.Itoa(s.Tokens),
			"--ttft", s.TTFT.String(), "--token-gap", s.TokenGap.String(), "--history", "1")
	}
	c.StartFloor = func(upstream string) (string, func() error, error) {
		return start("bench", "floor", "--upstream", upstream)
	}
	return nil
}

// benchSignals cancels the returned context on the first SIGINT/SIGTERM
// (the run stops and reports what it measured); a second one exits.
func benchSignals() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	stop := make(chan struct{})
	go func() {
		select {
		case <-ch:
			fmt.Fprintln(os.Stderr, "tollgate bench: stopping, reporting what was measured (again to abort)")
			cancel()
		case <-stop:
			return
		}
		select {
		case <-ch:
			os.Exit(130)
		case <-stop:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(stop)
		cancel()
	}
}

// writeOutput writes with fn to path, "-" meaning stdout.
func writeOutput(path string, stdout io.Writer, fn func(io.Writer) error) error {
	if path == "-" {
		return fn(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	if err := fn(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return f.Close()
}

func newBenchRunCmd() *cobra.Command {
	var (
		r                            load.Request
		p                            load.Plan
		headers                      []string
		arrival, slo, prompt, maxTok string
		jsonOut                      bool
		csvPath, mdPath, plotPath    string
		pid                          int
	)
	cmd := &cobra.Command{
		Use:   "run --url URL --model MODEL (--rate N | --concurrency N) [flags]",
		Short: "Load an OpenAI-compatible endpoint and report latency, throughput and goodput",
		Long: `Send chat completions to {url}/chat/completions — Tollgate, another gateway, a
provider or a local server — and report, like vllm bench serve: request and
output-token throughput, goodput against --slo, counts by HTTP status and error
kind, and TTFT, inter-token latency, time per output token and end-to-end latency
(mean, p50, p90, p95, p99, p99.9, max; HDR histograms).

Open loop (--rate) schedules every request at an intended time (Poisson or
constant arrivals) and measures latency from that time, so a slow target cannot
hide its queueing (no coordinated omission). Closed loop (--concurrency) keeps N
requests in flight. The run ends after --duration or --requests (first reached);
--warmup is sent first and not measured. Ctrl-C stops early and reports.

The report goes to stdout (--json for the JSON document, schema in
bench/report/SCHEMA.md); --csv and --md write files ("-" for stdout); a progress
bar shows on stderr when it is a terminal.`,
		Example: `  tollgate bench run --url http://127.0.0.1:8080/api/v1 --key "$KEY" --model demo/mini \
      --rate 50 --duration 30s --stream --slo ttft=300ms,e2e=2s
  tollgate bench run --url http://127.0.0.1:8089/v1 --model mock-chat --concurrency 64 --requests 20000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			for _, h := range headers {
				hh, err := load.ParseHeader(h)
				if err != nil {
					return err
				}
				r.Headers = append(r.Headers, hh)
			}
			if p.Arrival, err = load.ParseArrival(arrival); err != nil {
				return err
			}
			if p.SLO, err = load.ParseSLO(slo); err != nil {
				return err
			}
			if r.PromptTokens, err = load.ParseRange(prompt); err != nil {
				return err
			}
			if r.MaxTokens, err = load.ParseRange(maxTok); err != nil {
				return err
			}
			if p.Rate == 0 && p.Concurrency == 0 {
				return errors.New("set --rate (open loop) or --concurrency (closed loop)")
			}
			if p.Duration == 0 && p.Requests == 0 {
				p.Duration = 10 * time.Second
			}
			if r.Key == "" {
				r.Key = os.Getenv("TOLLGATE_BENCH_KEY")
			}
			if r.URL == "" || r.Model == "" {
				return errors.New("--url and --model are required")
			}
			if err := p.Validate(); err != nil {
				return err
			}
			client, err := load.NewClient(r)
			if err != nil {
				return err
			}
			defer client.Close()
			r = client.Request()

			var sampler *proc.Sampler
			if pid > 0 {
				if sampler, err = proc.Start(pid, 250*time.Millisecond); err != nil {
					return err
				}
			}
			ctx, stop := benchSignals()
			defer stop()
			progress := startProgress(p, jsonOut)
			p.OnDone = progress.done
			started := time.Now()
			res, err := load.Run(ctx, client, p)
			progress.finish()
			if err != nil {
				return err
			}
			var ps *proc.Stats
			if sampler != nil {
				st, perr := sampler.Stop()
				if perr != nil {
					fmt.Fprintf(os.Stderr, "tollgate bench: process %d: %v\n", pid, perr)
				}
				ps = &st
			}
			rep := report.New(started, r, p, res, ps)
			out := cmd.OutOrStdout()
			if jsonOut {
				err = report.WriteJSON(out, rep)
			} else {
				err = report.WriteText(out, rep)
			}
			if err != nil {
				return err
			}
			if csvPath != "" {
				if err := writeOutput(csvPath, out, func(w io.Writer) error { return report.WriteCSV(w, rep) }); err != nil {
					return err
				}
			}
			if mdPath != "" {
				if err := writeOutput(mdPath, out, func(w io.Writer) error { return report.WriteMarkdown(w, rep) }); err != nil {
					return err
				}
			}
			if plotPath != "" {
				if err := plot.WriteFile(plotPath, runPanels(r, res)); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&r.URL, "url", "", "OpenAI base URL as SDKs take it (requests go to {url}/chat/completions)")
	f.StringVar(&r.Model, "model", "", "model to request")
	f.StringVar(&r.Key, "key", "", "API key, sent as Authorization: Bearer (default $TOLLGATE_BENCH_KEY)")
	f.StringArrayVar(&headers, "header", nil, `extra request header "Key: Value" (repeatable)`)
	f.Float64Var(&p.Rate, "rate", 0, "open loop: requests per second")
	f.StringVar(&arrival, "arrival", "poisson", "open-loop arrivals: poisson or constant")
	f.IntVar(&p.Concurrency, "concurrency", 0, "closed loop: requests in flight")
	f.DurationVar(&p.Duration, "duration", 0, "measured duration (default 10s when --requests is not set)")
	f.IntVar(&p.Requests, "requests", 0, "number of measured requests")
	f.DurationVar(&p.Warmup, "warmup", 0, "load sent before measuring, not recorded")
	f.BoolVar(&r.Stream, "stream", false, "stream responses (SSE) and measure TTFT and inter-token latency")
	f.StringVar(&prompt, "prompt-tokens", "16", "prompt length in tokens: N or MIN:MAX (uniform)")
	f.StringVar(&maxTok, "max-tokens", "", "max_tokens to send: N or MIN:MAX (uniform); not sent when empty")
	f.StringVar(&slo, "slo", "", "goodput objectives, e.g. ttft=200ms,tpot=50ms,e2e=2s")
	f.DurationVar(&r.Timeout, "timeout", load.DefaultTimeout, "per-request timeout, start to last byte")
	f.IntVar(&r.MaxConns, "max-conns", load.DefaultMaxConns, "connections to the target at most")
	f.IntVar(&p.MaxInFlight, "max-inflight", 0, "open loop: requests in flight at most (default min(max-conns, 4096))")
	f.Uint64Var(&p.Seed, "seed", 0, "seed of arrivals and lengths (0: random)")
	f.BoolVar(&jsonOut, "json", false, "print the report as JSON on stdout")
	f.StringVar(&csvPath, "csv", "", `write the metrics as CSV to FILE ("-" for stdout)`)
	f.StringVar(&mdPath, "md", "", `write a markdown summary to FILE ("-" for stdout)`)
	f.StringVar(&plotPath, "plot", "", "write latency by percentile to FILE (.svg or .png)")
	f.IntVar(&pid, "pid", 0, "sample RSS and CPU of this process (the target) from /proc during the run")
	return cmd
}

// runPanels are the latencies by percentile of a run: end-to-end, plus
// TTFT and inter-token latency for streams.
func runPanels(r load.Request, res *load.Result) []plot.Panel {
	panel := func(title string, h *hdrhistogram.Histogram) plot.Panel {
		return plot.Panel{Title: title + " by percentile — " + r.URL, XLabel: "percentile", YLabel: "latency (ms)",
			X: plot.PercentileLabels, Series: []plot.Series{{Name: r.Model, Y: plot.ByPercentile(h, 1000)}}}
	}
	var ps []plot.Panel
	if r.Stream {
		ps = append(ps, panel("Time to first token", res.TTFT), panel("Inter-token latency", res.ITL))
	}
	return append(ps, panel("End-to-end latency", res.E2E))
}

// progress draws a bar on stderr when it is a terminal: by requests when
// only --requests bounds the run, else by time.
type progress struct {
	bar    *progressbar.ProgressBar
	count  atomic.Int64
	byReq  bool
	stop   chan struct{}
	exited chan struct{}
}

func startProgress(p load.Plan, jsonOut bool) *progress {
	pr := &progress{}
	if jsonOut || !term.IsTerminal(int(os.Stderr.Fd())) {
		return pr
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(os.Stderr), progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(), progressbar.OptionSetWidth(30),
	}
	if p.Duration == 0 {
		pr.byReq = true
		pr.bar = progressbar.NewOptions64(int64(p.Requests), append(opts, progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("req"), progressbar.OptionSetDescription("requests"))...)
		return pr
	}
	total := p.Warmup + p.Duration
	pr.bar = progressbar.NewOptions64(total.Milliseconds(), append(opts, progressbar.OptionSetDescription("warm-up"))...)
	pr.stop, pr.exited = make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() {
		defer close(pr.exited)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-pr.stop:
				return
			case <-t.C:
			}
			el := time.Since(start)
			if el > p.Warmup {
				pr.bar.Describe(fmt.Sprintf("%d requests", pr.count.Load()))
			}
			_ = pr.bar.Set64(min(el, total).Milliseconds())
		}
	}()
	return pr
}

func (pr *progress) done() {
	if pr.bar == nil {
		return
	}
	if pr.byReq {
		_ = pr.bar.Add(1)
		return
	}
	pr.count.Add(1)
}

func (pr *progress) finish() {
	if pr.bar == nil {
		return
	}
	if pr.stop != nil {
		close(pr.stop)
		<-pr.exited
	}
	_ = pr.bar.Finish()
	_ = pr.bar.Exit()
}

func newBenchOverheadCmd() *cobra.Command {
	var (
		c                                   overhead.Config
		targets                             []string
		rate                                float64
		sweep, arrival, slo, prompt, maxTok string
		jsonOut, quiet, inProcess           bool
		mdPath, plotPath, jsonPath          string
	)
	cmd := &cobra.Command{
		Use:   "overhead [--target name=URL[,key=K][,header=K:V][,model=M]]... [flags]",
		Short: "Measure what gateways add over a direct path and a bare pass-through proxy",
		Long: `Run the same open-loop load, interleaved in rounds, on:

  direct   the upstream itself (an in-process mock unless --upstream is given)
  floor    a bare fasthttp pass-through proxy to it: one extra loopback hop, nothing else
  targets  each --target, e.g. a running Tollgate configured with the same upstream

and report, for each target and rate, p50/p90/p99/p99.9 latency, added latency =
target − direct at each percentile, its ratio to the floor's added latency,
the target's own X-Tollgate-Overhead-Us beside it, and peak throughput (closed
loop). With --sweep the rates rise until every target breaks --slo. With --stream,
TTFT and inter-token latency are compared too, and every stream's content is
checked against the upstream's (intact and in order).

To measure Tollgate, give the mock a fixed address and point a provider at it:

  tollgate mock --addr 127.0.0.1:9000 &          # or: --mock-addr 127.0.0.1:9000
  # tollgate.yaml: a provider {name: mock, protocol: openai, base_url: http://127.0.0.1:9000/v1}
  # serving a model (e.g. id bench/chat, upstream_model mock-chat) and a key
  tollgate serve --config tollgate.yaml &
  tollgate bench overhead --upstream http://127.0.0.1:9000/v1 \
      --target tollgate=http://127.0.0.1:8080/api/v1,key=$KEY,model=bench/chat --rate 5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			for _, t := range targets {
				tt, err := overhead.ParseTarget(t)
				if err != nil {
					return err
				}
				c.Targets = append(c.Targets, tt)
			}
			switch {
			case sweep != "" && cmd.Flags().Changed("rate"):
				return errors.New("give --rate or --sweep, not both")
			case sweep != "":
				if c.Rates, err = overhead.ParseRates(sweep); err != nil {
					return err
				}
			default:
				c.Rates = []float64{rate}
			}
			if c.Arrival, err = load.ParseArrival(arrival); err != nil {
				return err
			}
			if c.SLO, err = load.ParseSLO(slo); err != nil {
				return err
			}
			if c.PromptTokens, err = load.ParseRange(prompt); err != nil {
				return err
			}
			if c.MaxTokens, err = load.ParseRange(maxTok); err != nil {
				return err
			}
			if !quiet {
				c.Log = func(format string, args ...any) {
					fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
				}
			}
			if !inProcess {
				if err := childStarters(&c); err != nil {
					return err
				}
			}
			ctx, stop := benchSignals()
			defer stop()
			rep, err := overhead.Run(ctx, c)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				err = overhead.WriteJSON(out, rep)
			} else {
				err = overhead.WriteText(out, rep)
			}
			if err != nil {
				return err
			}
			if jsonPath != "" {
				if err := writeOutput(jsonPath, out, func(w io.Writer) error { return overhead.WriteJSON(w, rep) }); err != nil {
					return err
				}
			}
			if mdPath != "" {
				if err := writeOutput(mdPath, out, func(w io.Writer) error { return overhead.WriteMarkdown(w, rep) }); err != nil {
					return err
				}
			}
			if plotPath != "" {
				return rep.WritePlot(plotPath)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Upstream, "upstream", "", "OpenAI base URL of the upstream (default: start an in-process mock)")
	f.StringVar(&c.MockAddr, "mock-addr", "127.0.0.1:0", "address of the in-process mock")
	f.IntVar(&c.MockTokens, "mock-tokens", overhead.DefaultMockTokens, "in-process mock: completion tokens")
	f.DurationVar(&c.MockTTFT, "mock-ttft", 0, "in-process mock: delay before the first token of a stream")
	f.DurationVar(&c.MockTokenGap, "mock-token-gap", 0, "in-process mock: delay between tokens of a stream")
	f.BoolVar(&c.NoFloor, "no-floor", false, "do not run the pass-through floor proxy")
	f.BoolVar(&inProcess, "in-process", false, "run the mock and the floor inside this process instead of as child processes")
	f.StringArrayVar(&targets, "target", nil, "gateway to measure: name=URL[,key=K][,header=K:V][,model=M] (repeatable)")
	f.StringVar(&c.Model, "model", overhead.DefaultModel, "model to request (a target's model= overrides it)")
	f.BoolVar(&c.Stream, "stream", false, "measure streams: TTFT, inter-token latency, content integrity")
	f.StringVar(&prompt, "prompt-tokens", "16", "prompt length in tokens: N or MIN:MAX")
	f.StringVar(&maxTok, "max-tokens", "", "max_tokens: N or MIN:MAX (default: the mock's token count)")
	f.DurationVar(&c.Timeout, "timeout", overhead.DefaultTimeout, "per-request timeout")
	f.Float64Var(&rate, "rate", overhead.DefaultRate, "open-loop rate, requests per second")
	f.StringVar(&sweep, "sweep", "", "rates to sweep, e.g. 1000,2000,5000,10000 (stops when every target breaks --slo)")
	f.StringVar(&arrival, "arrival", "poisson", "arrivals: poisson or constant")
	f.IntVar(&c.Rounds, "rounds", overhead.DefaultRounds, "interleaved rounds per rate")
	f.DurationVar(&c.Round, "round", overhead.DefaultRound, "load per target per round")
	f.DurationVar(&c.Warmup, "warmup", overhead.DefaultWarmup, "warm-up per target before each rate")
	f.DurationVar(&c.Pause, "pause", overhead.DefaultPause, "idle time between two targets' turns (negative: none)")
	f.StringVar(&slo, "slo", "", "objectives of a good request (default e2e=100ms, or ttft=mock-ttft+100ms with --stream)")
	f.Float64Var(&c.SLOMin, "slo-min", overhead.DefaultSLOMin, "fraction of good requests below which a target breaks")
	f.IntVar(&c.PeakConcurrency, "peak-concurrency", overhead.DefaultPeakConcurrency, "closed-loop concurrency of the peak throughput test (negative: skip it)")
	f.IntVar(&c.PeakRounds, "peak-rounds", overhead.DefaultPeakRounds, "interleaved rounds of the peak test")
	f.DurationVar(&c.PeakRound, "peak-round", overhead.DefaultPeakRound, "load per target per peak round")
	f.Uint64Var(&c.Seed, "seed", 0, "seed of the arrival schedules (0: random)")
	f.BoolVar(&jsonOut, "json", false, "print the report as JSON on stdout")
	f.StringVar(&jsonPath, "json-out", "", `also write the JSON report to FILE`)
	f.StringVar(&mdPath, "md", "", `write the report as markdown to FILE ("-" for stdout)`)
	f.StringVar(&plotPath, "plot", "", "write latency by percentile and added latency to FILE (.svg or .png)")
	f.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	return cmd
}
