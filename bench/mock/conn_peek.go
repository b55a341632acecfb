//go:build linux || darwin || freebsd || netbsd || openbsd

package mock

import (
	"errors"
	"net"
	"syscall"
)

// clientGone reports whether the peer has closed or reset c. It peeks at the
// socket without consuming and without blocking, so it is safe while the
// server goroutine is writing to the same connection. fasthttp does not tell
// a handler that its client left (RequestCtx.Done is for server shutdown),
// and a silent stream has no write to fail, hence the poll.
func clientGone(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			// Bytes pending: a pipelined request, the client is there.
		case rerr == nil:
			gone = true // orderly shutdown (FIN)
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EWOULDBLOCK), errors.Is(rerr, syscall.EINTR):
		default:
			gone = true // ECONNRESET and friends
		}
		return true
	})
	return err != nil || gone
}
