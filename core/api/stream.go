package api

import (
	"bufio"
	"errors"
	"fmt"
	"runtime/debug"

	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/upstream"
	"github.com/tollgate/tollgate/routing"
)

var keepAliveFrame = []byte(": PROCESSING\n\n")

var (
	errClientGone = errors.New("client went away")
	errAborted    = errors.New("gateway shutting down")
)

// startStream commits the response: headers now, body from the stream
// writer, which owns st from here on.
func (a *API) startStream(ctx *fasthttp.RequestCtx, st *reqState, cand routing.Candidate) {
	h := &ctx.Response.Header
	h.SetContentType("text/event-stream")
	h.Set(fasthttp.HeaderCacheControl, "no-cache")
	h.Set("X-Accel-Buffering", "no")
	st.setHeaders(ctx, cand)
	if a.o.OverheadHeader {
		st.setOverhead(ctx)
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.Response.ImmediateHeaderFlush = true
	st.conn = ctx.Conn()
	st.stream = st.up.Adapter.NewStream(&st.call)
	a.m.route(st.route, fasthttp.StatusOK)
	a.m.streams.Inc()
	ctx.SetBodyStreamWriter(st.writeFn)
}

// writeStream relays the upstream stream to the client. It runs after the
// handler returned, on the connection's goroutine.
func (st *reqState) writeStream(w *bufio.Writer) {
	a := st.a
	defer func() {
		if r := recover(); r != nil {
			// A bug: end this stream, keep the node. The state is not
			// reused since it may be inconsistent.
			a.log.Error("BUG: stream writer panic", "gen", st.genID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			a.watch.remove(st)
			a.inflight.Add(-1)
			return
		}
		a.inflight.Add(-1)
		a.putState(st)
	}()
	sentAt := st.start.Add(st.upstream) // upstream headers arrived here
	st.mu.Lock()
	st.w = w
	st.lastWrite = time.Now()
	_, err := w.Write(keepAliveFrame)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		st.gone.Store(true)
	}
	st.mu.Unlock()
	a.watch.add(st)

	sc := st.scanner
	sc.Reset(st.resp.BodyStream())
	var (
		ttft    time.Duration
		failure *provider.Failure
	)
	for !st.gone.Load() && sc.Next() {
		out, err := st.stream.Event(st.out[:0], sc.Event())
		st.out = out
		if err != nil {
			failure = asFailure(err)
			break
		}
		if len(out) > 0 {
			if ttft == 0 {
				ttft = time.Since(sentAt)
			}
			out = st.convertFrames(out)
			st.mu.Lock()
			if !st.gone.Load() {
				_, werr := w.Write(out)
				if werr == nil {
					werr = w.Flush()
				}
				st.lastWrite = time.Now()
				if werr != nil {
					st.gone.Store(true)
				}
			}
			st.mu.Unlock()
		}
		res := st.stream.Result()
		if res.Err != nil {
			failure = res.Err
			break
		}
		if res.Done {
			break
		}
	}
	res := st.stream.Result()
	st.mu.Lock()
	gone, aborted := st.gone.Load(), st.aborted
	st.mu.Unlock()
	if failure == nil && !gone && !res.Done {
		switch err := sc.Err(); {
		case aborted:
			failure = &provider.Failure{Status: fasthttp.StatusServiceUnavailable, Message: errAborted.Error()}
		case err != nil:
			failure = &provider.Failure{Message: "upstream stream broken: " + upstream.Classify(err).Error()}
		case res.Finish != "":
			// Ended after a finish reason without [DONE]: some vendors do.
			res.Done = true
		default:
			failure = &provider.Failure{Message: "upstream closed the stream before it finished"}
		}
	}
	latency := time.Since(sentAt) + st.upstream
	if !res.HaveUsage {
		res.Usage.PromptTokens = provider.EstimateTokens(len(st.chat.Messages) + len(st.chat.Prompt))
		res.Usage.CompletionTokens = provider.EstimateTokens(res.OutputBytes)
	}
	cost := st.ep.Pricing.Cost(res.Usage)

	// Final frames: the usage chunk and [DONE], or a terminal error chunk.
	st.mu.Lock()
	st.done = true
	if !st.gone.Load() {
		out := st.out[:0]
		if failure != nil {
			code := failure.Status
			if code == 0 || code < 400 {
				code = fasthttp.StatusBadGateway
			}
			if res.Started {
				out = provider.AppendErrorChunk(out, &st.call, code, failure.Message)
			} else {
				out = provider.StartErrorStream(out, &st.call, code, failure.Message)
			}
			out = append(out, "data: [DONE]\n\n"...)
		} else {
			out = provider.FinishStream(out, &st.call, &res.Usage, cost)
		}
		st.out = out
		out = st.convertFrames(out)
		if _, err := w.Write(out); err == nil {
			_ = w.Flush()
		}
	}
	gone = st.gone.Load()
	st.mu.Unlock()
	a.watch.remove(st)
	_ = st.resp.CloseBodyStream()

	o := routing.Outcome{TTFT: ttft, Latency: latency, OutputTokens: res.Usage.CompletionTokens}
	switch {
	case gone:
		o.Err = routing.ErrCanceled
		a.m.aborted.Inc()
	case failure != nil:
		o.Err = routing.ErrStreamBroken
	}
	a.o.Router.End(st.att, o)
	a.m.observeAttempt(st.ep, failure == nil, ttft, latency, &res.Usage, cost)
	if failure != nil {
		res.Finish = "error"
	}
	var sinceStart time.Duration
	if ttft > 0 {
		sinceStart = sentAt.Add(ttft).Sub(st.start)
	}
	st.settle(fasthttp.StatusOK, res, gone, sinceStart)
	if failure != nil || gone {
		msg := "client went away"
		if failure != nil {
			msg = failure.Message
		}
		a.log.Warn("stream ended early", "gen", st.genID, "provider", st.up.Name, "model", st.ep.Model, "reason", msg)
	}
}

func asFailure(err error) *provider.Failure {
	var f *provider.Failure
	if errors.As(err, &f) {
		return f
	}
	return &provider.Failure{Message: err.Error()}
}

// abortUpstream interrupts a blocked upstream read; fasthttp's streamed
// body supports CloseWithError from another goroutine. Call with st.mu held.
func (st *reqState) abortUpstream(err error) {
	if st.resp == nil {
		return
	}
	if rc, ok := st.resp.BodyStream().(fasthttp.ReadCloserWithError); ok {
		_ = rc.CloseWithError(err)
	}
}

// watcher serves every running stream from one goroutine: it sends
// ": PROCESSING" comments while a stream is silent, and notices clients
// that went away (fasthttp reports no per-request cancellation) by peeking
// at their sockets, then closes the upstream so an abandoned stream stops
// costing money within a tick.
type watcher struct {
	keepAlive time.Duration
	tick      time.Duration

	mu      sync.Mutex
	streams map[*reqState]struct{}

	list []*reqState // loop's scratch

	stopOnce sync.Once
	stopCh   chan struct{}
	wg       sync.WaitGroup
}

func newWatcher(keepAlive time.Duration) *watcher {
	tick := 250 * time.Millisecond
	if keepAlive/2 < tick {
		tick = keepAlive / 2
	}
	w := &watcher{keepAlive: keepAlive, tick: tick, streams: map[*reqState]struct{}{}, stopCh: make(chan struct{})}
	w.wg.Add(1)
	go w.loop()
	return w
}

func (w *watcher) add(st *reqState) {
	w.mu.Lock()
	w.streams[st] = struct{}{}
	w.mu.Unlock()
}

func (w *watcher) remove(st *reqState) {
	w.mu.Lock()
	delete(w.streams, st)
	w.mu.Unlock()
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.streams)
}

func (w *watcher) stop() {
	w.stopOnce.Do(func() { close(w.stopCh) })
	w.wg.Wait()
}

// snapshot appends the running streams to dst.
func (w *watcher) snapshot(dst []*reqState) []*reqState {
	w.mu.Lock()
	for st := range w.streams {
		dst = append(dst, st)
	}
	w.mu.Unlock()
	return dst
}

func (w *watcher) loop() {
	defer w.wg.Done()
	t := time.NewTicker(w.tick)
	defer t.Stop()
	for {
		select {
		case <-w.stopCh:
			return
		case now := <-t.C:
			w.list = w.snapshot(w.list[:0])
			for _, st := range w.list {
				w.check(st, now)
			}
		}
	}
}

func (w *watcher) check(st *reqState, now time.Time) {
	if !st.mu.TryLock() {
		return // the writer is busy writing: the stream is not silent
	}
	defer st.mu.Unlock()
	if st.done || st.gone.Load() {
		return
	}
	if st.conn != nil && peerClosed(st.conn) {
		st.gone.Store(true)
		st.abortUpstream(errClientGone)
		return
	}
	if now.Sub(st.lastWrite) >= w.keepAlive {
		_, err := st.w.Write(keepAliveFrame)
		if err == nil {
			err = st.w.Flush()
		}
		st.lastWrite = now
		if err != nil {
			st.gone.Store(true)
			st.abortUpstream(errClientGone)
		}
	}
}

// abortAll ends every stream (shutdown): the writer sees its upstream read
// fail and sends the client a terminal error chunk.
func (w *watcher) abortAll() {
	for _, st := range w.snapshot(nil) {
		st.mu.Lock()
		if !st.done {
			st.aborted = true
			st.abortUpstream(errAborted)
		}
		st.mu.Unlock()
	}
}
