package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/spf13/cobra"
)

// defaultAdminServer is where the admin verbs look for a node's admin
// listener (listen.admin's default) when neither --server nor
// $TOLLGATE_ADMIN_SERVER names one. $TOLLGATE_SERVER is not used here:
// `tollgate models` reads it as the public API's URL, a different port.
const defaultAdminServer = "http://127.0.0.1:8081"

// adminFlags are the flags shared by the verbs that talk to a node's admin
// listener (keys, credits, accounts).
type adminFlags struct {
	server string
	key    string
	json   bool
}

func (f *adminFlags) register(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.server, "server", "", "admin listener URL (default $TOLLGATE_ADMIN_SERVER or "+defaultAdminServer+")")
	pf.StringVar(&f.key, "admin-key", "", "the node's admin_key (default $TOLLGATE_ADMIN_KEY)")
	pf.BoolVar(&f.json, "json", false, "print the node's JSON answer instead of a table")
}

// client resolves flags, then environment, then defaults.
func (f *adminFlags) client() (*adminClient, error) {
	server := f.server
	if server == "" {
		server = os.Getenv("TOLLGATE_ADMIN_SERVER")
	}
	if server == "" {
		server = defaultAdminServer
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http:// or https:// URL of the admin listener", server)
	}
	key := f.key
	if key == "" {
		key = os.Getenv("TOLLGATE_ADMIN_KEY")
	}
	if key == "" {
		return nil, fmt.Errorf("no admin key: pass --admin-key or set TOLLGATE_ADMIN_KEY")
	}
	return &adminClient{base: strings.TrimRight(server, "/"), key: key, hc: &http.Client{Timeout: 30 * time.Second}}, nil
}

// adminClient calls a node's /admin/v1 API.
type adminClient struct {
	base string
	key  string
	hc   *http.Client
}

// do sends body (JSON-encoded unless nil) and returns the answer's body;
// a non-2xx answer becomes an error carrying the node's message.
func (c *adminClient) do(ctx context.Context, method, path string, body any, hdr map[string]string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("cannot encode the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("cannot build the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("cannot read the answer of %s: %w", c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, e.Error.Message)
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// call runs do and, with --json, prints the raw answer; otherwise it
// decodes the answer into out for the caller to print.
func (c *adminClient) call(cmd *cobra.Command, f *adminFlags, method, path string, body any, hdr map[string]string, out any) (printed bool, err error) {
	b, err := c.do(cmd.Context(), method, path, body, hdr)
	if err != nil {
		return false, err
	}
	if f.json {
		w := cmd.OutOrStdout()
		_, err := w.Write(append(bytes.TrimSpace(b), '\n'))
		return true, err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return false, fmt.Errorf("cannot decode the answer of %s %s: %w", method, path, err)
		}
	}
	return false, nil
}

// accountPath is the admin path of an account given by name or id.
func accountPath(ref string) string { return "/admin/v1/accounts/" + url.PathEscape(ref) }

// dollars renders a USD JSON number ("12.5") as "$12.5".
func dollars(n json.Number) string {
	if n == "" {
		return "-"
	}
	if strings.HasPrefix(string(n), "-") {
		return "-$" + string(n[1:])
	}
	return "$" + string(n)
}
