package mock

import (
	"bufio"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// dialect is what the shared machinery needs from a wire protocol: how to
// check a key, how to shape an error, and how to break a stream in that
// protocol's words. Each protocol lives in its own file.
type dialect interface {
	// authorized reports whether the request carries key the way this
	// protocol's clients send it.
	authorized(ctx *fasthttp.RequestCtx, key string) bool
	// appendError appends the JSON error body for e.
	appendError(dst []byte, e apiError) []byte
	// appendStreamError appends an in-band error event (whole SSE event).
	appendStreamError(dst []byte) []byte
	// appendMalformed appends an SSE event whose data is not valid JSON.
	appendMalformed(dst []byte) []byte
}

// apiError is an error answer before any byte was written.
type apiError struct {
	status int
	// code is the OpenAI-style machine code ("invalid_api_key",
	// "rate_limit_exceeded", ...); "" picks the status's default.
	code  string
	param string
	msg   string
}

type waitResult int

const (
	waitOK waitResult = iota
	waitGone
	waitClosing
)

// pollEvery is how often a waiting request checks that its client is
// still connected.
const pollEvery = 100 * time.Millisecond

// waiter sleeps on behalf of one request while watching its connection and
// the server's shutdown.
type waiter struct {
	s        *Server
	conn     net.Conn
	timer    *time.Timer
	lastPoll time.Time
}

// wait sleeps d. When every > 0, beat runs every `every` during the sleep
// and a false from it ends the wait as waitGone (its write failed).
func (w *waiter) wait(d, every time.Duration, beat func() bool) waitResult {
	if d <= 0 {
		return w.check()
	}
	now := time.Now()
	end := now.Add(d)
	var nextBeat time.Time
	if every > 0 && beat != nil {
		nextBeat = now.Add(every)
	}
	if w.lastPoll.IsZero() {
		w.lastPoll = now
	}
	for {
		left := end.Sub(now)
		if left <= 0 {
			return waitOK
		}
		step := min(left, pollEvery)
		if !nextBeat.IsZero() {
			step = min(step, max(nextBeat.Sub(now), 0))
		}
		if w.timer == nil {
			w.timer = time.NewTimer(step)
		} else {
			w.timer.Reset(step)
		}
		select {
		case <-w.timer.C:
		case <-w.s.done:
			w.timer.Stop()
			return waitClosing
		}
		now = time.Now()
		if now.Sub(w.lastPoll) >= pollEvery {
			w.lastPoll = now
			if clientGone(w.conn) {
				return waitGone
			}
		}
		if !nextBeat.IsZero() && !now.Before(nextBeat) && end.Sub(now) > 0 {
			if !beat() {
				return waitGone
			}
			nextBeat = now.Add(every)
		}
	}
}

// check is the zero-length wait: shutdown and, at most every pollEvery, the
// connection.
func (w *waiter) check() waitResult {
	select {
	case <-w.s.done:
		return waitClosing
	default:
	}
	now := time.Now()
	if w.lastPoll.IsZero() {
		w.lastPoll = now
		return waitOK
	}
	if now.Sub(w.lastPoll) >= pollEvery {
		w.lastPoll = now
		if clientGone(w.conn) {
			return waitGone
		}
	}
	return waitOK
}

type streamEnd int

const (
	endRunning streamEnd = iota
	endCompleted
	endAborted
	endTruncated
)

// stream is one streamed response in flight: it writes events, paces them,
// injects the faults of its plan and keeps the stream's accounting. A
// dialect's generator drives it: send events, pause between them, and call
// complete after the last.
type stream struct {
	s    *Server
	p    plan
	d    dialect
	w    *bufio.Writer
	conn net.Conn // the raw client connection: liveness and resets
	wait waiter

	buf    []byte // scratch for building events
	events int
	end    streamEnd
}

var keepAliveComment = []byte(": PROCESSING\n\n")

// send writes one event, flushes it, then applies whatever fault is due
// after it. false means the stream is over and the generator must stop.
func (st *stream) send(ev []byte) bool {
	if st.end != endRunning || !st.write(ev) {
		return false
	}
	return st.afterEvent()
}

// sendUsage is send for an event that carries u: u counts as reported
// once the event is flushed, even if a fault then ends the stream.
func (st *stream) sendUsage(ev []byte, u usage) bool {
	if st.end != endRunning || !st.write(ev) {
		return false
	}
	st.s.c.reported(u)
	return st.afterEvent()
}

// afterEvent counts the event just written and injects the faults due
// after it, in this order: malformed line, in-band error, stall, reset.
func (st *stream) afterEvent() bool {
	st.events++
	n, p := st.events, &st.p
	if n == p.malformedAfter {
		st.buf = st.d.appendMalformed(st.buf[:0])
		if !st.write(st.buf) {
			return false
		}
	}
	if n == p.errorAfter {
		st.buf = st.d.appendStreamError(st.buf[:0])
		if st.write(st.buf) {
			st.end = endTruncated
		}
		return false
	}
	if n == p.stallAfter {
		// A stall is silence: no keep-alive comments.
		if !st.pause(p.stallFor, false) {
			return false
		}
		if p.stallClose {
			st.end = endTruncated
			return false
		}
	}
	if n == p.resetAfter {
		st.s.c.resets.Add(1)
		resetConn(st.conn)
		st.end = endAborted
		return false
	}
	return true
}

func (st *stream) write(b []byte) bool {
	if _, err := st.w.Write(b); err != nil {
		st.end = endAborted
		return false
	}
	if err := st.w.Flush(); err != nil {
		st.end = endAborted
		return false
	}
	return true
}

// pause waits d, sending keep-alive comments if asked and configured; it
// is also where a departed client or a closing server is noticed.
func (st *stream) pause(d time.Duration, keepAlive bool) bool {
	if st.end != endRunning {
		return false
	}
	every := time.Duration(0)
	if keepAlive {
		every = st.p.keepAlive
	}
	switch st.wait.wait(d, every, func() bool { return st.write(keepAliveComment) }) {
	case waitOK:
		return true
	default:
		st.end = endAborted
		return false
	}
}

// served counts n completion tokens as written.
func (st *stream) served(n int) {
	st.s.c.completionTokens.Add(uint64(n))
}

// complete marks the stream as ended normally (after its last event).
func (st *stream) complete() {
	if st.end == endRunning {
		st.end = endCompleted
	}
}

// startStream answers ctx with an event stream produced by gen, which runs
// after the handler returns: everything gen needs must be copied out of
// ctx first. It reports whether the stream took over the request's
// in-flight count.
func (s *Server) startStream(ctx *fasthttp.RequestCtx, d dialect, p *plan, gen func(st *stream)) bool {
	st := &stream{s: s, p: *p, d: d, conn: ctx.Conn(), buf: make([]byte, 0, 512)}
	st.wait = waiter{s: s, conn: st.conn}
	finish := func() {
		switch st.end {
		case endCompleted:
			s.c.streamsCompleted.Add(1)
		case endTruncated:
			s.c.streamsTruncated.Add(1)
		default:
			s.c.streamsAborted.Add(1)
		}
		s.c.inFlight.Add(-1)
	}
	if p.resetAfter > 0 {
		// A reset must land exactly after the events before it, which the
		// body-stream pipe cannot promise (it buffers between the writer
		// and the socket), so this stream writes its own HTTP response on
		// the raw connection.
		s.c.status(200)
		s.c.streamsStarted.Add(1)
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(net.Conn) {
			if !s.own() {
				resetConn(st.conn)
				st.end = endAborted
				finish()
				return
			}
			defer s.wg.Done()
			defer finish()
			if _, err := st.conn.Write(hijackedHeaders); err != nil {
				st.end = endAborted
			}
			st.w = bufio.NewWriterSize(&chunkedWriter{c: st.conn}, 4096)
			gen(st)
			if st.end == endCompleted || st.end == endTruncated {
				_, _ = st.conn.Write(lastChunk)
			}
		})
		return true
	}
	// The body-stream writer goroutine starts as soon as it is set, so
	// owning it here cannot leak.
	if !s.own() {
		s.fail(ctx, d, apiError{status: 503, msg: "The mock is shutting down."})
		return false
	}
	s.c.status(200)
	s.c.streamsStarted.Add(1)
	setStreamHeaders(&ctx.Response)
	ctx.Response.ImmediateHeaderFlush = true
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.wg.Done()
		defer finish()
		st.w = w
		gen(st)
	})
	return true
}

func setStreamHeaders(r *fasthttp.Response) {
	r.SetStatusCode(200)
	r.Header.SetContentType("text/event-stream; charset=utf-8")
	r.Header.Set("Cache-Control", "no-cache")
	r.Header.Set("X-Accel-Buffering", "no")
}

var (
	hijackedHeaders = []byte("HTTP/1.1 200 OK\r\nServer: tollgate-mock\r\n" +
		"Content-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n" +
		"X-Accel-Buffering: no\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

// chunkedWriter frames every write as one HTTP/1.1 chunk, so each flushed
// event is one chunk on the wire.
type chunkedWriter struct {
	c   net.Conn
	hdr []byte
}

func (cw *chunkedWriter) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	cw.hdr = appendHex(cw.hdr[:0], len(b))
	cw.hdr = append(cw.hdr, '\r', '\n')
	bufs := net.Buffers{cw.hdr, b, crlf}
	if _, err := bufs.WriteTo(cw.c); err != nil {
		return 0, err
	}
	return len(b), nil
}

var crlf = []byte("\r\n")

func appendHex(dst []byte, n int) []byte {
	const hex = "0123456789abcdef"
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = hex[n&0xf]
		n >>= 4
		if n == 0 {
			break
		}
	}
	return append(dst, tmp[i:]...)
}
