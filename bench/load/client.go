package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/sse"
)

// OverheadHeader is the response header in which a gateway reports what
// it added, in microseconds; Tollgate sends it.
const OverheadHeader = "X-Tollgate-Overhead-Us"

// maxPromptTokens bounds Request.PromptTokens (4 MiB of prompt).
const maxPromptTokens = 1 << 20

// maxEvent bounds one SSE event of a response.
const maxEvent = 4 << 20

// promptWords are common three-letter English words: about one BPE token
// and four bytes each with the leading space.
var promptWords = [...]string{
	" the", " and", " for", " you", " not", " are", " all", " new", " was", " can",
	" has", " but", " one", " our", " may", " out", " day", " get", " use", " man",
	" own", " way", " see", " how", " now", " two", " its", " who", " did", " yes",
	" set", " put", " end", " why", " let", " big", " old", " try", " ask", " men",
}

// Client sends the requests of one Request shape to one target. It is
// safe for concurrent use; Close releases its idle connections.
type Client struct {
	req  Request
	hc   *fasthttp.HostClient
	uri  string
	auth string
	// head is the body up to the prompt: {"model":…,"messages":[{"role":"user","content":"
	head []byte
	// words holds PromptTokens.Max prompt words.
	words    []byte
	scanners sync.Pool // *sse.Scanner
	bodies   sync.Pool // *[]byte request bodies
}

// NewClient validates r (after filling defaults) and returns a Client.
func NewClient(r Request) (*Client, error) {
	r.EnsureDefaults()
	if err := r.Validate(); err != nil {
		return nil, err
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, fmt.Errorf("load: cannot parse URL %q: %w", r.URL, err)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	idle := r.IdleConnTimeout
	if idle <= 0 {
		idle = DefaultIdleConnTimeout
	}
	c := &Client{
		req: r,
		hc: &fasthttp.HostClient{
			Addr:                addr,
			IsTLS:               u.Scheme == "https",
			Name:                "tollgate-bench",
			MaxConns:            r.MaxConns,
			MaxConnWaitTimeout:  r.Timeout,
			MaxIdleConnDuration: idle,
			StreamResponseBody:  r.Stream,
			// A plain dial: fasthttp's default dialer starts a process-wide
			// DNS cache goroutine that nothing stops.
			Dial: func(a string) (net.Conn, error) { return dialer.Dial("tcp", a) },
			// Retrying would hide failures from the report.
			RetryIfErr:             func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
			DisablePathNormalizing: true,
		},
		uri: strings.TrimSuffix(r.URL, "/") + "/chat/completions",
	}
	if r.Key != "" {
		c.auth = "Bearer " + r.Key
	}
	model, err := json.Marshal(r.Model)
	if err != nil {
		return nil, fmt.Errorf("load: cannot encode model: %w", err)
	}
	c.head = fmt.Appendf(nil, `{"model":%s,"messages":[{"role":"user","content":"`, model)
	n := r.PromptTokens.Max
	c.words = make([]byte, 0, 4*n)
	for i := 0; i < n; i++ {
		c.words = append(c.words, promptWords[(i*7+i/len(promptWords))%len(promptWords)]...)
	}
	return c, nil
}

// DefaultIdleConnTimeout is how long an unused connection stays open.
const DefaultIdleConnTimeout = 90 * time.Second

// Request returns the request shape with defaults filled.
func (c *Client) Request() Request { return c.req }

// Close closes the idle connections. Requests still running finish.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Call is one request to send: its sequence number (in the prompt's
// unique prefix), its start (the intended send time in open loop) and the
// lengths drawn for it.
type Call struct {
	Seq          uint64
	Start        time.Time
	PromptTokens int
	// MaxTokens is sent as max_tokens when > 0.
	MaxTokens int
}

// NewCall draws the lengths of request seq from the Request's ranges.
func (c *Client) NewCall(seq uint64, start time.Time, rng *rand.Rand) Call {
	call := Call{Seq: seq, Start: start, PromptTokens: c.req.PromptTokens.draw(rng)}
	if !c.req.MaxTokens.IsZero() {
		call.MaxTokens = max(c.req.MaxTokens.draw(rng), 1)
	}
	return call
}

// appendBody appends the body of call.
func (c *Client) appendBody(dst []byte, call Call) []byte {
	dst = append(dst, c.head...)
	// A unique prefix: providers cache identical prompt prefixes.
	dst = append(dst, '[')
	dst = strconv.AppendUint(dst, call.Seq, 10)
	dst = append(dst, ']')
	n := min(max(call.PromptTokens, 0), c.req.PromptTokens.Max)
	dst = append(dst, c.words[:4*n]...)
	dst = append(dst, `"}]`...)
	if call.MaxTokens > 0 {
		dst = append(dst, `,"max_tokens":`...)
		dst = strconv.AppendInt(dst, int64(call.MaxTokens), 10)
	}
	if c.req.Stream {
		dst = append(dst, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	return append(dst, '}')
}

// Sample is the measurement of one request. Times are absolute; Start is
// the intended send time in open loop and the actual one in closed loop.
type Sample struct {
	Start time.Time
	// Sent is when the request was handed to the HTTP client.
	Sent time.Time
	// First is when the first content delta arrived (streams; zero if none).
	First time.Time
	End   time.Time
	// Status is the HTTP status, 0 if none was received.
	Status int
	// Err is "" on success, else the error kind (see ErrorKinds).
	Err string
	// Deltas is the number of content deltas (streams).
	Deltas int
	// UsageTokens is usage.completion_tokens, -1 if the response had none.
	UsageTokens int
	// ContentBytes is the number of content bytes received.
	ContentBytes int
	// ServerOverhead is the OverheadHeader value, -1 if absent.
	ServerOverhead time.Duration
	// Gaps are the inter-token gaps of a stream, in order.
	Gaps []time.Duration
	// Hash fingerprints the content deltas in order (see ExpectDeltas).
	Hash uint64

	// capture, when true, keeps the deltas in Contents (Probe).
	capture  bool
	Contents []string
}

func (s *Sample) reset() {
	gaps := s.Gaps[:0]
	*s = Sample{Gaps: gaps, UsageTokens: -1, ServerOverhead: -1, Hash: fnvOffset}
}

// OutputTokens is the output length: usage when reported, else the number
// of deltas (streams) or ceil(content bytes / 4).
func (s *Sample) OutputTokens(stream bool) int {
	switch {
	case s.UsageTokens >= 0:
		return s.UsageTokens
	case stream:
		return s.Deltas
	default:
		return (s.ContentBytes + 3) / 4
	}
}

// ErrorKinds lists the error kinds a Sample can carry besides "http_<status>".
var ErrorKinds = []string{
	"timeout", "connect", "no_free_conns", "connection_closed", "reset", "transport",
	"stream_error", "stream_truncated", "malformed_event", "event_too_large",
	"not_event_stream", "malformed_body", "response_error", "content_mismatch", "canceled",
}

// Do sends call and fills s. The request's deadline is call.Start plus
// the timeout; ctx only interrupts a stream between events.
func (c *Client) Do(ctx context.Context, call Call, s *Sample) {
	capture := s.capture
	s.reset()
	s.capture = capture
	s.Start = call.Start
	start := call.Start

	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	if c.req.Stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	for _, h := range c.req.Headers {
		req.Header.Set(h.Key, h.Value)
	}
	bp := c.getBody()
	*bp = c.appendBody((*bp)[:0], call)
	req.SetBodyRaw(*bp)
	defer c.bodies.Put(bp)

	s.Sent = time.Now()
	err := c.hc.DoDeadline(req, resp, start.Add(c.req.Timeout))
	if err != nil {
		s.End = time.Now()
		s.Err = classify(err)
		return
	}
	s.Status = resp.StatusCode()
	if v := resp.Header.Peek(OverheadHeader); len(v) > 0 {
		if us, err := strconv.ParseInt(string(v), 10, 64); err == nil && us >= 0 {
			s.ServerOverhead = time.Duration(us) * time.Microsecond
		}
	}
	if s.Status < 200 || s.Status > 299 {
		_ = resp.Body() // drain, so the connection can be reused
		s.End = time.Now()
		s.Err = "http_" + strconv.Itoa(s.Status)
		return
	}
	if c.req.Stream {
		c.readStream(ctx, resp, s)
	} else {
		c.readBody(resp, s)
	}
	if s.Err == "" && c.req.Expect != nil && !c.req.Expect.matches(s) {
		s.Err = "content_mismatch"
	}
}

func (c *Client) getBody() *[]byte {
	if b, ok := c.bodies.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, len(c.head)+len(c.words)+128)
	return &b
}

func (c *Client) readBody(resp *fasthttp.Response, s *Sample) {
	body := resp.Body()
	s.End = time.Now()
	if !jsonValid(body) {
		s.Err = "malformed_body"
		return
	}
	js := unsafeString(body)
	if e := jsonGet(js, "error"); e.Exists() && e.Type != jsonNull {
		s.Err = "response_error"
		return
	}
	content := jsonGet(js, "choices.0.message.content").Str
	s.ContentBytes = len(content)
	if content != "" {
		s.Deltas = 1
		s.Hash = hashDelta(s.Hash, content)
		if s.capture {
			s.Contents = append(s.Contents, strings.Clone(content))
		}
	}
	if u := jsonGet(js, "usage.completion_tokens"); u.Type == jsonNumber {
		s.UsageTokens = int(u.Int())
	}
}

func (c *Client) readStream(ctx context.Context, resp *fasthttp.Response, s *Sample) {
	if !bytes.HasPrefix(resp.Header.ContentType(), []byte("text/event-stream")) {
		_ = resp.Body()
		s.End = time.Now()
		s.Err = "not_event_stream"
		return
	}
	r := resp.BodyStream()
	if r == nil {
		r = bytes.NewReader(resp.Body())
	}
	sc, ok := c.scanners.Get().(*sse.Scanner)
	if !ok {
		sc = sse.NewScanner(r, maxEvent)
	} else {
		sc.Reset(r)
	}
	defer func() {
		sc.Reset(nil)
		c.scanners.Put(sc)
	}()

	var last time.Time
	canceled := ctx.Done()
	done := false
	for !done && sc.Next() {
		select {
		case <-canceled:
			s.Err = "canceled"
		default:
		}
		if s.Err != "" {
			break
		}
		data := sc.Event().Data
		if sse.IsDone(data) {
			done = true
			break
		}
		now := time.Now()
		if !jsonValid(data) {
			s.Err = "malformed_event"
			break
		}
		js := unsafeString(data)
		if e := jsonGet(js, "error"); e.Exists() && e.Type != jsonNull {
			s.Err = "stream_error"
			break
		}
		if u := jsonGet(js, "usage.completion_tokens"); u.Type == jsonNumber {
			s.UsageTokens = int(u.Int())
		}
		d := jsonGet(js, "choices.0.delta")
		if !d.Exists() {
			continue
		}
		content := jsonGet(d.Raw, "content").Str
		reasoning := jsonGet(d.Raw, "reasoning").Str
		if reasoning == "" {
			reasoning = jsonGet(d.Raw, "reasoning_content").Str
		}
		tools := ""
		if t := jsonGet(d.Raw, "tool_calls"); t.Exists() && t.Type != jsonNull {
			tools = t.Raw
		}
		if content == "" && reasoning == "" && tools == "" {
			continue
		}
		if s.Deltas == 0 {
			s.First = now
		} else {
			s.Gaps = append(s.Gaps, now.Sub(last))
		}
		last = now
		s.Deltas++
		s.ContentBytes += len(content) + len(reasoning)
		s.Hash = hashDelta(hashDelta(hashDelta(s.Hash, content), reasoning), tools)
		if s.capture {
			s.Contents = append(s.Contents, strings.Clone(content+reasoning+tools))
		}
	}
	s.End = time.Now()
	if s.Err == "" && !done {
		switch err := sc.Err(); {
		case errors.Is(err, sse.ErrEventTooLarge):
			s.Err = "event_too_large"
		case err != nil && !errors.Is(err, errUnexpectedEOF):
			s.Err = classify(err)
		default:
			s.Err = "stream_truncated"
		}
	}
	if s.Err != "" {
		// Closing with an error drops the connection instead of reading
		// the rest of an unwanted stream.
		if rc, ok := resp.BodyStream().(fasthttp.ReadCloserWithError); ok {
			_ = rc.CloseWithError(errors.New(s.Err))
			return
		}
	}
	// Read the end of the chunked body, as SDK clients do, so the
	// connection is reused (sse.Drain).
	sse.Drain(resp.BodyStream(), 64<<10, 100*time.Millisecond)
	_ = resp.CloseBodyStream()
}

// Probe sends one request and returns its content deltas, in order. It is
// how a reference for Expect is taken.
func (c *Client) Probe(ctx context.Context) ([]string, error) {
	s := &Sample{capture: true}
	c.Do(ctx, c.NewCall(0, time.Now(), rand.New(rand.NewPCG(1, 2))), s)
	if s.Err != "" {
		return nil, fmt.Errorf("load: probe of %s failed: %s", c.uri, s.Err)
	}
	return s.Contents, nil
}

// Expect is a reference content sequence: the number of deltas and a
// fingerprint of each delta's bytes in order.
type Expect struct {
	Deltas int
	Hash   uint64
}

// ExpectDeltas returns the Expect of a delta sequence (see Probe). A
// stream matches it only if its deltas are the same strings in the same
// order: a split, merged, altered, lost or reordered event fails.
func ExpectDeltas(deltas []string) *Expect {
	h := uint64(fnvOffset)
	for _, d := range deltas {
		h = hashDelta(h, d)
	}
	return &Expect{Deltas: len(deltas), Hash: h}
}

func (e *Expect) matches(s *Sample) bool {
	return s.Deltas == e.Deltas && s.Hash == e.Hash
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashDelta folds d into h (FNV-1a) followed by a 0xff separator, a byte
// that never occurs in UTF-8, so ["ab","c"] and ["a","bc"] differ.
func hashDelta(h uint64, d string) uint64 {
	if d == "" {
		return h
	}
	for i := 0; i < len(d); i++ {
		h = (h ^ uint64(d[i])) * fnvPrime
	}
	return (h ^ 0xff) * fnvPrime
}

// classify turns a client error into an error kind.
func classify(err error) string {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no_free_conns"
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "connection_closed"
	case errors.As(err, &oe) && oe.Op == "dial":
		return "connect"
	case isReset(err):
		return "reset"
	}
	return "transport"
}
