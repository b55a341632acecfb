package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Child is a helper process a benchmark started (a mock upstream, a
// floor proxy), so that every hop of the measured path crosses a process
// boundary as it does in a deployment. On Linux the kernel sends it
// SIGTERM if this process dies first, so it never outlives the benchmark.
type Child struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // valid once exited is closed
}

// StartChild runs path with args and reads its stdout until ready accepts
// a line (within timeout), returning what ready extracted from it (e.g.
// the URL it listens on). Later stdout is discarded; stderr is passed
// through.
func StartChild(path string, args []string, timeout time.Duration, ready func(line string) (string, bool)) (*Child, string, error) {
	cmd := exec.Command(path, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = childAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", fmt.Errorf("proc: cannot start %s: %w", path, err)
	}
	c := &Child{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	found := make(chan string, 1)
	// One goroutine starts the child, reads its stdout and waits for it.
	// It keeps its OS thread locked meanwhile: Linux sends the parent-death
	// signal when the thread that forked the child exits, and the Go
	// runtime ends locked threads whose goroutine exits (the load
	// generator's pacer does), so the forking thread must outlive the child.
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("proc: cannot start %s: %w", path, err)
			return
		}
		started <- nil
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if sent {
				continue
			}
			if v, ok := ready(sc.Text()); ok {
				found <- v
				sent = true
			}
		}
		if !sent {
			close(found)
		}
		_, _ = io.Copy(io.Discard, out)
		c.err = cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return nil, "", err
	}
	select {
	case v, ok := <-found:
		if ok {
			return c, v, nil
		}
		<-c.exited
		return nil, "", fmt.Errorf("proc: %s exited before it was ready: %v", path, c.err)
	case <-time.After(timeout):
		_ = c.Stop()
		return nil, "", fmt.Errorf("proc: %s not ready after %v", path, timeout)
	}
}

// PID is the child's process id.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Stop sends SIGTERM, waits up to five seconds for the child to exit, then
// kills it. It returns nil when the child exited on the signal.
func (c *Child) Stop() error {
	select {
	case <-c.exited:
		return c.exitErr()
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return c.exitErr()
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return errors.New("proc: child did not stop on SIGTERM and was killed")
	}
}

func (c *Child) exitErr() error {
	var ee *exec.ExitError
	if errors.As(c.err, &ee) && !ee.Exited() {
		return nil // ended by our signal
	}
	return c.err
}
