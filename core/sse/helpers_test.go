package sse

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// view is a comparable rendering of an Event.
type view struct {
	name, data, id  string
	retry, comments int
}

func viewOf(ev *Event) view {
	return view{
		name:     string(ev.Name),
		data:     string(ev.Data),
		id:       string(ev.ID),
		retry:    ev.Retry,
		comments: ev.Comments,
	}
}

// String renders v compactly: the quoted data, then only the fields that
// differ from their defaults, e.g. `"a" name="x" retry=5`.
func (v view) String() string {
	var b strings.Builder
	b.WriteString(strconv.Quote(v.data))
	if v.name != "" {
		fmt.Fprintf(&b, " name=%q", v.name)
	}
	if v.id != "" {
		fmt.Fprintf(&b, " id=%q", v.id)
	}
	if v.retry != -1 {
		fmt.Fprintf(&b, " retry=%d", v.retry)
	}
	if v.comments != 0 {
		fmt.Fprintf(&b, " comments=%d", v.comments)
	}
	return b.String()
}

// scanAll resets s onto r and returns every event it yields, rendered.
func scanAll(s *Scanner, r io.Reader) ([]string, error) {
	s.Reset(r)
	var got []string
	for s.Next() {
		got = append(got, viewOf(s.Event()).String())
	}
	if s.Next() {
		return got, fmt.Errorf("Next returned true after returning false")
	}
	return got, s.Err()
}

// namedReader is one way of delivering a stream to the scanner.
type namedReader struct {
	name string
	r    io.Reader
}

// readersFor returns in delivered whole, one byte at a time, with data and
// EOF together, in halves, and split in two at every byte position.
func readersFor(in string) []namedReader {
	rs := []namedReader{
		{"whole", strings.NewReader(in)},
		{"one-byte", iotest.OneByteReader(strings.NewReader(in))},
		{"data-err", iotest.DataErrReader(strings.NewReader(in))},
		{"data-err-one-byte", iotest.DataErrReader(iotest.OneByteReader(strings.NewReader(in)))},
		{"half", iotest.HalfReader(strings.NewReader(in))},
		{"chunks", &chunkReader{data: []byte(in), seed: uint32(len(in))}},
	}
	for k := 1; k < len(in); k++ {
		rs = append(rs, namedReader{
			name: fmt.Sprintf("split@%d", k),
			r:    io.MultiReader(strings.NewReader(in[:k]), strings.NewReader(in[k:])),
		})
	}
	return rs
}

// chunkReader returns data in pseudo-random chunks of 1 to 8 bytes.
type chunkReader struct {
	data []byte
	seed uint32
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	c.seed = c.seed*1664525 + 1013904223
	n := min(int(c.seed>>29)+1, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// checkScan scans in through every reader from readersFor and checks the
// events and the final error, and that the reference parser agrees.
func checkScan(t *testing.T, in string, maxEvent int, wantErr error, want []string) {
	t.Helper()
	refGot, refErr := refParse([]byte(in), normMax(maxEvent))
	if !equalStrings(refGot, want) || refErr != wantErr {
		t.Fatalf("reference parser disagrees on %q\ngot  %q, %v\nwant %q, %v", in, refGot, refErr, want, wantErr)
	}
	s := NewScanner(nil, maxEvent)
	for _, nr := range readersFor(in) {
		got, err := scanAll(s, nr.r)
		if !equalStrings(got, want) {
			t.Fatalf("%s: unexpected events for %q\ngot  %q\nwant %q", nr.name, in, got, want)
		}
		if !errorsMatch(err, wantErr) {
			t.Fatalf("%s: unexpected error for %q: got %v, want %v", nr.name, in, err, wantErr)
		}
	}
}

func normMax(maxEvent int) int {
	if maxEvent <= 0 {
		return DefaultMaxEvent
	}
	return maxEvent
}

func errorsMatch(got, want error) bool {
	if want == nil {
		return got == nil
	}
	return got == want
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// openAIChunk returns a typical chat.completion.chunk payload of about 230
// bytes.
func openAIChunk(i int) []byte {
	return fmt.Appendf(nil, `{"id":"chatcmpl-9xKq3ZbF7mR2vN8pL4tW6yH1sJ0aE","object":"chat.completion.chunk","created":1731456000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"content":" tok%05d"},"logprobs":null,"finish_reason":null}]}`, i)
}

// openAIStream returns n chunk events followed by "data: [DONE]".
func openAIStream(n int) []byte {
	var b []byte
	for i := range n {
		b = AppendData(b, openAIChunk(i))
	}
	return AppendDone(b)
}

// anthropicStream returns n content_block_delta events between the usual
// message_start and message_stop, with a ping.
func anthropicStream(n int) []byte {
	b := AppendEvent(nil, []byte("message_start"), []byte(`{"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-3-5-sonnet-20241022","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}`))
	b = AppendEvent(b, []byte("ping"), []byte(`{"type": "ping"}`))
	for i := range n {
		b = AppendEvent(b, []byte("content_block_delta"), fmt.Appendf(nil, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" tok%05d"}}`, i))
	}
	return AppendEvent(b, []byte("message_stop"), []byte(`{"type":"message_stop"}`))
}

// geminiStream returns n CRLF-terminated chunks as Gemini's ?alt=sse sends.
func geminiStream(n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, "data: "...)
		b = fmt.Appendf(b, `{"candidates": [{"content": {"parts": [{"text": " tok%05d"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 5,"candidatesTokenCount": %d,"totalTokenCount": %d},"modelVersion": "gemini-2.0-flash"}`, i, i+1, i+6)
		b = append(b, "\r\n\r\n"...)
	}
	return b
}

// eventReader returns one SSE event (up to and including "\n\n") per Read,
// the way events arrive from the network one flush at a time.
type eventReader struct {
	data []byte
}

func (e *eventReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, io.EOF
	}
	n := len(e.data)
	if i := bytes.Index(e.data, []byte("\n\n")); i >= 0 {
		n = i + 2
	}
	n = copy(p, e.data[:n])
	e.data = e.data[n:]
	return n, nil
}
