package sse

import (
	"errors"
	"io"
	"time"
)

// ErrDrainTimeout closes a body that Drain gave up on.
var ErrDrainTimeout = errors.New("sse: the stream did not end after its last event")

// Drain reads what is left of an event stream after its last event
// ([DONE], message_stop…): normally just the end of the HTTP chunked
// encoding, already received. An HTTP client (fasthttp's among them) pools
// a streamed response's connection only when its body was read to the end;
// closed earlier, the connection is dropped and the next stream dials (and
// over https handshakes) a new one.
//
// It reads at most limit bytes for at most wait. body must be closable from
// another goroutine (CloseWithError, as fasthttp's streamed bodies are),
// which is how a body that does not end is given up: it is then closed with
// ErrDrainTimeout. A body that is not closable is left alone.
func Drain(body io.Reader, limit int64, wait time.Duration) {
	rc, ok := body.(interface {
		io.Reader
		CloseWithError(error) error
	})
	if !ok {
		return
	}
	t := time.AfterFunc(wait, func() { _ = rc.CloseWithError(ErrDrainTimeout) })
	_, _ = io.CopyN(io.Discard, rc, limit)
	t.Stop()
}
