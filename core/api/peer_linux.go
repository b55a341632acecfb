//go:build linux

package api

import (
	"net"
	"syscall"
)

// peerClosed reports whether the client closed its side of c, with a
// non-blocking MSG_PEEK read: 0 bytes and no error means EOF. Data waiting
// (a pipelined request) or EAGAIN mean the client is still there.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			closed = n == 0
		case err == syscall.EAGAIN, err == syscall.EINTR:
		default:
			closed = true
		}
		return true
	})
	return closed
}
