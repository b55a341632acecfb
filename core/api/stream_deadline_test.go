package api

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestStreamWriteDeadline: a client that stops reading does not block a
// stream write forever: the write times out, the client is marked gone, and
// the deadline is moved only when half of it is used.
func TestStreamWriteDeadline(t *testing.T) {
	client, server := net.Pipe() // nobody reads client: every write blocks
	defer client.Close()
	defer server.Close()
	st := &reqState{conn: server}

	done := make(chan struct{})
	go func() {
		st.mu.Lock()
		st.sendLocked(server, []byte("data: {}\n\n"), 200*time.Millisecond)
		st.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a write to a client that does not read was not cut by the deadline")
	}
	if !st.gone.Load() {
		t.Fatal("the client was not marked gone after the write timed out")
	}

	// A later write with the same timeout keeps the deadline while more than
	// half of it is left; a shorter timeout moves it at once.
	st.writeDeadline = time.Now().Add(time.Hour)
	first := st.writeDeadline
	go func() { _, _ = client.Read(make([]byte, 64)) }()
	st.sendLocked(server, []byte("x"), time.Hour)
	if !st.writeDeadline.Equal(first) {
		t.Fatal("the deadline moved although most of it was left")
	}
	go func() { _, _ = client.Read(make([]byte, 64)) }()
	st.sendLocked(server, []byte("y"), time.Minute)
	if d := time.Until(st.writeDeadline); d > time.Minute || d < 50*time.Second {
		t.Fatalf("a shorter timeout did not move the deadline: %v left", d)
	}
}

// blockingBody is an upstream body that never ends until it is closed;
// like fasthttp's, only its first close counts.
type blockingBody struct {
	closed chan struct{}
	err    error
	once   sync.Once
}

func (b *blockingBody) Read([]byte) (int, error) {
	<-b.closed
	return 0, b.err
}

func (b *blockingBody) CloseWithError(err error) error {
	b.once.Do(func() {
		b.err = err
		close(b.closed)
	})
	return nil
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestFlushPendingAbortsUpstream: when writing the batched frames finds the
// client gone, the upstream read the scanner is about to make is
// interrupted at once (a silent upstream would otherwise hold the stream,
// its reservation and the connection until its next event).
func TestFlushPendingAbortsUpstream(t *testing.T) {
	b := &blockingBody{closed: make(chan struct{})}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	resp.SetBodyStream(b, -1)
	st := &reqState{resp: resp, w: failingWriter{}}
	st.pend = append(st.pend, "data: {}\n\n"...)
	st.flushPending()
	if !st.gone.Load() {
		t.Fatal("client not marked gone")
	}
	select {
	case <-b.closed:
	default:
		t.Fatal("upstream read not interrupted")
	}
	if !errors.Is(b.err, errClientGone) || len(st.pend) != 0 {
		t.Fatalf("closed with %v, %d bytes still pending", b.err, len(st.pend))
	}
}
