//go:build !linux

package load

import "time"

func preparePacerThread() {}

// fineSleep falls back to time.Sleep: outside Linux the open-loop lag can
// reach a millisecond (it is reported as the lag metric).
func fineSleep(d time.Duration) { time.Sleep(d) }
