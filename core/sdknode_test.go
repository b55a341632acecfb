//go:build unix

package core_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sdkNodeTimeout bounds the whole Node suite; the 429 cases wait out
// Retry-After, the rest take milliseconds each.
const sdkNodeTimeout = 6 * time.Minute

// TestSDKNode runs the JavaScript SDK conformance suite in test/sdk
// (openai-node, @anthropic-ai/sdk, the Vercel AI SDK with
// @openrouter/ai-sdk-provider, @ai-sdk/openai-compatible and @ai-sdk/openai,
// LangChain JS) with
// `node --test` against a gateway in front of mocks of all three wire
// protocols. It skips when node or test/sdk/node_modules is missing (run
// `make sdk-deps`), unless TOLLGATE_REQUIRE_NODE=1, as in CI.
func TestSDKNode(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "test", "sdk"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	}
	if err != nil {
		msg := "the Node SDK suite needs node and test/sdk/node_modules (run `make sdk-deps`): " + err.Error()
		if os.Getenv("TOLLGATE_REQUIRE_NODE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	e := newSDKEnv(t)

	ctx, cancel := context.WithTimeout(context.Background(), sdkNodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"NO_COLOR=1",
		"TOLLGATE_BASE_URL="+e.api+"/api/v1",
		"TOLLGATE_ROOT_URL="+e.api,
		"TOLLGATE_KEY="+testKey,
		"TOLLGATE_BROKE_KEY="+e.brokeKey,
	)
	// node --test runs each file in a child process: kill the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logLines(t, out) // until node and its children close the pipe
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("node --test did not finish within %v", sdkNodeTimeout)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("node --test failed (exit %d); its report is above", exit.ExitCode())
	}
	if err != nil {
		t.Fatal(err)
	}
}

// logLines copies r to t.Log line by line, as the lines come.
func logLines(t *testing.T, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		t.Log(strings.TrimRight(sc.Text(), " \r"))
	}
}
