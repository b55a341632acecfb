package load

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Run sends the load p describes through c and returns what it measured.
// When ctx is canceled the run stops sending, lets the requests in flight
// end (streams end at their next event) and returns what it has, with
// Interrupted set.
func Run(ctx context.Context, c *Client, p Plan) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	seed := p.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	rec := newRecorder(2*runtime.GOMAXPROCS(0), c.req.Stream, c.req.Expect != nil, p.SLO, p.OnDone)
	var res *Result
	if p.Rate > 0 {
		res = runOpen(ctx, c, p, seed, rec)
	} else {
		res = runClosed(ctx, c, p, seed, rec)
	}
	res.Interrupted = ctx.Err() != nil
	return res, nil
}

func runOpen(ctx context.Context, c *Client, p Plan, seed uint64, rec *recorder) *Result {
	maxIn := p.MaxInFlight
	if maxIn == 0 {
		maxIn = min(c.req.MaxConns, DefaultMaxInFlight)
	}
	start := time.Now().Add(time.Millisecond)
	from := start.Add(p.Warmup)
	var until time.Time
	if p.Duration > 0 {
		until = from.Add(p.Duration)
	}
	mean := 1 / p.Rate // seconds
	// Requests run on an elastic pool of workers: a call goes to an idle
	// worker if one waits, else to a new one, up to maxIn; at maxIn the
	// dispatcher waits (and the wait counts as latency). Reusing workers
	// saves a goroutine start and its stack growth per request.
	work := make(chan Call)
	var wg sync.WaitGroup
	worker := func(call Call) {
		defer wg.Done()
		s := &Sample{}
		for {
			c.Do(ctx, call, s)
			if !call.Start.Before(from) {
				rec.record(int(call.Seq), s, true)
			}
			var ok bool
			if call, ok = <-work; !ok {
				return
			}
		}
	}
	dispatched := make(chan struct{})
	// The dispatcher owns a locked thread (see newPacer) and ends with the
	// schedule; Run waits for it and for every worker it started.
	go func() {
		defer close(dispatched)
		defer close(work)
		pc := newPacer(ctx.Done())
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		offset := 0.0 // seconds from start
		measured, workers := 0, 0
		for seq := uint64(0); ; seq++ {
			t := start.Add(time.Duration(offset * 1e9))
			inMeasure := !t.Before(from)
			if (!until.IsZero() && !t.Before(until)) || (inMeasure && p.Requests > 0 && measured >= p.Requests) {
				return
			}
			if !pc.sleepUntil(t) {
				return
			}
			call := c.NewCall(seq, t, rng)
			select {
			case work <- call:
			default:
				if workers < maxIn {
					workers++
					wg.Add(1)
					go worker(call)
					break
				}
				select {
				case work <- call:
				case <-ctx.Done():
					return
				}
			}
			if inMeasure {
				measured++
			}
			if p.Arrival == Constant {
				offset += mean
			} else {
				offset += rng.ExpFloat64() * mean
			}
		}
	}()
	<-dispatched
	wg.Wait()
	return rec.result(from)
}

func runClosed(ctx context.Context, c *Client, p Plan, seed uint64, rec *recorder) *Result {
	start := time.Now()
	from := start.Add(p.Warmup)
	var until time.Time
	if p.Duration > 0 {
		until = from.Add(p.Duration)
	}
	var claimed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < p.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			s := &Sample{}
			for seq := uint64(w); ; seq += uint64(p.Concurrency) {
				if ctx.Err() != nil {
					return
				}
				now := time.Now()
				if !until.IsZero() && !now.Before(until) {
					return
				}
				measured := !now.Before(from)
				if measured && p.Requests > 0 && claimed.Add(1) > int64(p.Requests) {
					return
				}
				c.Do(ctx, c.NewCall(seq, now, rng), s)
				if measured {
					rec.record(w, s, false)
				}
			}
		}()
	}
	wg.Wait()
	return rec.result(from)
}
