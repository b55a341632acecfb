package sse

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// closableBody is a streamed body that can be closed from another
// goroutine; only its first close counts, as with fasthttp's.
type closableBody struct {
	r      io.Reader // nil: never ends until closed
	closed chan struct{}
	err    error
	once   sync.Once
}

func (b *closableBody) Read(p []byte) (int, error) {
	if b.r != nil {
		return b.r.Read(p)
	}
	<-b.closed
	return 0, b.err
}

func (b *closableBody) CloseWithError(err error) error {
	b.once.Do(func() {
		b.err = err
		close(b.closed)
	})
	return nil
}

// TestDrain: the rest of an ended body is read to its end without closing
// it; a body that does not end holds the caller about wait, then is closed
// with ErrDrainTimeout; reading stops at limit.
func TestDrain(t *testing.T) {
	rest := strings.NewReader("0\r\n\r\n")
	b := &closableBody{r: rest, closed: make(chan struct{})}
	Drain(b, 64, time.Minute)
	if rest.Len() != 0 || b.err != nil {
		t.Fatalf("ended body: %d bytes left, closed with %v", rest.Len(), b.err)
	}

	b = &closableBody{closed: make(chan struct{})}
	const wait = 50 * time.Millisecond
	t0 := time.Now()
	Drain(b, 64, wait)
	if d := time.Since(t0); d < wait || d > wait+2*time.Second {
		t.Fatalf("drain took %v, want about %v", d, wait)
	}
	if !errors.Is(b.err, ErrDrainTimeout) {
		t.Fatalf("body closed with %v", b.err)
	}

	long := strings.NewReader(strings.Repeat("x", 100))
	Drain(&closableBody{r: long, closed: make(chan struct{})}, 64, time.Minute)
	if long.Len() != 36 {
		t.Fatalf("read %d bytes with a limit of 64", 100-long.Len())
	}
}
