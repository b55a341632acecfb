package load

import (
	"runtime"
	"syscall"
	"time"
)

// prSetTimerSlack is PR_SET_TIMERSLACK from <linux/prctl.h>.
const prSetTimerSlack = 29

func preparePacerThread() {
	runtime.LockOSThread()
	// The default slack of 50 µs is added to every nanosleep; 1 ns makes
	// the wake-up as precise as the kernel's high-resolution timers allow.
	// The setting dies with the thread (see newPacer).
	_, _, _ = syscall.RawSyscall6(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0, 0, 0, 0)
}

// fineSleep blocks the thread in nanosleep; the runtime hands its P to
// other goroutines meanwhile.
func fineSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil)
}
