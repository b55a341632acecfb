//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package mock

import "net"

// clientGone cannot peek on this platform; a departed client is noticed when
// a write fails.
func clientGone(net.Conn) bool { return false }
