package load

import "time"

// pacer sleeps until given instants, for the open-loop dispatcher. Go's
// timers wake an idle process up to about a millisecond late, which would
// show up as latency (it is measured from the intended time), so the last
// stretch of each wait is a precise sleep (fineSleep: nanosleep on Linux,
// with the thread's timer slack at 1 ns). The coarse part, for gaps longer
// than coarseAbove, uses a timer so that cancellation is seen.
type pacer struct {
	timer *time.Timer
	done  <-chan struct{}
}

const (
	coarseAbove = 3 * time.Millisecond
	fineWindow  = 2 * time.Millisecond
)

// newPacer prepares the calling goroutine for precise sleeps; on Linux it
// locks the goroutine to its thread for good, so the goroutine must exit
// when pacing ends (the runtime then ends the thread, and its timer slack
// with it).
func newPacer(done <-chan struct{}) *pacer {
	preparePacerThread()
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &pacer{timer: t, done: done}
}

// sleepUntil returns true at t (or at once if t has passed), false if done
// was closed first.
func (p *pacer) sleepUntil(t time.Time) bool {
	for {
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		if d > coarseAbove {
			p.timer.Reset(d - fineWindow)
			select {
			case <-p.timer.C:
			case <-p.done:
				p.timer.Stop()
				return false
			}
			continue
		}
		fineSleep(d)
	}
}
