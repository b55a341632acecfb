package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"

	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
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
	// No ImmediateHeaderFlush: writeStream's first write, a keep-alive
	// comment, goes at once and carries the headers in the same packet.
	st.conn = ctx.Conn()
	st.stream = st.up.Adapter.NewStream(&st.call)
	a.m.route(st.route, fasthttp.StatusOK)
	a.m.streams.Inc()
	st.sbody = streamBody{st: st}
	ctx.Response.SetBodyStream(&st.sbody, -1)
}

// streamBody is a stream's response body. fasthttp writes a body of
// unknown length through WriteTo, on the connection's own goroutine, with
// a writer that sends each Write as one HTTP chunk and flushes it. So a
// stream costs no pipe and no second goroutine, as SetBodyStreamWriter
// would (a goroutine switch per event, ~16 KiB per stream). fasthttp
// calls Close after WriteTo, or instead of it when the headers could not
// be sent; Close releases the request state.
type streamBody struct {
	st      *reqState
	started bool // WriteTo ran
	broken  bool // the writer panicked: the state is not reused
}

var errStreamRead = errors.New("api: a stream body is written with WriteTo, not read")

func (b *streamBody) SupportsBodyWriteTo() bool { return true }

func (b *streamBody) WriteTo(w io.Writer) (int64, error) {
	b.started = true
	b.st.writeStream(w)
	return 0, nil
}

// Read is not called: fasthttp prefers WriteTo (SupportsBodyWriteTo).
func (b *streamBody) Read([]byte) (int, error) { return 0, errStreamRead }

func (b *streamBody) Close() error {
	st := b.st
	if !b.started {
		// The headers never reached the client: settle the attempt as
		// abandoned and close the upstream.
		b.started = true
		st.gone.Store(true)
		st.writeStream(goneWriter{})
	}
	st.a.inflight.Add(-1)
	if !b.broken {
		st.a.putState(st)
	}
	return nil
}

// goneWriter is the client of a stream whose headers could not be sent.
type goneWriter struct{}

func (goneWriter) Write([]byte) (int, error) { return 0, errClientGone }

// streamWriteTimeout bounds one write to a stream's client (held under
// st.mu): a client that stops reading is treated as gone after it, instead
// of pinning the upstream, the reservation and the watcher.
const streamWriteTimeout = 30 * time.Second

// keepAliveWriteTimeout bounds the watcher's keep-alive writes.
const keepAliveWriteTimeout = 2 * time.Second

// sendLocked writes b to the client with a write deadline; st.mu is held.
// A failed or timed-out write marks the client gone.
//
// The deadline is moved only when less than half of timeout is left (or a
// shorter one is asked for), not on every event: each move is a runtime
// timer update.
func (st *reqState) sendLocked(w io.Writer, b []byte, timeout time.Duration) {
	now := time.Now()
	if want := now.Add(timeout); st.conn != nil && (st.writeDeadline.Sub(now) < timeout/2 || want.Before(st.writeDeadline)) {
		_ = st.conn.SetWriteDeadline(want)
		st.writeDeadline = want
	}
	st.lastWrite = now
	if err := send(w, b); err != nil {
		st.gone.Store(true)
	}
}

// flushPending writes the frames writeStream batched; the scanner calls it
// before each read of the upstream.
func (st *reqState) flushPending() {
	if len(st.pend) == 0 {
		return
	}
	st.mu.Lock()
	if !st.gone.Load() && !st.done && st.w != nil {
		st.sendLocked(st.w, st.pend, streamWriteTimeout)
		if st.gone.Load() {
			// The client is gone and the scanner is about to read: make
			// that read return now instead of after the upstream's next
			// event (the watcher skips clients already marked gone).
			st.abortUpstream(errClientGone)
		}
	}
	st.mu.Unlock()
	st.pend = st.pend[:0]
}

// send writes b to the client as one chunk: the stream's writer flushes
// each Write itself; a buffered writer (tests) is flushed here.
func send(w io.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return err
	}
	if f, ok := w.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// writeStream relays the upstream stream to the client. It runs after the
// handler returned, on the connection's goroutine (streamBody.WriteTo);
// streamBody.Close releases st afterwards.
func (st *reqState) writeStream(w io.Writer) {
	a := st.a
	defer func() {
		if r := recover(); r != nil {
			// A bug: end this stream, keep the node. The state is not
			// reused since it may be inconsistent.
			a.log.Error("BUG: stream writer panic", "gen", st.genID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			a.watch.remove(st)
			st.sbody.broken = true
			// Best effort: free the upstream connection, the router's
			// in-flight count and the reservation.
			bestEffort(func() { _ = st.resp.CloseBodyStream() })
			bestEffort(func() { a.o.Router.End(st.att, routing.Outcome{Err: routing.ErrStreamBroken}) })
			bestEffort(func() { a.o.Ledger.Release(st.resv) })
			bestEffort(func() { _ = st.conn.SetWriteDeadline(time.Time{}) })
		}
	}()
	sentAt := st.start.Add(st.upstream) // upstream headers arrived here
	st.mu.Lock()
	st.w = w
	st.sendLocked(w, keepAliveFrame, streamWriteTimeout)
	st.mu.Unlock()
	a.watch.add(st)

	sc := st.scanner
	sc.Reset(st.resp.BodyStream())
	var (
		ttft      time.Duration
		failure   *provider.Failure
		vendorMsg bool // failure's message is the provider's own text
	)
	// Frames go to st.pend, written when the scanner is about to read the
	// upstream again (flushPending) or the stream ends: the events of one
	// upstream read leave in one write, and no frame waits for a read.
	for !st.gone.Load() && sc.Next() {
		before := len(st.pend)
		out, err := st.stream.Event(st.pend, sc.Event())
		if err != nil {
			st.pend = st.pend[:before]
			failure = asFailure(err)
			break
		}
		st.pend = out
		if frames := out[before:]; len(frames) > 0 {
			if ttft == 0 {
				ttft = time.Since(sentAt)
			}
			if st.tel != nil {
				st.tel.CaptureFrames(frames)
			}
			if st.edge != edgeOpenAI {
				st.pend = append(st.pend[:before], st.convertFrames(frames)...)
			}
		}
		res := st.stream.Result()
		if res.Err != nil {
			failure, vendorMsg = res.Err, true
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
		st.pend = append(st.pend, st.convertFrames(out)...)
		st.sendLocked(w, st.pend, streamWriteTimeout)
	}
	st.pend = st.pend[:0]
	gone = st.gone.Load()
	// The connection serves the next request after this one: no deadline
	// of ours may outlive the stream.
	if st.conn != nil {
		_ = st.conn.SetWriteDeadline(time.Time{})
		st.writeDeadline = time.Time{}
	}
	// Removed under st.mu: a watcher holding st.mu that finds st in its
	// set knows st is live (not released to the pool and reused).
	a.watch.remove(st)
	st.mu.Unlock()
	if failure == nil && !gone {
		sse.Drain(st.resp.BodyStream(), drainLimit, drainWait)
	}
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
	if st.tel != nil {
		st.traceEnd(fasthttp.StatusOK)
	}
	if failure != nil || gone {
		msg := "client went away"
		switch {
		case vendorMsg:
			// A provider's own error text may quote the prompt: never logged.
			msg = "provider error in the stream"
		case failure != nil:
			msg = failure.Message
		}
		a.log.Warn("stream ended early", "gen", st.genID, "provider", st.up.Name, "model", st.ep.Model, "reason", msg)
	}
}

// bestEffort runs f, ignoring a panic: cleanup after a bug.
func bestEffort(f func()) {
	defer func() { _ = recover() }()
	f()
}

func asFailure(err error) *provider.Failure {
	var f *provider.Failure
	if errors.As(err, &f) {
		return f
	}
	return &provider.Failure{Message: err.Error()}
}

// drainLimit and drainWait bound what a finished stream's upstream may
// still send, and how long it may take, before the connection is dropped
// instead of pooled (sse.Drain).
const (
	drainLimit = 64 << 10
	drainWait  = 50 * time.Millisecond
)

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
	streams map[*reqState]net.Conn // the client connection of each stream

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
	w := &watcher{keepAlive: keepAlive, tick: tick, streams: map[*reqState]net.Conn{}, stopCh: make(chan struct{})}
	w.wg.Add(1)
	go w.loop()
	return w
}

// add registers a stream; st.conn must be set.
func (w *watcher) add(st *reqState) {
	w.mu.Lock()
	w.streams[st] = st.conn
	w.mu.Unlock()
}

// has reports whether st is a running stream.
func (w *watcher) has(st *reqState) bool {
	w.mu.Lock()
	_, ok := w.streams[st]
	w.mu.Unlock()
	return ok
}

// connOf is the client connection of a running stream (nil if it ended).
func (w *watcher) connOf(st *reqState) net.Conn {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.streams[st]
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
	if !w.has(st) || st.done || st.gone.Load() {
		return // ended (and maybe reused) since the snapshot
	}
	if st.conn != nil && peerClosed(st.conn) {
		st.gone.Store(true)
		st.abortUpstream(errClientGone)
		return
	}
	if now.Sub(st.lastWrite) >= w.keepAlive {
		// A short deadline: this goroutine serves every stream, and a
		// client that cannot take 14 bytes in that time is not reading.
		if st.sendLocked(st.w, keepAliveFrame, keepAliveWriteTimeout); st.gone.Load() {
			st.abortUpstream(errClientGone)
		}
	}
}

// abortAll ends every stream (shutdown): the writer sees its upstream read
// fail and sends the client a terminal error chunk.
func (w *watcher) abortAll() {
	for _, st := range w.snapshot(nil) {
		if !st.mu.TryLock() {
			// The writer holds st.mu, maybe blocked on a client that does
			// not read: expire its write (the conn was recorded by add).
			if c := w.connOf(st); c != nil {
				_ = c.SetWriteDeadline(time.Now())
			}
			st.mu.Lock()
		}
		if w.has(st) && !st.done {
			st.aborted = true
			st.abortUpstream(errAborted)
		}
		st.mu.Unlock()
	}
}
