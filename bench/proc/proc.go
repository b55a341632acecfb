// Package proc handles the other processes of a benchmark: it samples the
// memory and CPU use of a target from /proc while a run goes on (`tollgate
// bench run --pid`; Linux only, elsewhere Start fails with
// ErrUnsupported), and starts helper processes that die with the benchmark
// (StartChild), so that a mock upstream or the floor proxy can run in its
// own process like the gateway it is compared with.
//
// Who imports it: cmd/tollgate and bench packages. It imports nothing of
// Tollgate's.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// ErrUnsupported is returned by Start where /proc is not Linux's.
var ErrUnsupported = errors.New("proc: process sampling needs Linux /proc")

// ticksPerSecond is USER_HZ, the unit of utime and stime in
// /proc/PID/stat: 100 on every Linux architecture Go supports (the kernel
// keeps it fixed for user space whatever its internal HZ).
const ticksPerSecond = 100

// Stats summarises the samples of one process.
type Stats struct {
	PID     int
	Samples int
	// RSS in bytes: the largest and the mean of the samples.
	RSSMax  int64
	RSSMean int64
	// CPU is the CPU time (user + system) used between the first and the
	// last sample; CPUPercent is CPU over that wall time (100 = one core).
	CPU        time.Duration
	CPUPercent float64
	// CPUPercentMax is the highest CPU use between two samples.
	CPUPercentMax float64
}

// Sample is one reading of /proc/PID/stat.
type Sample struct {
	At  time.Time
	RSS int64         // bytes
	CPU time.Duration // user + system, since the process started
}

// Read reads one sample of pid.
func Read(pid int) (Sample, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Sample{}, fmt.Errorf("proc: cannot read stat of %d: %w", pid, err)
	}
	return parseStat(b, time.Now(), int64(os.Getpagesize()))
}

// parseStat parses /proc/PID/stat: "pid (comm) state ppid …"; comm may
// hold spaces and parentheses, so fields are counted after the last ')'.
// utime and stime are fields 14 and 15, rss (pages) field 24.
func parseStat(b []byte, at time.Time, pageSize int64) (Sample, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Sample{}, errors.New("proc: malformed stat: no command name")
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state).
	const utime, stime, rss = 14 - 3, 15 - 3, 24 - 3
	if len(fields) <= rss {
		return Sample{}, fmt.Errorf("proc: malformed stat: %d fields", len(fields)+2)
	}
	num := func(k int) (int64, error) {
		v, err := strconv.ParseInt(string(fields[k]), 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("proc: malformed stat field %d: %q", k+3, fields[k])
		}
		return v, nil
	}
	u, err := num(utime)
	if err != nil {
		return Sample{}, err
	}
	s, err := num(stime)
	if err != nil {
		return Sample{}, err
	}
	pages, err := num(rss)
	if err != nil {
		return Sample{}, err
	}
	return Sample{
		At:  at,
		RSS: pages * pageSize,
		CPU: time.Duration(u+s) * time.Second / ticksPerSecond,
	}, nil
}

// Sampler reads a process every interval until Stop.
type Sampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples []Sample // guarded by mu
	err     error    // guarded by mu; the first read error after the first sample
}

// Start takes a first sample of pid at once (failing if the process cannot
// be read) and then one every interval (250 ms if zero).
func Start(pid int, interval time.Duration) (*Sampler, error) {
	if runtime.GOOS != "linux" {
		return nil, ErrUnsupported
	}
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	first, err := Read(pid)
	if err != nil {
		return nil, err
	}
	s := &Sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{}), samples: []Sample{first}}
	go s.loop(interval)
	return s, nil
}

func (s *Sampler) loop(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		smp, err := Read(s.pid)
		s.mu.Lock()
		if err != nil {
			if s.err == nil {
				s.err = err
			}
		} else {
			s.samples = append(s.samples, smp)
		}
		s.mu.Unlock()
		if err != nil {
			return // the process is gone
		}
	}
}

// Stop takes a last sample, ends the sampling and returns the summary.
// The error tells whether the process went away meanwhile; the Stats then
// cover the samples taken until it did.
func (s *Sampler) Stop() (Stats, error) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		if last, err := Read(s.pid); err == nil {
			s.samples = append(s.samples, last)
		} else {
			s.err = err
		}
	}
	return summarize(s.pid, s.samples), s.err
}

func summarize(pid int, ss []Sample) Stats {
	st := Stats{PID: pid, Samples: len(ss)}
	if len(ss) == 0 {
		return st
	}
	var sum int64
	for i, smp := range ss {
		sum += smp.RSS
		st.RSSMax = max(st.RSSMax, smp.RSS)
		if i > 0 {
			if wall := smp.At.Sub(ss[i-1].At); wall > 0 {
				st.CPUPercentMax = max(st.CPUPercentMax, 100*float64(smp.CPU-ss[i-1].CPU)/float64(wall))
			}
		}
	}
	st.RSSMean = sum / int64(len(ss))
	first, last := ss[0], ss[len(ss)-1]
	st.CPU = last.CPU - first.CPU
	if wall := last.At.Sub(first.At); wall > 0 {
		st.CPUPercent = 100 * float64(st.CPU) / float64(wall)
	}
	return st
}
