// Package overhead measures what gateways add to a request: the same load
// goes to an upstream directly, through the bare pass-through proxy of
// bench/floor (the cost of one extra loopback hop) and through each
// gateway under test, and added latency = target − direct is reported at
// each percentile, with each target's ratio to the floor. It runs
// `tollgate bench overhead`; SPEC §9 states Tollgate's budgets as those
// ratios.
//
// # Method
//
// The upstream is an in-process bench/mock (or any OpenAI-compatible URL).
// For each rate, every target first gets Config.Warmup of load (not
// recorded); then Config.Rounds rounds follow, and in each round every
// target gets Config.Round of open-loop load in turn — A/B/C, B/C/A, C/A/B
// — with the same arrival schedule (the seed is the round's), so slow
// drifts of a shared machine hit every target alike; Config.Pause between
// turns lets work a target defers finish in its own turn. Results are merged
// per target over the rounds (HDR histograms); the figures compared are
// robust to a round disturbed by something else on the machine: each
// percentile is taken per round, and added latency is the median over the
// rounds of (target − direct) in the same round. Latency is measured from each request's intended send
// time (bench/load: no coordinated omission).
//
// A target breaks at a rate when fewer than Config.SLOMin of its requests
// met the SLO; it is not run at higher rates, and the sweep stops when
// every gateway target broke (or direct did, which means the generator or
// the upstream is the limit). Peak throughput is measured separately,
// closed loop at Config.PeakConcurrency, interleaved in rounds the same
// way.
//
// Streams (Config.Stream) add TTFT and inter-token latency, and every
// stream's content deltas are compared with the upstream's own (a probe
// sent directly before the run): a delta split, merged, altered, lost or
// reordered by a target is counted as content_mismatch.
//
// A target that sends X-Tollgate-Overhead-Us (Tollgate does) gets that
// header's distribution reported beside the client-observed added latency.
//
// Who imports it: cmd/tollgate. It imports bench/load, bench/mock,
// bench/floor, bench/report and bench/plot, nothing outside bench/.
package overhead

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tollgate/tollgate/bench/floor"
	"github.com/tollgate/tollgate/bench/load"
	"github.com/tollgate/tollgate/bench/mock"
)

// runTarget is a target with its client and what it measured.
type runTarget struct {
	info   TargetInfo
	client *load.Client
	// byRate holds the merged result at each rate the target ran, and
	// rounds each round's own, in round order.
	byRate map[float64]*load.Result
	rounds map[float64][]*load.Result
	// brokeAt is the first rate at which the target broke its SLO, 0 if
	// none.
	brokeAt float64
	peak    *load.Result
	// peakRounds are the peak test's rounds.
	peakRounds []*load.Result
}

// Run runs the benchmark c describes. When ctx is canceled it stops and
// reports what it measured, with Report.Stopped saying so.
func Run(ctx context.Context, c Config) (*Report, error) {
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	logf := c.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	seed := c.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	started := time.Now()

	upstream := c.Upstream
	if upstream == "" {
		spec := MockSpec{Addr: c.MockAddr, Tokens: c.MockTokens, TTFT: c.MockTTFT, TokenGap: c.MockTokenGap}
		start := c.StartMock
		if start == nil {
			start = startMock
		}
		u, stop, err := start(spec)
		if err != nil {
			return nil, err
		}
		defer func() { _ = stop() }()
		upstream = u
		logf("mock upstream at %s (%d tokens, ttft %v, token gap %v)", upstream, c.MockTokens, c.MockTTFT, c.MockTokenGap)
	}
	targets := []*runTarget{{info: TargetInfo{Name: RoleDirect, URL: upstream, Role: RoleDirect}}}
	if !c.NoFloor {
		start := c.StartFloor
		if start == nil {
			start = func(up string) (string, func() error, error) { return startFloor(up, c.idleConnTimeout) }
		}
		u, stop, err := start(upstream)
		if err != nil {
			return nil, err
		}
		defer func() { _ = stop() }()
		targets = append(targets, &runTarget{info: TargetInfo{Name: RoleFloor, URL: u, Role: RoleFloor}})
		logf("floor proxy at %s", u)
	}
	for _, t := range c.Targets {
		targets = append(targets, &runTarget{info: TargetInfo{Name: t.Name, URL: t.URL, Role: RoleTarget}})
	}

	request := func(t *runTarget, spec Target, expect *load.Expect) load.Request {
		r := load.Request{
			URL: t.info.URL, Model: c.Model, Key: spec.Key, Headers: spec.Headers, Stream: c.Stream,
			PromptTokens: c.PromptTokens, MaxTokens: c.MaxTokens, Timeout: c.Timeout,
			IdleConnTimeout: c.idleConnTimeout, Expect: expect,
		}
		if spec.Model != "" {
			r.Model = spec.Model
		}
		return r
	}
	var expect *load.Expect
	if c.Stream {
		probe, err := load.NewClient(request(targets[0], Target{}, nil))
		if err != nil {
			return nil, err
		}
		deltas, err := probe.Probe(ctx)
		probe.Close()
		if err != nil {
			return nil, fmt.Errorf("overhead: cannot take the reference stream from the upstream: %w", err)
		}
		expect = load.ExpectDeltas(deltas)
		logf("reference stream: %d content deltas", len(deltas))
	}
	specs := map[string]Target{}
	for _, t := range c.Targets {
		specs[t.Name] = t
	}
	for _, t := range targets {
		cl, err := load.NewClient(request(t, specs[t.info.Name], expect))
		if err != nil {
			return nil, fmt.Errorf("overhead: target %s: %w", t.info.Name, err)
		}
		defer cl.Close()
		t.client = cl
		t.byRate = map[float64]*load.Result{}
		t.rounds = map[float64][]*load.Result{}
	}

	rep := &Report{Schema: Schema, StartedAt: started.UTC().Truncate(time.Millisecond), Config: configOf(c, upstream)}
	for _, t := range targets {
		rep.Targets = append(rep.Targets, t.info)
	}

	// pause waits between two targets' turns; false when ctx ended.
	pause := func() bool {
		if c.Pause <= 0 {
			return ctx.Err() == nil
		}
		t := time.NewTimer(c.Pause)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	ran := []float64{}
sweep:
	for _, rate := range c.Rates {
		active := []*runTarget{}
		for _, t := range targets {
			if t.brokeAt == 0 {
				active = append(active, t)
			}
		}
		for _, t := range active {
			logf("rate %s/s: warm-up %s", num(rate), t.info.Name)
			if _, err := load.Run(ctx, t.client, load.Plan{Rate: rate, Arrival: c.Arrival, Duration: c.Warmup, Seed: seed}); err != nil {
				return nil, err
			}
			if !pause() {
				rep.Stopped = "interrupted"
				break sweep
			}
		}
		for round := 0; round < c.Rounds; round++ {
			for i := range active {
				t := active[(i+round)%len(active)]
				res, err := load.Run(ctx, t.client, load.Plan{
					Rate: rate, Arrival: c.Arrival, Duration: c.Round, SLO: c.SLO,
					Seed: seed + uint64(round) + 1,
				})
				if err != nil {
					return nil, err
				}
				t.rounds[rate] = append(t.rounds[rate], res)
				if acc := t.byRate[rate]; acc != nil {
					acc.Merge(res)
				} else {
					t.byRate[rate] = res.Clone()
				}
				logf("rate %s/s round %d/%d %-10s ok %d/%d p50 %v p99 %v", num(rate), round+1, c.Rounds, t.info.Name,
					res.Succeeded, res.Sent, load.Quantile(res.E2E, 50), load.Quantile(res.E2E, 99))
				if !pause() {
					rep.Stopped = "interrupted"
					ran = append(ran, rate)
					break sweep
				}
			}
		}
		ran = append(ran, rate)
		gatewaysLeft := 0
		for _, t := range active {
			if t.byRate[rate].GoodFraction() < c.SLOMin {
				t.brokeAt = rate
				logf("rate %s/s: %s broke the SLO (%.2f%% good)", num(rate), t.info.Name, 100*t.byRate[rate].GoodFraction())
			} else if t.info.Role != RoleDirect {
				gatewaysLeft++
			}
		}
		if targets[0].brokeAt != 0 {
			rep.Stopped = fmt.Sprintf("direct broke the SLO at %s req/s: the generator or the upstream is the limit", num(rate))
			break
		}
		if gatewaysLeft == 0 && len(targets) > 1 {
			if rate != c.Rates[len(c.Rates)-1] {
				rep.Stopped = fmt.Sprintf("every target broke the SLO at %s req/s", num(rate))
			}
			break
		}
	}

	if c.PeakConcurrency > 0 && ctx.Err() == nil {
	peak:
		for round := 0; round < c.PeakRounds; round++ {
			for i := range targets {
				t := targets[(i+round)%len(targets)]
				res, err := load.Run(ctx, t.client, load.Plan{Concurrency: c.PeakConcurrency, Duration: c.PeakRound,
					Warmup: c.PeakRound / 4, SLO: c.SLO})
				if err != nil {
					return nil, err
				}
				t.peakRounds = append(t.peakRounds, res)
				if t.peak == nil {
					t.peak = res.Clone()
				} else {
					t.peak.Merge(res)
				}
				logf("peak round %d/%d %-10s %.0f req/s", round+1, c.PeakRounds, t.info.Name, res.Throughput())
				if !pause() {
					rep.Stopped = "interrupted"
					break peak
				}
			}
		}
	}
	rep.build(targets, ran)
	return rep, nil
}

// startMock runs the mock in this process.
func startMock(spec MockSpec) (string, func() error, error) {
	m := mock.New(mock.Config{Tokens: spec.Tokens, TTFT: spec.TTFT, TokenGap: spec.TokenGap, History: 1})
	if err := m.Listen(spec.Addr); err != nil {
		return "", nil, err
	}
	return m.URL(), m.Close, nil
}

// startFloor runs the floor proxy in this process.
func startFloor(upstream string, idle time.Duration) (string, func() error, error) {
	fp, err := floor.New(floor.Config{Upstream: upstream, IdleConnTimeout: idle})
	if err != nil {
		return "", nil, err
	}
	if err := fp.Listen("127.0.0.1:0"); err != nil {
		return "", nil, err
	}
	return fp.URL(), fp.Close, nil
}
