package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestScanner(t *testing.T) {
	f := func(in string, wantErr error, want ...string) {
		t.Helper()
		checkScan(t, in, 0, wantErr, want)
	}

	// Empty and blank input.
	f("", nil)
	f("\n\n\r\n\r", nil)

	// Line endings: LF, CRLF, CR and mixes.
	f("data: a\n\n", nil, `"a"`)
	f("data: a\r\n\r\n", nil, `"a"`)
	f("data: a\r\r", nil, `"a"`)
	f("data: a\r\ndata: b\rdata: c\n\n", nil, `"a\nb\nc"`)
	f("data: a\n\r\n", nil, `"a"`)
	f("data: a\r\r\n", nil, `"a"`)
	f("data: a\n\r\rdata: b\n\n", nil, `"a"`, `"b"`)
	f("\r\n\r\ndata: a\r\n\r\ndata: b\r\n\r\n", nil, `"a"`, `"b"`)
	f("\n\n\r\rdata: a\n\n", nil, `"a"`)

	// Field syntax: one optional space stripped, no colon means empty value.
	f("data:a\n\n", nil, `"a"`)
	f("data:  a\n\n", nil, `" a"`)
	f("data:\ta\n\n", nil, `"\ta"`)
	f("data: a:b: c\n\n", nil, `"a:b: c"`)
	f("data\n\n", nil, `""`)
	f("data:\n\n", nil, `""`)
	f("data: \n\n", nil, `""`)
	f("data:\ndata:\n\n", nil, `"\n"`)
	f("data : a\n\n", nil)
	f("Data: a\n\n", nil)
	f("foo: bar\ndata: a\nDATA: b\nfoo\n\n", nil, `"a"`)

	// Multi-line data.
	f("data: {\ndata:   \"a\": 1\ndata: }\n\n", nil, `"{\n  \"a\": 1\n}"`)
	f("data: a\n: note\ndata: b\n\ndata: c\n\n", nil, `"a\nb" comments=1`, `"c"`)
	f("data: one\n\ndata: x\ndata: y\n\ndata: two\n\n", nil, `"one"`, `"x\ny"`, `"two"`)

	// Event names: last one wins, reset after each block.
	f("event: add\ndata: 1\n\n", nil, `"1" name="add"`)
	f("event: a\nevent: b\ndata: 1\n\n", nil, `"1" name="b"`)
	f("event: a\nevent:\ndata: 1\n\n", nil, `"1"`)
	f("event: a\ndata: 1\n\ndata: 2\n\n", nil, `"1" name="a"`, `"2"`)
	f("event: a\n\ndata: 2\n\n", nil, `"2"`)
	f("data: 1\nevent: late\n\n", nil, `"1" name="late"`)

	// IDs persist across events, an empty id clears, NUL is ignored.
	f("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", nil, `"a" id="1"`, `"b" id="1"`, `"c"`)
	f("id: 1\n\nid: a\x00b\ndata: x\n\n", nil, `"x" id="1"`)
	f("id: 1\nid: 2\ndata: x\n\n", nil, `"x" id="2"`)

	// Retry persists; invalid values are ignored; overflow saturates.
	f("retry: 1500\ndata: a\n\nretry: x1\ndata: b\n\nretry:\ndata: c\n\nretry: 1 0\ndata: d\n\n", nil,
		`"a" retry=1500`, `"b" retry=1500`, `"c" retry=1500`, `"d" retry=1500`)
	f("retry: 0\n\ndata: a\n\n", nil, `"a" retry=0`)
	f("retry: -5\ndata: a\n\n", nil, `"a"`)
	f("retry: 99999999999999999999999\ndata: a\n\n", nil, `"a" retry=`+strconv.Itoa(math.MaxInt))

	// Comments and keep-alives.
	f(": x\n\n", nil)
	f(":\n\n:\n", nil)
	f(": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\ndata: a\n\ndata: b\n\n", nil, `"a" comments=2`, `"b"`)
	f(":data: a\n\n", nil)

	// BOM: one leading BOM is skipped, only at the start.
	f("\xEF\xBB\xBFdata: a\n\n", nil, `"a"`)
	f("\xEF\xBB\xBF\ndata: a\n\n", nil, `"a"`)
	f("\xEF\xBB\xBF", nil)
	f("\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n", nil)
	f("data: a\n\n\xEF\xBB\xBFdata: b\n\n", nil, `"a"`)
	f("\xEF\xBB", io.ErrUnexpectedEOF)
	f("\xEFdata: a\n\n", nil)

	// End of stream: right after a line ending, a pending event with data
	// is delivered; inside a line, the line and its event are dropped and
	// the cut is reported.
	f("data: [DONE]\n", nil, `"[DONE]"`)
	f("data: [DONE]\r", nil, `"[DONE]"`)
	f("data: [DONE]\r\n", nil, `"[DONE]"`)
	f("data: a\ndata: b\n", nil, `"a\nb"`)
	f("data: a\n\ndata: [DONE]", io.ErrUnexpectedEOF, `"a"`)
	f("data: a\ndata: b", io.ErrUnexpectedEOF)
	f("data: a\n: c\n", nil, `"a" comments=1`)
	f("data: a\n: c", io.ErrUnexpectedEOF)
	f("data: a\n\n: c", io.ErrUnexpectedEOF, `"a"`)
	f("event: x\n", nil)
	f(": ping", io.ErrUnexpectedEOF)
	f("data: a\n\n\n", nil, `"a"`)

	// Real streams.
	f("data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n: OPENROUTER PROCESSING\n\ndata: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\ndata: [DONE]\n\n", nil,
		`"{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}"`,
		`"{\"choices\":[],\"usage\":{\"total_tokens\":3}}" comments=1`,
		`"[DONE]"`)
	f("event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", nil,
		`"{\"type\":\"message_start\"}" name="message_start"`,
		`"{\"type\": \"ping\"}" name="ping"`,
		`"{\"type\":\"message_stop\"}" name="message_stop"`)
	f("data: {\"candidates\": []}\r\n\r\ndata: {\"usageMetadata\": {}}\r\n\r\n", nil,
		`"{\"candidates\": []}"`, `"{\"usageMetadata\": {}}"`)
}

func TestScannerMaxEvent(t *testing.T) {
	f := func(in string, maxEvent int, wantErr error, want ...string) {
		t.Helper()
		checkScan(t, in, maxEvent, wantErr, want)
	}

	// The limit counts the event's lines with their line endings, not the
	// blank line that dispatches it. "data: 0123456789\n" is 17 bytes.
	f("data: 0123456789\n\n", 17, nil, `"0123456789"`)
	f("data: 0123456789\n\n", 16, ErrEventTooLarge)
	f("data: 0123456789\r\n\r\n", 18, nil, `"0123456789"`)
	f("data: 0123456789\r\n\r\n", 17, ErrEventTooLarge)
	f("data: a\n\ndata: 0123456789\n\n", 16, ErrEventTooLarge, `"a"`)
	f("data: 0123456789", 15, ErrEventTooLarge)
	f("data: 0123456789", 16, io.ErrUnexpectedEOF)

	// Comment-only blocks are dropped, so they do not add up across blocks.
	f(": 0123456789\n\n: 0123456789\n\ndata: a\n\n", 16, nil, `"a" comments=2`)
	// Comments inside the event do count.
	f(": 0123456789\ndata: a\n\n", 16, ErrEventTooLarge)
}

func TestScannerLargeEvents(t *testing.T) {
	line := bytes.Repeat([]byte("x"), 1<<20)
	var multi []byte
	for i := range 1000 {
		multi = strconv.AppendInt(multi, int64(i), 10)
		multi = append(multi, bytes.Repeat([]byte("y"), 3000)...)
		multi = append(multi, '\n')
	}
	multi = multi[:len(multi)-1]

	var in []byte
	in = AppendData(in, []byte("small"))
	in = AppendData(in, line)
	in = AppendEvent(in, []byte("multi"), multi)
	in = AppendData(in, []byte("small"))

	for _, nr := range []namedReader{
		{"whole", bytes.NewReader(in)},
		{"one-byte", iotest.OneByteReader(bytes.NewReader(in))},
		{"half", iotest.HalfReader(bytes.NewReader(in))},
	} {
		s := NewScanner(nr.r, 0)
		var got [][]byte
		for s.Next() {
			got = append(got, bytes.Clone(s.Event().Data))
		}
		if err := s.Err(); err != nil {
			t.Fatalf("%s: unexpected error: %v", nr.name, err)
		}
		want := [][]byte{[]byte("small"), line, multi, []byte("small")}
		if len(got) != len(want) {
			t.Fatalf("%s: got %d events, want %d", nr.name, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s: event %d: got %d bytes, want %d", nr.name, i, len(got[i]), len(want[i]))
			}
		}
	}

	// Past the limit the scanner stops with ErrEventTooLarge, and stays
	// stopped.
	s := NewScanner(bytes.NewReader(in), 1<<20)
	if !s.Next() || string(s.Event().Data) != "small" {
		t.Fatalf("first event not delivered")
	}
	if s.Next() {
		t.Fatalf("oversized event delivered")
	}
	if err := s.Err(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("unexpected error: %v", err)
	}
	if s.Next() {
		t.Fatalf("Next returned true after an error")
	}
}

// errAfterReader returns data, then err.
type errAfterReader struct {
	data []byte
	err  error
}

func (e *errAfterReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

type funcReader func(p []byte) (int, error)

func (f funcReader) Read(p []byte) (int, error) { return f(p) }

func TestScannerReadErrors(t *testing.T) {
	boom := errors.New("boom")
	f := func(r io.Reader, wantErr error, want ...string) {
		t.Helper()
		got, err := scanAll(NewScanner(nil, 0), r)
		if !equalStrings(got, want) {
			t.Fatalf("unexpected events\ngot  %q\nwant %q", got, want)
		}
		if !errors.Is(err, wantErr) {
			t.Fatalf("unexpected error: got %v, want %v", err, wantErr)
		}
		if err == wantErr || !strings.HasPrefix(err.Error(), "sse: cannot read event stream: ") {
			t.Fatalf("read error not wrapped: %v", err)
		}
	}

	// Complete events before the error are delivered; the pending one is not.
	f(&errAfterReader{data: []byte("data: a\n\ndata: b\n"), err: boom}, boom, `"a"`)
	f(iotest.OneByteReader(&errAfterReader{data: []byte("data: a\n\ndata: b\n"), err: boom}), boom, `"a"`)
	f(iotest.ErrReader(boom), boom)
	f(iotest.TimeoutReader(strings.NewReader("data: a\r\n\r\ndata: b")), iotest.ErrTimeout, `"a"`)
	// An upstream that cut a chunked body reports io.ErrUnexpectedEOF
	// itself; it is wrapped like any read error.
	f(&errAfterReader{data: []byte("data: a\n\n"), err: io.ErrUnexpectedEOF}, io.ErrUnexpectedEOF, `"a"`)

	// A reader that never makes progress.
	f(funcReader(func([]byte) (int, error) { return 0, nil }), io.ErrNoProgress)

	// A reader that returns an impossible count.
	s := NewScanner(funcReader(func(p []byte) (int, error) { return len(p) + 1, nil }), 0)
	if s.Next() {
		t.Fatalf("unexpected event")
	}
	if err := s.Err(); err == nil || !errors.Is(err, errInvalidCount) {
		t.Fatalf("unexpected error: %v", err)
	}
}

func TestScannerReset(t *testing.T) {
	s := NewScanner(strings.NewReader("\xEF\xBB\xBFid: 7\nretry: 100\nevent: e\ndata: a\ndata: b\n\ndata: trunc"), 0)
	if !s.Next() {
		t.Fatalf("no event: %v", s.Err())
	}
	if got, want := viewOf(s.Event()).String(), `"a\nb" name="e" id="7" retry=100`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if s.Next() || s.Err() != io.ErrUnexpectedEOF {
		t.Fatalf("want io.ErrUnexpectedEOF, got %v", s.Err())
	}

	// Reset clears the error and the stream state (id, retry, BOM).
	for range 3 {
		got, err := scanAll(s, strings.NewReader("\xEF\xBB\xBFdata: x\n\ndata: y\ndata: z\n\n"))
		if err != nil {
			t.Fatalf("unexpected error after Reset: %v", err)
		}
		if want := []string{`"x"`, `"y\nz"`}; !equalStrings(got, want) {
			t.Fatalf("after Reset: got %q, want %q", got, want)
		}
	}

	// Reset in the middle of a stream drops what was buffered.
	s.Reset(strings.NewReader("data: 1\n\ndata: 2\n\n"))
	if !s.Next() {
		t.Fatalf("no event")
	}
	got, err := scanAll(s, strings.NewReader("data: 3\n\n"))
	if err != nil || !equalStrings(got, []string{`"3"`}) {
		t.Fatalf("mid-stream Reset: got %q, %v", got, err)
	}

	// A zero Scanner works after Reset, with the default limit.
	var z Scanner
	got, err = scanAll(&z, strings.NewReader("data: zero\n\n"))
	if err != nil || !equalStrings(got, []string{`"zero"`}) {
		t.Fatalf("zero Scanner: got %q, %v", got, err)
	}
	if z.maxEvent != DefaultMaxEvent {
		t.Fatalf("zero Scanner limit: got %d, want %d", z.maxEvent, DefaultMaxEvent)
	}

	// Buffers that grew past maxRetainedBuf are released by Reset.
	big := AppendData(nil, bytes.Repeat([]byte("a\n"), maxRetainedBuf))
	got, err = scanAll(s, bytes.NewReader(big))
	if err != nil || len(got) != 1 {
		t.Fatalf("big event: %d events, %v", len(got), err)
	}
	s.Reset(nil)
	if s.buf != nil || s.dataBuf != nil {
		t.Fatalf("Reset kept buffers of %d and %d bytes", cap(s.buf), cap(s.dataBuf))
	}
}

func TestScannerEventFields(t *testing.T) {
	s := NewScanner(strings.NewReader("data: a\n\nevent:\nid:\ndata: b\n\nevent: e\nid: i\ndata: c\ndata: d\n\n"), 0)

	// Absent fields are nil.
	if !s.Next() {
		t.Fatalf("no event")
	}
	ev := s.Event()
	if ev.Name != nil || ev.ID != nil || ev.Retry != -1 || ev.Comments != 0 {
		t.Fatalf("unexpected defaults: %+v", ev)
	}
	// Appending to a returned slice must not overwrite the scanner's buffer.
	_ = append(ev.Data, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)

	// Empty event and id values read as absent.
	if !s.Next() {
		t.Fatalf("no event")
	}
	ev = s.Event()
	if string(ev.Data) != "b" || ev.Name != nil || ev.ID != nil {
		t.Fatalf("unexpected event: %+v", ev)
	}

	if !s.Next() {
		t.Fatalf("no event")
	}
	ev = s.Event()
	if string(ev.Data) != "c\nd" || string(ev.Name) != "e" || string(ev.ID) != "i" {
		t.Fatalf("unexpected event: %q %q %q", ev.Data, ev.Name, ev.ID)
	}
	for _, b := range [][]byte{ev.Data, ev.Name, ev.ID} {
		if cap(b) != len(b) {
			t.Fatalf("slice %q has spare capacity %d", b, cap(b)-len(b))
		}
	}
	if s.Next() || s.Err() != nil {
		t.Fatalf("unexpected end: %v", s.Err())
	}
}

// TestScannerDoesNotWaitForMoreInput checks that a complete event is returned
// without another Read, including one dispatched by a CR whose LF has not
// arrived: a relay must not hold a token until the next one comes.
func TestScannerDoesNotWaitForMoreInput(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	s := NewScanner(pr, 0)
	type result struct {
		ok   bool
		data string
	}
	results := make(chan result)
	go func() {
		defer close(results)
		for s.Next() {
			results <- result{true, string(s.Event().Data)}
		}
		results <- result{false, ""}
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case r := <-results:
			if !r.ok || r.data != want {
				t.Fatalf("got %+v, want %q", r, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Next blocked waiting for input it does not need (want %q)", want)
		}
	}
	for _, step := range []struct{ write, want string }{
		{"data: a\n\n", "a"},
		{"data: b\r\n\r", "b"},
		{"\ndata: c\r\r", "c"},
		{"\xEF\xBB\xBFdata: d\n\ndata: e\n\n", ""},
	} {
		if _, err := pw.Write([]byte(step.write)); err != nil {
			t.Fatalf("cannot write: %v", err)
		}
		if step.want != "" {
			expect(step.want)
		}
	}
	// A BOM after the start is part of a field name, so "d" is dropped.
	expect("e")
	pw.Close()
	if r := <-results; r.ok {
		t.Fatalf("unexpected event %q", r.data)
	}
	if _, ok := <-results; ok {
		t.Fatalf("scanner goroutine did not stop")
	}
	if err := s.Err(); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func TestIsDone(t *testing.T) {
	f := func(in string, want bool) {
		t.Helper()
		if got := IsDone([]byte(in)); got != want {
			t.Fatalf("IsDone(%q) = %v, want %v", in, got, want)
		}
	}
	f("[DONE]", true)
	f(string(Done), true)
	f("", false)
	f("[DONE] ", false)
	f(" [DONE]", false)
	f("[done]", false)
	f(`{"choices":[]}`, false)
}

// countingReader returns one chunk per Read.
type countingReader struct {
	chunks []string
	reads  int
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.reads == len(r.chunks) {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[r.reads])
	r.reads++
	return n, nil
}

// TestScannerBeforeRead: the hook runs before each read and only then, so
// events that arrived in one read are all delivered between two calls.
func TestScannerBeforeRead(t *testing.T) {
	r := &countingReader{chunks: []string{"data: a\n\ndata: b\n\n: ping\n\ndata: c\n", "\ndata: d\n\n"}}
	s := NewScanner(r, 0)
	var log []string
	s.BeforeRead(func() { log = append(log, fmt.Sprintf("read%d", r.reads+1)) })
	for s.Next() {
		log = append(log, string(s.Event().Data))
	}
	want := "read1 a b read2 c d read3"
	if got := strings.Join(log, " "); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	s.Reset(&countingReader{chunks: []string{"data: x\n\n"}})
	n := 0
	for s.Next() {
		n++
	}
	if n != 1 || len(log) < 7 {
		t.Fatalf("after Reset: %d events, hook calls %v", n, log)
	}
}
