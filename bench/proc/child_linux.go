package proc

import "syscall"

// childAttr makes the kernel send the child SIGTERM when the thread that
// started it exits (see StartChild), and puts the child in its own process
// group, so that a Ctrl-C meant for the benchmark (which then stops,
// reports, and stops its children itself) does not kill it mid-round.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
}
